"""What the coordinator and the facilitators watch (``/dashboard``, polled in part through
``/dashboard/live``), the route map every organisation and party may see (``/map``), and one
log entry as recorded (``/entries/{index}``).

Staff see exact figures. The map and the entries carry no personal data: sites, routes and
vehicles on the one; pseudonymous references and attributes, as the log holds them, on the
other (readable by every account, like the API's ``/log/entries``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from fastapi import Request
from fastapi.responses import Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from safepassage.errors import SafepassageError
from safepassage.events import catalogue as c
from safepassage.operation.report import Report
from safepassage.operation.state import Movement, OperationState
from safepassage.server.accounts import Role
from safepassage.web.forms import EVERYONE, STAFF, read_state
from safepassage.web.pages import PageProblem, Web
from safepassage.web.routemap import MapRoute, MapSite, VehiclesAt, route_map

__all__ = ["Progress", "Stop", "install_dashboard", "progress"]

MAP_ROLES = STAFF | {Role.party_liaison, Role.observer}
ALERT_LINKS = 5
"""How many of an alert's events are linked; the rest are counted."""


@dataclass(frozen=True)
class Stop:
    site: str
    name: str
    kind: str
    passed: bool
    at: datetime | None


@dataclass(frozen=True)
class Progress:
    """One vehicle of one movement along its route."""

    movement: str
    status: str
    vehicle: str
    stops: list[Stop]
    on_board: int

    @property
    def last(self) -> Stop | None:
        passed = [s for s in self.stops if s.passed]
        return passed[-1] if passed else None

    @property
    def summary(self) -> str:
        last = self.last
        where = (
            f"waiting at {self.stops[0].name}" if last is None
            else f"reached {last.name}, the end of its route" if last is self.stops[-1]
            else f"last passed {last.name}"
        )  # fmt: skip
        done = sum(1 for s in self.stops if s.passed)
        return (
            f"{self.vehicle}: {where} ({done} of {len(self.stops)} sites), {self.on_board} on board"
        )


def _vehicle_progress(state: OperationState, m: Movement, vehicle: str) -> Progress:
    sites = state.routes[m.route].sites
    passed: dict[str, datetime | None] = {}
    if m.departed_at is not None:
        passed[sites[0]] = m.departed_at
    for passage in m.passages:
        if passage.vehicle == vehicle:
            passed.setdefault(passage.site, passage.at)
    aboard = state.boarded_on(m.id, vehicle)
    for person in aboard:
        if person.status == "arrived" and person.end_site is not None:
            passed.setdefault(person.end_site, None)
    stops = [
        Stop(s, state.sites[s].name, state.sites[s].site_kind, s in passed, passed.get(s))
        for s in sites
    ]
    on_board = sum(1 for p in aboard if p.status == "boarded")
    return Progress(m.id, m.status, vehicle, stops, on_board)


def progress(state: OperationState) -> list[Progress]:
    """Every vehicle of every movement not cancelled, in the order they were notified."""
    return [
        _vehicle_progress(state, m, v)
        for m in state.movements.values()
        if m.status != "cancelled"
        for v in m.vehicles
    ]


@dataclass(frozen=True)
class AlertView:
    kind: str
    message: str
    entries: list[tuple[int, str]]
    more: int


@dataclass(frozen=True)
class Live:
    report: Report
    arrived: int
    progress: list[Progress]
    alerts: list[AlertView]
    incidents: list[tuple[c.IncidentReported, str]]
    at: datetime
    entries: int
    """The log's size the figures were computed at."""


def install_dashboard(web: Web) -> None:  # noqa: C901 - the watching pages, in one place
    service = web.service

    def live_of(report: Report, entries: int) -> Live:
        with service.op.reading() as state:
            alerts = []
            for alert in report.alerts:
                linked = []
                for event in alert.events[:ALERT_LINKS]:
                    try:
                        linked.append((service.op.index_of(event), event))
                    except SafepassageError:
                        continue
                alerts.append(AlertView(alert.kind, alert.message, linked,
                                        len(alert.events) - len(linked)))  # fmt: skip
            return Live(
                report=report,
                arrived=sum(n for n in report.figures.arrived.values() if isinstance(n, int)),
                progress=progress(state),
                alerts=alerts,
                incidents=[(b, party) for b, party, _ in state.incidents.values()],
                at=datetime.now(UTC),
                entries=entries,
            )

    async def live() -> Live:
        size = service.op.log.size()
        report = await run_in_threadpool(partial(service.op.report, size, signed=False))
        return await run_in_threadpool(live_of, report, size)

    @web.page("GET", "/dashboard", STAFF)
    async def dashboard(request: Request) -> Response:
        return web.render(request, "staff/dashboard.html", title="Dashboard", live=await live())

    @web.page("GET", "/dashboard/live", STAFF)
    async def dashboard_live(request: Request) -> Response:
        return web.render(request, "staff/_live.html", title="Dashboard", live=await live())

    def map_of(state: OperationState) -> tuple[str, list[dict[str, object]]]:
        sites = [MapSite(s.site, s.name, s.site_kind, s.lat, s.lon) for s in state.sites.values()]
        routes = [MapRoute(r.route, r.name, tuple(r.sites)) for r in state.routes.values()]
        where: dict[str, list[str]] = {}
        for p in progress(state):
            last = p.last or p.stops[0]
            where.setdefault(last.site, []).append(f"{p.vehicle} ({p.movement})")
        svg = route_map(
            sites, routes, [VehiclesAt(site, tuple(v)) for site, v in where.items()],
            title=f"Route map of {state.name or state.operation}",
            description=(
                f"{len(sites)} sites and {len(routes)} routes; pickup points are squares, "
                "checkpoints diamonds, reception centres circles; triangles mark vehicles at "
                "the last site they passed. The table below lists the same sites."
            ),
        )  # fmt: skip

        def party(slug: str | None) -> str:
            if slug is None:
                return "none (front line or besieged)"
            if slug == state.coordinator:
                return state.coordinator_name or slug
            joined = state.parties.get(slug)
            return joined.name if joined else slug

        rows: list[dict[str, object]] = [
            {"site": s.site, "name": s.name, "kind": s.site_kind, "party": party(s.controlled_by),
             "lat": s.lat, "lon": s.lon, "vehicles": ", ".join(where.get(s.site, []))}
            for s in state.sites.values()
        ]  # fmt: skip
        return svg, rows

    @web.page("GET", "/map", MAP_ROLES)
    async def route_map_page(request: Request) -> Response:
        svg, rows = await read_state(service, map_of)
        markup = Markup(svg)  # noqa: S704 - built by ElementTree, every name escaped as text
        return web.render(request, "staff/map.html", title="Route map", svg=markup, rows=rows)

    def entry_of(index: int) -> tuple[int, bytes] | None:
        size = service.op.log.size()
        if index >= size:
            return None
        return size, service.op.log.store.entry(index)

    @web.page("GET", "/entries/{index}", EVERYONE)
    async def entry(request: Request, index: int) -> Response:
        found = await run_in_threadpool(entry_of, index) if index >= 0 else None
        if found is None:
            raise PageProblem(404, "No such entry", "The log holds no entry at this index.")
        size, raw = found
        event = json.loads(raw)
        return web.render(
            request, "staff/entry.html", title=f"Log entry {index}", index=index, size=size,
            id=hashlib.sha256(raw).hexdigest(), event=event,
            text=json.dumps(event, indent=2, ensure_ascii=False, sort_keys=True),
        )  # fmt: skip
