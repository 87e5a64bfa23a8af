"""What the staff pages' forms share: who may use them, reading a form, errors placed next to
their field, and recording a signed fact through the operation's one writer.

An error names its field and says why, in the model's or the operation's own words; it never
quotes what was typed (the inputs keep it), since that may be personal data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from safepassage.app.operation import Receipt
from safepassage.errors import SafepassageError
from safepassage.events.catalogue import Body
from safepassage.events.envelope import Event, sign_event
from safepassage.operation.state import OperationState
from safepassage.server.accounts import Account, Role
from safepassage.server.service import Service
from safepassage.web.pages import PageProblem, Web

__all__ = [
    "EVERYONE",
    "FIELD_STAFF",
    "LIAISON",
    "READERS",
    "STAFF",
    "Errors",
    "account_of",
    "form_values",
    "read_state",
    "record",
    "rule_errors",
    "signed",
    "validation_errors",
]

_T = TypeVar("_T")

EVERYONE = frozenset(Role)
STAFF = frozenset({Role.coordinator, Role.facilitator})
FIELD_STAFF = STAFF | {Role.registrar}
LIAISON = frozenset({Role.party_liaison})
READERS = frozenset({Role.party_liaison, Role.observer})
"""Those who see the plan, the notifications and aggregate figures, never a person."""

_PATTERNS = {
    "household": "must be 6 to 64 letters, digits, '-' or '_'",
    "person": "must be a person's reference: 6 to 64 letters, digits, '-' or '_'",
    "site": "choose one of the listed sites",
    "destination": "choose one of the listed reception sites",
    "movement": "choose one of the listed movements",
    "vehicle": "choose one of the listed vehicles",
    "age_band": "choose an age band",
    "sex": "choose one of the listed answers",
    "birth_date": "must be a date written YYYY-MM-DD",
}


@dataclass
class Errors:
    """A form's errors: each field's reason, and those that belong to no field."""

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    def add(self, name: str | None, reason: str) -> None:
        if name is None:
            self.general.append(reason)
        else:
            self.fields.setdefault(name, reason)


_KINDS = {
    "missing": "is required",
    "literal_error": "is not one of the listed choices",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "string_too_long": "must be at most {max_length} characters",
    "too_long": "choose at most {max_length}",
}
"""Pydantic's error types, in words for a form (pydantic's own words otherwise)."""


def _reason(name: str, error: Any) -> str:  # noqa: ANN401 - one of pydantic's error dicts
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        kind = "missing"
    if kind == "string_pattern_mismatch":
        return _PATTERNS.get(name, "is not in the expected form")
    if kind in _KINDS:
        return _KINDS[kind].format(**ctx)
    return str(error.get("msg", "is not valid")).removeprefix("Value error, ")


def validation_errors(exc: ValidationError, fields: Collection[str]) -> Errors:
    """Each field's first problem (a pydantic message never quotes the input)."""
    errors = Errors()
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        name = next((part for part in loc if part in fields), None)
        errors.add(name, _reason(name or "", error))
    return errors


def rule_errors(
    exc: SafepassageError, fields: Collection[str], quiet: Collection[str] = ()
) -> Errors:
    """A refusal placed next to its field (``body.site`` -> ``site``). ``quiet`` values were
    typed by hand: a reason quoting one says "the value given" instead."""
    reason = exc.reason
    for value in quiet:
        if value:
            reason = reason.replace(repr(value), "(the value given)")
    parts = (exc.field or "").removeprefix("body.").split(".")
    errors = Errors()
    errors.add(parts[0] if parts[0] in fields else None, reason)
    return errors


def form_values(form: Any, names: Collection[str]) -> dict[str, str]:  # noqa: ANN401 - FormData
    """The text of each named field as given (stripped), ``""`` when absent or not text."""
    out = {}
    for name in names:
        value = form.get(name)
        out[name] = value.strip() if isinstance(value, str) else ""
    return out


async def account_of(web: Web, request: Request) -> Account:
    """The signed-in account (the page's roles were checked before the handler ran)."""
    viewer = await web.viewer(request)
    if viewer.account is None:  # pragma: no cover - the page's check redirects first
        raise PageProblem(401, "Signed out", "Sign in again.")
    account: Account = viewer.account
    return account


async def read_state(service: Service, fn: Callable[[OperationState], _T]) -> _T:
    """``fn`` of the state, under the operation's lock, off the event loop."""

    def locked() -> _T:
        with service.op.reading() as state:
            return fn(state)

    return await run_in_threadpool(locked)


async def signed(service: Service, account: Account, body: Body) -> Event:
    """``body`` signed as the account's actor (reading its key and signing: off the loop)."""

    def sign() -> Event:
        return sign_event(
            operation=service.op.state.operation or "",
            at=datetime.now(UTC),
            actor=account.actor,
            body=body,
            key=service.actor_key(account.actor),
        )

    return await run_in_threadpool(sign)


async def record(service: Service, account: Account, body: Body) -> Receipt | SafepassageError:
    """Sign ``body`` as the account's actor and hand it to the writer: its receipt, or why the
    operation's rules refused it (then nothing was written)."""
    event = await signed(service, account, body)
    [answer] = await asyncio.wrap_future(service.writer.events([event]))
    return answer
