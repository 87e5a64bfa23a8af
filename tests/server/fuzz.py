"""Schemathesis against the served OpenAPI document (``tests/server/test_fuzz.py`` and the bench).

Every operation of ``/openapi.json`` is fuzzed in-process (ASGI) with the cases schemathesis
makes from the document: its explicit examples, its coverage cases (boundaries, missing and
wrong-typed fields) and Hypothesis-generated data, valid and invalid. Each case is sent with the
token of a role the operation's ``x-roles`` allows (rotating over them), so it reaches the
handler instead of bouncing on 403; public operations get none. Each response must pass the
checks in ``CHECKS``; every case of an operation that takes a token is also sent without one and
with a wrong one, which must both be answered 401 (``ignored_auth`` does the same for the cases
that were accepted). Fields that name things (sites, movements, people) often name ones the demo
operation knows (``IDENTIFIERS``), so that commands get past "unknown movement" into the rules.
``HOSTILE_BODIES`` adds what schemathesis never sends: bodies that are not JSON, or nested
thousands deep. Failures are tallied, not raised, so one run counts them all (the test asserts
there are none; the bench prints the counts). Schemathesis' internals used here
(``build_operation_test``, to get its examples and coverage phases as well as its generated
cases, outside its pytest plugin) are private: an upgrade may move them.
"""

from __future__ import annotations

import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test
from schemathesis.python._constants.orchestrator import make_constants_value_source
from schemathesis.python.asgi import ASGIClient
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from safepassage.app.persons import NewPerson, Registered
from safepassage.server.app import create_app
from safepassage.server.service import Service
from safepassage.vault.store import PersonalData
from tests.demo import unlocked_copy
from tests.server.conftest import ACCOUNTS, make_accounts

__all__ = [
    "CHECKS",
    "LAST",
    "Fuzzed",
    "Tally",
    "fuzz_operation",
    "fuzzed_demo",
    "hostile_bodies",
    "operations",
    "takes_body",
]

CHECKS: dict[str, tuple[str, Callable[..., Any]]] = {
    "not_a_server_error": ("server error", not_a_server_error),
    "status_code_conformance": ("schema violation", status_code_conformance),
    "content_type_conformance": ("schema violation", content_type_conformance),
    "response_schema_conformance": ("schema violation", response_schema_conformance),
    "response_headers_conformance": ("schema violation", response_headers_conformance),
    "negative_data_rejection": ("invalid data accepted", negative_data_rejection),
    "ignored_auth": ("auth failure", ignored_auth),
}
"""The checks every response must pass, each with the kind of failure it counts as. Left out:
``positive_data_acceptance`` (it expects 2xx for any schema-valid request, but most well-typed
random commands are rightly refused by the operation's rules with 409: an unknown movement, a
site declared twice, a person who is not registered), ``max_response_time`` (timing is the
bench's business, not a conformance check), and the stateful checks (``use_after_free``,
``ensure_resource_availability``, ``object_level_authorization``), which need links between
operations the document does not declare."""

ROLE_ACCOUNTS: dict[str, tuple[str, ...]] = {
    "coordinator": ("coordinator",),
    "facilitator": ("facilitator",),
    "registrar": ("registrar",),
    "party-liaison": ("party-liaison", "other-liaison"),
    "observer": ("observer",),
}
"""Role in ``x-roles`` -> the accounts of ``tests/server/conftest.py`` that have it."""

IDENTIFIERS: dict[str, tuple[str, ...]] = {
    "sites": ("body.site", "body.destination", "body.sites[*]", "query.site"),
    "routes": ("body.route",),
    "pauses": ("body.pause",),
    "vehicles": ("body.vehicle", "body.vehicles[*]"),
    "movements": ("body.movement",),
    "persons": ("body.person", "path.ref"),
    "households": ("body.household",),
    "parties": ("body.party", "body.controlled_by", "body.operated_by"),
    "actors": ("body.actor",),
    "incidents": ("body.incident",),
    "submissions": ("body.submission_id",),
}
"""Which fields draw, half of the time, from the identifiers the demo operation knows (the rest
of the time from the schema alone): random slugs name no site or movement, so without them
nearly every command would stop at the first rule (``unknown movement``) and the handlers'
deeper paths would never run."""


