"""Schemathesis against the served OpenAPI document: for every operation, ≥ 100 generated cases
(``SAFEPASSAGE_FUZZ_EXAMPLES``; the bench runs 1,000: ``bench/run.py --only fuzz``) with no
server error, no response that violates the document, no invalid request accepted and no
operation that takes a missing or wrong token; then bodies schemathesis never sends (not JSON,
nested thousands deep) to every operation that takes one. One demo copy serves the whole module;
commands the fuzzer gets accepted just append to its log, and closing the operation comes last.
The harness is ``tests/server/fuzz.py``; ``pytest -s`` (or ``-rA``) shows each operation's
answers by status.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.fuzz import (
    LAST,
    Fuzzed,
    Tally,
    fuzz_operation,
    fuzzed_demo,
    hostile_bodies,
    operations,
    takes_body,
)
from tests.server.test_authorization import API, EXPECTED

EXAMPLES = int(os.environ.get("SAFEPASSAGE_FUZZ_EXAMPLES", "100"))

ORDER = sorted(EXPECTED, key=lambda key: (key[0], API + key[1]) == LAST)
"""Every operation the access policy states (``test_authorization``), closing the operation last."""

TALLIES: dict[tuple[str, str], Tally] = {}


@pytest.fixture(scope="module")
def fuzzed(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    with fuzzed_demo(demo_template, tmp_path_factory.mktemp("fuzz") / "azovstal") as served:
        yield served


def test_every_served_operation_is_fuzzed(fuzzed: Fuzzed) -> None:
    served = [(method, path.removeprefix(API)) for method, path in operations(fuzzed.schema)]
    assert set(served) == set(ORDER)
    assert served[-1] == ORDER[-1] == (LAST[0], LAST[1].removeprefix(API))


@pytest.mark.parametrize(("method", "path"), ORDER, ids=[f"{m} {p}" for m, p in ORDER])
def test_operation_holds_up_to_fuzzing(fuzzed: Fuzzed, method: str, path: str) -> None:
    tally = fuzz_operation(fuzzed, method, API + path, EXAMPLES)
    TALLIES[method, path] = tally
    print(tally.line())  # noqa: T201 - shown by pytest -s or -rA
    assert tally.examples >= EXAMPLES or not tally.inputs
    assert not tally.failures, "\n\n".join(tally.messages)
    assert tally.handled() > 0, tally.line()


BODIES = [key for key in ORDER if key[0] == "POST" and key[1] != "/checkpoint/cosignatures"]


@pytest.mark.parametrize(("method", "path"), BODIES, ids=[f"{m} {p}" for m, p in BODIES])
def test_operation_refuses_hostile_bodies(fuzzed: Fuzzed, method: str, path: str) -> None:
    assert takes_body(fuzzed, method, API + path)
    tally = hostile_bodies(fuzzed, method, API + path)
    assert not tally.failures, "\n\n".join(tally.messages)


def test_the_fuzzer_got_through_to_the_handlers(fuzzed: Fuzzed) -> None:
    """Every read answered some generated request with 200, and a third of the kinds of command
    at least were accepted (each operation's own test checks the rest met the operation's rules,
    409, not only 422)."""
    if len(TALLIES) < len(ORDER) or EXAMPLES < 100:
        pytest.skip("needs every operation fuzzed, with at least 100 cases each")
    print("\n".join(t.line() for t in TALLIES.values()))  # noqa: T201 - shown by -s or -rA
    accepted = {key for key, t in TALLIES.items() if any(200 <= s < 300 for s in t.statuses)}
    assert {key for key in ORDER if key[0] == "GET"} <= accepted
    commands = [key for key in ORDER if key[0] == "POST"]
    assert len(accepted.intersection(commands)) >= len(commands) // 3, sorted(accepted)


def test_a_time_that_is_not_rfc3339_is_refused(fuzzed: Fuzzed) -> None:
    """Found by the 1,000-case bench: `occurred_at: "9"` was signed as 1970-01-01T00:00:09Z."""
    response = fuzzed.client.post(
        API + "/incidents",
        headers={"Authorization": f"Bearer {fuzzed.tokens['coordinator']}"},
        json={"incident": "inc-fuzz-time", "incident_kind": "delay", "occurred_at": "9",
              "description": "a time that is not RFC 3339"},
    )  # fmt: skip
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "body.occurred_at"
