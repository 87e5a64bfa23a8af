"""What a party's liaison officer and an observer see and do (``/liaison``): the notifications,
their party's answer to each, headcounts to attest, and aggregate figures.

Nothing about a person is shown here: no reference, household or attribute, only counts. The
counts are the exact ones (as the API's ``/report`` gives every account): a party holds the log
it cosigns and can recompute them, so suppressing small counts here would hide nothing from it
and only make its own figures disagree with ours; the suppressed version is for the public.
Only a ``party-liaison`` records (acknowledges, objects, attests, as in the API); an observer
reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from safepassage.errors import SafepassageError
from safepassage.events import catalogue as c
from safepassage.events.envelope import read_event
from safepassage.operation.report import Figures, NotificationOut
from safepassage.operation.state import OperationState
from safepassage.operation.state import Response as Answer
from safepassage.server.accounts import Role
from safepassage.web.forms import (
    LIAISON,
    READERS,
    Errors,
    account_of,
    form_values,
    read_state,
    record,
    rule_errors,
    validation_errors,
)
from safepassage.web.pages import Web

__all__ = ["install_liaison"]

DONE = {
    "movement.acknowledged": "Your party's acknowledgement is recorded",
    "movement.objected": "Your party's objection is recorded",
    "headcount.attested": "Your party's headcount attestation is recorded",
}
"""The confirmation shown after a form, by the kind of the entry it recorded."""
_HEADCOUNT_IDS = {"movement": "hc-movement", "vehicle": "hc-vehicle", "site": "hc-site",
                  "headcount": "headcount"}  # fmt: skip


@dataclass(frozen=True)
class Notice:
    """A notification as a liaison sees it, with their own party's latest word on it."""

    out: NotificationOut
    purpose: str
    route_name: str
    own: Answer | None
    open: bool
    """Whether it can still be answered (not cancelled)."""


@dataclass(frozen=True)
class Desk:
    party: str
    party_name: str
    notices: list[Notice]
    figures: Figures
    movements: list[tuple[str, str]]
    vehicles: list[tuple[str, str]]
    sites: list[tuple[str, str]]


def _party_name(state: OperationState, party: str) -> str:
    if party == state.coordinator:
        return state.coordinator_name or party
    joined = state.parties.get(party)
    return joined.name if joined else party


