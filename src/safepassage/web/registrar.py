"""The registration desk: register a person (``/register``), print their slip
(``/registrations/{ref}``) and, once the parties have cosigned it, their verifiable receipt.

Personal data typed here goes to the vault only (through the writer, like the API's
``POST /registrations``); the slip shows the pseudonymous reference, the household and the
chosen destination, nothing that names the person (a slip may be lost). A registration the
operation's rules would refuse (a site that is not a pickup point...) is checked against the
state first, so nothing is sealed for it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, get_args

import segno
from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from safepassage.app.operation import Operation
from safepassage.app.persons import read_person
from safepassage.app.receipts import issue_receipt, site_names
from safepassage.errors import RuleError, SafepassageError
from safepassage.events import catalogue as c
from safepassage.events.envelope import parse_event, sign_event
from safepassage.operation import rules
from safepassage.operation.state import OperationState
from safepassage.receipts.format import Receipt
from safepassage.receipts.render import pdf_bytes
from safepassage.server.accounts import Account
from safepassage.server.models import RegistrationIn
from safepassage.vault.crypto import DataKey
from safepassage.vault.store import Vault
from safepassage.web.forms import (
    FIELD_STAFF,
    Errors,
    account_of,
    form_values,
    read_state,
    rule_errors,
    validation_errors,
)
from safepassage.web.pages import PageProblem, Web

__all__ = ["install_registration"]

TEXT_FIELDS = (
    "household", "site", "destination", "given_name", "family_name", "birth_date", "age_band",
    "sex", "document_number", "phone", "notes",
)  # fmt: skip
"""The form's fields in tab order (``needs`` comes after ``sex``)."""
FIELDS = (*TEXT_FIELDS, "needs")
OPTIONAL = ("birth_date", "document_number", "phone", "notes")
_CHECK_REF = "P-RULECHECK0"  # a stand-in reference: the rules are asked, nothing is recorded
_CHECK_COMMITMENT = "0" * 64


def new_household() -> str:
    """A new household's pseudonymous reference (random, like a person's)."""
    return "H-" + base64.b32encode(os.urandom(10)).decode().rstrip("=")[:12]


@dataclass(frozen=True)
class Choices:
    pickups: list[tuple[str, str]]
    receptions: list[tuple[str, str]]


def _choices(state: OperationState) -> Choices:
    def of(kind: str) -> list[tuple[str, str]]:
        return sorted(((s.site, s.name) for s in state.sites.values() if s.site_kind == kind),
                      key=lambda pair: pair[1])  # fmt: skip

    return Choices(of("pickup"), of("reception"))


@dataclass(frozen=True)
class Slip:
    ref: str
    household: str
    site: str
    destination: str
    at: datetime
    index: int
    event: str
    receipt_ready: bool
    covered_to: int | None
    """The size of the latest checkpoint a party other than the coordinator cosigned."""
    again: dict[str, str]
    """What the form for the next person of this household starts with."""


def _cosigned_size(op: Operation, state: OperationState) -> int | None:
    """The latest kept checkpoint a party other than the coordinator cosigned (its size)."""
    for kept in reversed(op.log.store.checkpoints()):
        if set(op.cosigners(kept.note)) - {state.coordinator}:
            return kept.size
    return None


def _pairs(literal: object) -> list[tuple[str, str]]:
    return [(value, value) for value in get_args(literal)]


def _qr(ref: str) -> Markup:
    """The reference as a QR code, inline SVG made by segno from a logged reference."""
    code = segno.make(ref, error="m", micro=False)
    svg = code.svg_inline(scale=6, border=4, svgclass="qr", title=f"QR code of {ref}")
    return Markup(svg)  # noqa: S704 - segno's SVG of a logged reference, not user text


