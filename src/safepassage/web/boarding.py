"""Boarding (``/boarding``): a person's reference, typed or scanned, onto a vehicle of a notified
movement, recorded as ``person.boarded`` signed by the account's actor.

The page is made to be used again and again: after each boarding it comes back with the
movement and vehicle kept and the cursor in the reference field, and shows each vehicle's load.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from safepassage.errors import SafepassageError
from safepassage.events import catalogue as c
from safepassage.operation.state import OperationState
from safepassage.web.forms import (
    FIELD_STAFF,
    Errors,
    account_of,
    form_values,
    read_state,
    record,
    rule_errors,
    validation_errors,
)
from safepassage.web.pages import Web

__all__ = ["install_boarding"]

FIELDS = ("person", "movement", "vehicle", "stretcher")


@dataclass(frozen=True)
class Load:
    vehicle: str
    kind: str
    seats: int
    seated: int
    stretchers: int
    on_stretchers: int


@dataclass(frozen=True)
class Board:
    """What the boarding page shows: the movements one may board, the chosen one's loads."""

    movements: list[tuple[str, str]]
    movement: str
    vehicles: list[tuple[str, str]]
    loads: list[Load]
    done: str | None
    """The confirmation of the last boarding, if any."""


def _board(state: OperationState, movement: str, boarded: str | None) -> Board:
    open_ = [m for m in state.movements.values() if m.status == "notified"]
    movements = [(m.id, f"{m.id} (departs {m.departs_at:%Y-%m-%d %H:%M} UTC)") for m in open_]
    chosen = state.movements.get(movement)
    if chosen is None or chosen.status != "notified":
        chosen = open_[0] if open_ else None
    loads = []
    for v in chosen.vehicles if chosen else []:
        vehicle = state.vehicles[v]
        aboard = state.boarded_on(chosen.id, v) if chosen else []
        on_stretchers = sum(1 for p in aboard if p.stretcher)
        loads.append(Load(v, vehicle.vehicle_kind, vehicle.seats, len(aboard) - on_stretchers,
                          vehicle.stretchers, on_stretchers))  # fmt: skip
    done = None
    person = state.persons.get(boarded or "")
    if person is not None and person.vehicle is not None and person.movement is not None:
        load = next((x for x in loads if x.vehicle == person.vehicle), None)
        if load is not None:
            taken, places = (
                (load.on_stretchers, f"{load.stretchers} stretcher places") if person.stretcher
                else (load.seated, f"{load.seats} seats")
            )  # fmt: skip
            done = f"Boarded {person.ref} on vehicle {person.vehicle} ({taken}/{places})."
    return Board(
        movements=movements,
        movement=chosen.id if chosen else "",
        vehicles=[
            (x.vehicle, f"{x.vehicle} ({x.kind}, {x.seated}/{x.seats} seats)") for x in loads
        ],
        loads=loads,
        done=done,
    )


def install_boarding(web: Web) -> None:
    service = web.service

    def page(  # noqa: PLR0913 - what the page shows, by keyword
        request: Request,
        board: Board,
        *,
        values: dict[str, str],
        stretcher: bool = False,
        errors: Errors | None = None,
        status: int = 200,
    ) -> Response:
        errors = errors or Errors()
        focus = next((f for f in FIELDS if f in errors.fields), "person")
        return web.render(request, "staff/boarding.html", status=status, title="Boarding",
                          board=board, values=values, stretcher=stretcher, errors=errors,
                          focus=focus)  # fmt: skip

    @web.page("GET", "/boarding", FIELD_STAFF)
    async def boarding(
        request: Request,
        movement: str | None = None,
        vehicle: str | None = None,
        boarded: str | None = None,
    ) -> Response:
        board = await read_state(service, lambda s: _board(s, movement or "", boarded))
        values = {"person": "", "movement": board.movement, "vehicle": vehicle or ""}
        return page(request, board, values=values)

    @web.page("POST", "/boarding", FIELD_STAFF)
    async def board(request: Request) -> Response:
        account = await account_of(web, request)
        form = await request.form()
        values = form_values(form, ["person", "movement", "vehicle"])
        stretcher = form.get("stretcher") is not None

        def known(state: OperationState) -> str:
            ref = values["person"]
            return ref.upper() if ref not in state.persons and ref.upper() in state.persons else ref

        values["person"] = await read_state(service, known)  # a reference typed in lower case
        errors: Errors | None = None
        status = 422
        try:
            body = c.PersonBoarded.model_validate({**values, "stretcher": stretcher})
        except ValidationError as exc:
            errors = validation_errors(exc, FIELDS)
        else:
            answer = await record(service, account, body)
            if isinstance(answer, SafepassageError):
                errors, status = rule_errors(answer, FIELDS, [values["person"]]), 409
        if errors is not None:
            chosen = await read_state(service, lambda s: _board(s, values["movement"], None))
            return page(request, chosen, values=values, stretcher=stretcher, errors=errors,
                        status=status)  # fmt: skip
        query = urlencode({"movement": body.movement, "vehicle": body.vehicle,
                           "boarded": body.person})  # fmt: skip
        return RedirectResponse(f"/boarding?{query}", status_code=303)