def config_for(state: Any, keep: set[str]) -> Any:
    """Schemathesis' defaults (no ``schemathesis.toml`` is looked for) with two changes.

    It does not make up the ``Authorization`` header: each case is sent with a real token, and
    without one or with a wrong one as probes; a generated header would only be overridden (and
    negative cases that "drop" it would be counted as invalid data the server accepted). And
    the fields of ``IDENTIFIERS`` often name things the operation knows; the actors of
    ``keep`` (the accounts' own) are left out, so the fuzzer never revokes the keys it signs
    with."""
    known = {
        "sites": state.sites, "routes": state.routes, "pauses": state.pauses,
        "vehicles": state.vehicles, "movements": state.movements, "persons": state.persons,
        "households": {p.household for p in state.persons.values()},
        "parties": [*state.parties, state.coordinator],
        "actors": [a for a in state.actors if a not in keep], "incidents": state.incidents,
        "submissions": [SUBMISSION],
    }  # fmt: skip
    dictionaries = {name: {"values": sorted(values)} for name, values in known.items() if values}
    parameters = {
        key: {"dictionary": name, "probability": 0.5}
        for name, keys in IDENTIFIERS.items() if name in dictionaries
        for key in keys
    }  # fmt: skip
    return schemathesis.Config.from_dict({
        "generation": {"with-security-parameters": False},
        "dictionaries": dictionaries,
        "parameters": parameters,
    })  # fmt: skip


SUBMISSION = "fuzz-known-submission"
"""A form already registered (by ``fuzzed_demo``): a registration that sends it again is answered
with the person it registered, ``already_registered``."""

WRONG_TOKEN = "spt_" + "W" * 43


@dataclass
class Fuzzed:
    """The demo operation served in-process, its schema as schemathesis loaded it, the tokens."""

    service: Service
    app: FastAPI
    schema: Any  # schemathesis' OpenApiSchema
    tokens: dict[str, str]
    client: ASGIClient


@contextmanager
def fuzzed_demo(template: Path, directory: Path) -> Iterator[Fuzzed]:
    """A copy of the demo operation at ``template`` in ``directory``, served to the fuzzer."""
    service = unlocked_copy(template, directory)
    try:
        tokens = make_accounts(service)
        known = NewPerson(household="H-fuzz-known", site="azovstal", age_band="18-59",
                          sex="female", destination="zaporizhzhia", submission_id=SUBMISSION,
                          data=PersonalData("Known", "Submission"))  # fmt: skip
        [registered] = service.writer.register([known], "icrc/registrar-1").result()
        assert isinstance(registered, Registered), registered
        app = create_app(service)
        actors = {actor for _, _, actor in ACCOUNTS.values()}
        config = config_for(service.state(), actors)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
        with schemathesis.python.asgi.get_client(app) as client:
            yield Fuzzed(service, app, schema, tokens, client)
    finally:
        service.close()


LAST = ("POST", "/api/v1/operation/closure")
"""Fuzzed last: once the operation is closed, every command is refused whatever its body."""


def operations(schema: Any) -> list[tuple[str, str]]:
    """Every (METHOD, path) of the document, in its order but for ``LAST``."""
    found = [(method.upper(), path) for path, item in schema.raw_schema["paths"].items()
             for method in item]  # fmt: skip
    return sorted(found, key=lambda key: key == LAST)


@dataclass
class Tally:
    """What one operation's fuzzing met."""

    label: str
    examples: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    """Kind of failure (the values of ``CHECKS``, and ``auth failure``) -> how many cases."""
    messages: list[str] = field(default_factory=list)
    """The first few failures, in full (with a curl command to replay them)."""
    seconds: float = 0.0
    inputs: bool = True
    """Whether the operation takes any parameter or body: one that takes none has one request to
    make (and the coverage phase's other methods), and Hypothesis stops when it has made it."""

    def add_failure(self, kind: str, message: str) -> None:
        self.failures[kind] += 1
        if len(self.messages) < 5:
            self.messages.append(f"[{kind}] {message}")

    def handled(self) -> int:
        """Answers only the handler gives: accepted (2xx), or refused by the operation's rules
        (409). A fuzzer that only ever met 401, 403, 405 or 422 tested nothing behind them."""
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300 or status == 409)

    def line(self) -> str:
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))
        return f"{self.label}: {self.examples} cases ({statuses}) in {self.seconds:.1f} s"