def install_registration(web: Web) -> None:  # noqa: C901, PLR0915 - the desk's pages
    service = web.service

    def form_page(  # noqa: PLR0913 - what the form shows, by keyword
        request: Request,
        choices: Choices,
        *,
        values: dict[str, str],
        needs: list[str],
        submission_id: str,
        errors: Errors | None = None,
        status: int = 200,
    ) -> Response:
        errors = errors or Errors()
        first_error = next((f for f in FIELDS if f in errors.fields), None)
        focus = first_error or ("given_name" if values.get("household") else "household")
        return web.render(
            request, "staff/register.html", status=status, title="Register a person",
            values=values, needs=needs, errors=errors, choices=choices,
            age_bands=_pairs(c.AgeBand), sexes=_pairs(c.Sex), all_needs=get_args(c.Need),
            submission_id=submission_id, focus=focus,
        )  # fmt: skip

    @web.page("GET", "/register", FIELD_STAFF)
    async def register_form(
        request: Request,
        household: str | None = None,
        site: str | None = None,
        destination: str | None = None,
    ) -> Response:
        choices = await read_state(service, _choices)
        values = dict.fromkeys(TEXT_FIELDS, "")
        values |= {"household": household or "", "site": site or "",
                   "destination": destination or ""}  # fmt: skip
        if not values["site"] and len(choices.pickups) == 1:
            values["site"] = choices.pickups[0][0]
        return form_page(request, choices, values=values, needs=[],
                         submission_id=uuid.uuid4().hex)  # fmt: skip

    def rule_check(account: Account, given: RegistrationIn) -> None:
        """The operation's rules asked about this registration before anything is sealed."""
        body = c.PersonRegistered(
            person=_CHECK_REF, household=given.household, site=given.site,
            age_band=given.age_band, sex=given.sex,  # type: ignore[arg-type]
            needs=list(given.needs), destination=given.destination, consent=True,
            commitment=_CHECK_COMMITMENT,
        )  # fmt: skip
        event = sign_event(operation=service.op.state.operation or "", at=datetime.now(UTC),
                           actor=account.actor, body=body,
                           key=service.actor_key(account.actor))  # fmt: skip
        with service.op.reading() as state:
            try:
                rules.check(state, event)
            except RuleError as exc:
                if exc.field != "body.person":  # the stand-in's own reference is no fault
                    raise

    @web.page("POST", "/register", FIELD_STAFF)
    async def register(request: Request) -> Response:
        account = await account_of(web, request)
        form = await request.form()
        values = form_values(form, TEXT_FIELDS)
        needs = [n for n in form.getlist("needs") if isinstance(n, str)]
        submission_id = form_values(form, ["submission_id"])["submission_id"]
        submission_id = submission_id or uuid.uuid4().hex
        choices = await read_state(service, _choices)
        data: dict[str, Any] = {name: values[name] for name in TEXT_FIELDS
                                if values[name] or name not in OPTIONAL}  # fmt: skip
        data["household"] = values["household"] or new_household()
        data |= {"needs": needs, "submission_id": submission_id}
        try:
            given = RegistrationIn.model_validate(data)
        except ValidationError as exc:
            return form_page(request, choices, values=values, needs=needs, status=422,
                             submission_id=submission_id,
                             errors=validation_errors(exc, FIELDS))  # fmt: skip
        try:
            await run_in_threadpool(rule_check, account, given)
        except SafepassageError as exc:
            return form_page(request, choices, values=values, needs=needs, status=409,
                             submission_id=submission_id,
                             errors=rule_errors(exc, FIELDS, [given.household]))  # fmt: skip
        person = given.new_person()
        try:  # no vault, or a stopped writer: said when asked, or when the command crosses
            [answer] = await asyncio.wrap_future(service.register([person], account.actor))
        except SafepassageError as exc:
            raise PageProblem(503, "Cannot register here", exc.reason) from exc
        if isinstance(answer, SafepassageError):
            return form_page(request, choices, values=values, needs=needs, status=409,
                             submission_id=uuid.uuid4().hex,
                             errors=rule_errors(answer, FIELDS, [given.household]))  # fmt: skip
        # registered now, or by the same form sent before (AlreadyImported): its slip either way
        return RedirectResponse(f"/registrations/{answer.ref}", status_code=303)

    def slip_of(ref: str) -> Slip | None:
        with service.op.reading() as state:
            person = state.persons.get(ref)
            if person is None:
                return None
            index = service.op.index_of(person.registered_event)
            event = parse_event(service.op.log.store.entry(index))
            covered = _cosigned_size(service.op, state)
            return Slip(
                ref=ref, household=person.household,
                site=state.sites[person.site].name,
                destination=state.sites[person.destination].name, at=event.at, index=index,
                event=person.registered_event,
                receipt_ready=(covered is not None and covered > index
                               and service.data_key is not None and service.vault is not None),
                covered_to=covered,
                again={"household": person.household, "site": person.site,
                       "destination": person.destination},
            )  # fmt: skip

    @web.page("GET", "/registrations/{ref}", FIELD_STAFF)
    async def slip(request: Request, ref: str) -> Response:
        found = await run_in_threadpool(slip_of, ref)
        if found is None:
            raise PageProblem(404, "No such person", "No person has this reference.")
        return web.render(request, "staff/slip.html", title=f"Registration {ref}", slip=found,
                          qr=_qr(ref),
                          vault_open=service.data_key is not None)  # fmt: skip

    @web.page("GET", "/registrations/{ref}/receipt.pdf", FIELD_STAFF)
    async def receipt_pdf(request: Request, ref: str) -> Response:
        account = await account_of(web, request)
        key, vault = service.data_key, service.vault
        if key is None or vault is None:
            raise PageProblem(503, "Receipts are not available here",
                              "This server was started without the vault's key: it cannot "
                              "read the secret a receipt carries.")  # fmt: skip
        if not await read_state(service, lambda s: ref in s.persons):
            raise PageProblem(404, "No such person", "No person has this reference.")

        try:
            receipt, names = await asyncio.wrap_future(
                service.writer.call(_issue, key, ref, account.actor)
            )
        except RuleError as exc:
            raise PageProblem(409, "No receipt yet", exc.reason) from exc
        except SafepassageError as exc:  # an erased record, a vault that will not open...
            raise PageProblem(422, "No receipt", exc.reason) from exc
        pdf = await run_in_threadpool(pdf_bytes, receipt, names)
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="receipt-{ref}-registration.pdf"',
                "Cache-Control": "no-store",
            },
        )


def _issue(
    op: Operation, vault: Vault, key: DataKey, ref: str, actor: str
) -> tuple[Receipt, dict[str, str]]:
    """In the writer (``WriterProcess.call``): open the record for its salt, as a recorded
    "receipt" opening, and issue the registration receipt."""
    why = "registration receipt (web)"
    _, salt = read_person(op, vault, key, ref, actor=actor, purpose=why, action="receipt")
    return issue_receipt(op, ref, "registration", salt), site_names(op)