def install_liaison(web: Web) -> None:  # noqa: C901, PLR0915 - the page and its three forms
    service = web.service

    def desk_of(party: str, notifications: list[NotificationOut], figures: Figures) -> Desk:
        with service.op.reading() as state:
            notices = []
            for n in notifications:
                m = state.movements.get(n.movement)
                if m is None:
                    continue
                own = m.latest_responses().get(party)
                route = state.routes[m.route].name
                notices.append(Notice(n, m.purpose, route, own, m.status != "cancelled"))
            live = [m for m in state.movements.values() if m.status != "cancelled"]
            on_routes = dict.fromkeys(s for m in live for s in state.routes[m.route].sites)
            return Desk(
                party=party,
                party_name=_party_name(state, party),
                notices=notices,
                figures=figures,
                movements=[(m.id, f"{m.id} ({m.status})") for m in live],
                vehicles=[(v, v) for v in dict.fromkeys(v for m in live for v in m.vehicles)],
                sites=[(s, state.sites[s].name) for s in on_routes],
            )

    async def page(
        request: Request,
        *,
        errors: Errors | None = None,
        kept: dict[str, str] | None = None,
        status: int = 200,
        done: str | None = None,
    ) -> Response:
        account = await account_of(web, request)
        report = await run_in_threadpool(partial(service.op.report, signed=False))
        desk = await run_in_threadpool(desk_of, account.party, report.notifications,
                                       report.figures)  # fmt: skip
        return web.render(
            request, "staff/liaison.html", status=status, title="Notifications and figures",
            desk=desk, errors=errors or Errors(), kept=kept or {}, done=done,
            acting=account.role is Role.party_liaison,
            arrived=sum(n for n in desk.figures.arrived.values() if isinstance(n, int)),
        )  # fmt: skip

    @web.page("GET", "/liaison", READERS)
    async def liaison(request: Request, entry: str | None = None) -> Response:
        message = None
        if entry is not None and entry.isdecimal():
            account = await account_of(web, request)
            message = await run_in_threadpool(confirmation, int(entry), account.party)
        return await page(request, done=message)

    def confirmation(index: int, party: str) -> str | None:
        """What the entry at ``index`` confirms to ``party``: only an answer its own actor
        recorded (a link cannot make a page say something was recorded that was not)."""
        if index >= service.op.log.size():
            return None
        event = read_event(service.op.log.store.entry(index))
        with service.op.reading() as state:
            actor = state.actors.get(event.actor)
        if event.kind not in DONE or actor is None or actor.party != party:
            return None
        movement = getattr(event.body, "movement", "")
        return f"{DONE[event.kind]} for movement {movement} (log entry {index})."

    async def answer(
        request: Request,
        model: type[BaseModel],
        text_field: str,
    ) -> Response:
        account = await account_of(web, request)
        form = await request.form()
        values = form_values(form, ["movement", text_field])
        movement = values["movement"]
        key = f"{text_field}-{movement}"
        known = await read_state(service, lambda s: movement in s.movements)
        errors = Errors()
        status = 422
        data = {"movement": movement}
        if values[text_field]:  # an empty note is no note; an empty reason is missing
            data[text_field] = values[text_field]
        try:
            body = model.model_validate(data)
        except ValidationError as exc:
            for error in validation_errors(exc, ["movement", text_field]).fields.items():
                errors.add(key if error[0] == text_field else None, error[1])
        else:
            answered = await record(service, account, body)  # type: ignore[arg-type]
            if not isinstance(answered, SafepassageError):
                query = urlencode({"entry": answered.index})
                return RedirectResponse(f"/liaison?{query}", status_code=303)
            found = rule_errors(answered, ["movement", text_field], [values[text_field]])
            for name, reason in found.fields.items():
                errors.add(key if name == text_field else f"movement-{movement}", reason)
            errors.general += found.general
            status = 409
        if not known:  # the movement field was not one of ours: nowhere to place it
            errors = Errors(general=[*errors.general, *errors.fields.values()])
        return await page(request, errors=errors, kept={key: values[text_field]}, status=status)

    @web.page("POST", "/liaison/acknowledge", LIAISON)
    async def acknowledge(request: Request) -> Response:
        return await answer(request, c.MovementAcknowledged, "note")

    @web.page("POST", "/liaison/object", LIAISON)
    async def object_to(request: Request) -> Response:
        return await answer(request, c.MovementObjected, "reason")

    @web.page("POST", "/liaison/headcount", LIAISON)
    async def headcount(request: Request) -> Response:
        account = await account_of(web, request)
        form = await request.form()
        values = form_values(form, list(_HEADCOUNT_IDS))
        data: dict[str, object] = dict(values)
        if values["headcount"].isdecimal() and values["headcount"].isascii():
            data["headcount"] = int(values["headcount"])
        errors = Errors()
        status = 422
        try:
            body = c.HeadcountAttested.model_validate(data)
        except ValidationError as exc:
            found = validation_errors(exc, list(_HEADCOUNT_IDS))
        else:
            answered = await record(service, account, body)
            if not isinstance(answered, SafepassageError):
                query = urlencode({"entry": answered.index})
                return RedirectResponse(f"/liaison?{query}", status_code=303)
            found, status = rule_errors(answered, list(_HEADCOUNT_IDS)), 409
        for name, reason in found.fields.items():
            errors.add(_HEADCOUNT_IDS[name], reason)
        errors.general += found.general
        kept = {_HEADCOUNT_IDS[name]: value for name, value in values.items()}
        return await page(request, errors=errors, kept=kept, status=status)