def settings(examples: int) -> hypothesis.settings:
    """Reproducible (derandomized, no example database) and patient: no deadline, and none of
    the health checks about slow or large generation (requests go through the whole server)."""
    return hypothesis.settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
        phases=(Phase.explicit, Phase.generate),  # failures are tallied, never raised: no shrink
        verbosity=hypothesis.Verbosity.quiet,
        print_blob=False,
    )


def fuzz_operation(fuzzed: Fuzzed, method: str, path: str, examples: int) -> Tally:
    """Fuzz one operation with ``examples`` generated cases (plus explicit and coverage ones)."""
    operation = fuzzed.schema[path][method]
    fuzzer = _Fuzzer(fuzzed, operation)
    test = build_operation_test(
        config=fuzzed.schema.config,
        operation=operation,
        test_func=fuzzer.one,
        given_kwargs={},
        feedback=FeedbackSources(constants_value_source=make_constants_value_source(fuzzed.schema)),
        explicit_settings=settings(examples),
    )
    start = time.perf_counter()
    test()
    fuzzer.tally.seconds = time.perf_counter() - start
    return fuzzer.tally


class _Fuzzer:
    """Sends one operation's cases, checks the answers, counts what it met."""

    def __init__(self, fuzzed: Fuzzed, operation: Any) -> None:
        self.fuzzed = fuzzed
        self.operation = operation
        raw = operation.definition.raw
        roles = raw["x-roles"]
        self.accounts = [] if roles == ["public"] else [a for r in roles for a in ROLE_ACCOUNTS[r]]
        self.tally = Tally(
            operation.label, inputs=bool(raw.get("parameters") or raw.get("requestBody"))
        )
        self.checks = [check for _, check in CHECKS.values()]

    def send(self, case: Any, headers: dict[str, str]) -> Any:
        try:
            return case.call(session=self.fuzzed.client, headers=headers)
        except Exception:  # noqa: BLE001 - in-process, the server's exception reaches the client
            self.tally.add_failure("server error", _crash(case, headers))
            return None

    def one(self, case: Any) -> None:
        """The test Hypothesis runs for each case."""
        headers = {}
        if self.accounts:
            who = self.accounts[self.tally.examples % len(self.accounts)]
            headers = {"Authorization": f"Bearer {self.fuzzed.tokens[who]}"}
        self.tally.examples += 1
        response = self.send(case, headers)
        if response is None:
            return
        self.tally.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=self.checks, headers=headers,
                                   transport_kwargs={"session": self.fuzzed.client,
                                                     "headers": headers})  # fmt: skip
        except FailureGroup as group:
            _classify(self.tally, group)
        except Exception:  # noqa: BLE001 - a check's own request (ignored_auth's) crashed the server
            self.tally.add_failure("server error", _crash(case, headers))
        accepted = 200 <= response.status_code < 300  # ignored_auth has probed it already
        if self.accounts and not accepted and _reaches_the_route(case, self.operation.method):
            self.probe(case)

    def probe(self, case: Any) -> None:
        """The same case without a token and with a wrong one: both must be answered 401."""
        for headers in ({}, {"Authorization": f"Bearer {WRONG_TOKEN}"}):
            answer = self.send(case, headers)
            if answer is not None and answer.status_code != 401:
                sent = "a wrong token" if headers else "no token"
                self.tally.add_failure(
                    "auth failure",
                    f"{self.operation.label} answered {answer.status_code} to {sent}:\n"
                    + case.as_curl_command(headers=headers),
                )


def _crash(case: Any, headers: dict[str, str]) -> str:
    return traceback.format_exc(limit=-4) + case.as_curl_command(headers=headers)


def _reaches_the_route(case: Any, method: str) -> bool:
    """Whether the case is sent to the operation's own route: not a probe with another method
    (answered 405 before any token is read), nor an invalid path parameter (404)."""
    if case.method.upper() != method.upper():
        return False
    meta = case.meta
    return meta is None or not meta.is_negative_at(ParameterLocation.PATH)


def _classify(tally: Tally, group: FailureGroup) -> None:
    """Count each failure of ``group`` by the kind of check that found it."""
    for failure in group.exceptions:
        names = getattr(failure, "checks", ()) or ("unnamed",)
        kind = CHECKS.get(names[0], (f"other ({names[0]})", None))[0]
        tally.add_failure(kind, f"{', '.join(names)}: {group.message}")


HOSTILE_BODIES: dict[str, bytes] = {
    "empty": b"",
    "not JSON": b"{'single': 'quotes'}",
    "not UTF-8": b'{"a": "\xff\xfe"}',
    "an array": b"[]",
    "a string": b'"text"',
    "null": b"null",
    "a number": b"12",
    "NaN": b'{"a": NaN, "events": [{"a": NaN}]}',
    "Infinity": b'{"a": 1e999, "events": [{"a": -Infinity}]}',
    "a huge integer": b'{"a": ' + b"9" * 5000 + b', "events": [{"a": ' + b"9" * 400 + b"}]}",
    "a lone surrogate": b'{"a": "\\ud800", "events": [{"a": "\\udc00"}]}',
    "NUL characters": b'{"a\\u0000": "\\u0000", "events": [{"kind": "\\u0000"}]}',
    "nested 150 deep": b'{"events": [' + b"[" * 150 + b"]" * 150 + b"]}",
    "nested 199 deep in an event": b'{"events": [{"a": ' + b"[" * 197 + b"]" * 197 + b"}]}",
    "nested 5,000 deep": b"[" * 5000 + b"]" * 5000,
    "nested 100,000 deep": b'{"events": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
    "duplicate keys": b'{"events": [{}], "events": [{}]}',
    "an event that is not an envelope": b'{"events": [{"kind": "person.registered", "body": 1}]}',
}
"""Bodies schemathesis does not make (it only writes valid JSON, and never deeply nested): each
must be refused as unreadable (400) or invalid (422), or, on ``/events``, answered per event."""


def takes_body(fuzzed: Fuzzed, method: str, path: str) -> bool:
    return "requestBody" in fuzzed.schema.raw_schema["paths"][path][method.lower()]


def hostile_bodies(fuzzed: Fuzzed, method: str, path: str) -> Tally:
    """Send each of ``HOSTILE_BODIES`` to an operation that takes a body, with a token it allows;
    each answer must pass the response checks and refuse the body."""
    operation = fuzzed.schema[path][method]
    roles = operation.definition.raw["x-roles"]
    who = ROLE_ACCOUNTS[roles[0]][0]
    headers = {"Authorization": f"Bearer {fuzzed.tokens[who]}", "Content-Type": "application/json"}
    tally = Tally(operation.label + " (hostile bodies)")
    case = operation.Case(media_type="application/json")
    checks = [check for kind, check in CHECKS.values()
              if kind in ("server error", "schema violation")]  # fmt: skip
    start = time.perf_counter()
    for name, raw in HOSTILE_BODIES.items():
        tally.examples += 1
        try:
            response = fuzzed.client.request(method, path, data=raw, headers=headers)
        except Exception:  # noqa: BLE001 - in-process, the server's exception reaches the client
            tally.add_failure("server error", f"{name}:\n{traceback.format_exc(limit=-4)}")
            continue
        tally.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except FailureGroup as group:
            _classify(tally, group)
        refused = response.status_code in (400, 422)
        per_event = path.endswith("/events") and response.status_code == 200
        if not (refused or per_event):
            tally.add_failure("invalid data accepted",
                              f"{name}: {response.status_code} {response.text[:300]}")  # fmt: skip
    tally.seconds = time.perf_counter() - start
    return tally
