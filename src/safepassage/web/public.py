"""The public pages: the report anyone may read, its bundle and PDF, and how to check them.

    GET /public                          the operation this server publishes (a list of one)
    GET /public/{operation}              its public report, checkpoint and "check it yourself"
    GET /public/{operation}/bundle.zip   report, figures, checkpoint and keys (the same bytes
                                         for the same checkpoint)
    GET /public/{operation}/sitrep.pdf   the same report as a PDF situation report

Anyone may open them, signed in or not, and they need no script. What they show is what
``web.publication`` publishes: the public report (small counts of people suppressed) at the
latest checkpoint a party other than the coordinator cosigned, never the exact figures and
never personal data (nothing here can open the vault). Work that reads the log or renders the
PDF runs off the event loop.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from safepassage.operation.report import Figures
from safepassage.web.pages import PUBLIC, SECURITY_HEADERS, PageProblem, Web
from safepassage.web.publication import Opened, Publication, Publisher, bundle, steps

__all__ = ["install_public"]

STYLE = Path(__file__).resolve().parent / "static" / "style.css"

PEOPLE: tuple[tuple[str, str, str], ...] = (
    ("registered", "Registered to leave", "each with the destination they freely chose"),
    ("boarded", "Boarded", ""),
    ("not_boarded", "Registered, not boarded", ""),
    ("in_transit", "In transit", "on the convoy, which has not reached the end of its route"),
    ("unaccounted", "Unaccounted for", ("boarded, never recorded getting off, though their "
                                        "vehicle reached the end of its route")),
    ("destination_changes", "Destination changes", "a person may change their mind on the way"),
)  # fmt: skip
"""Counts of people shown on their own: (figure, label, what it counts)."""

VEHICLES: tuple[tuple[str, str], ...] = (
    ("vehicles_registered", "Vehicles registered"),
    ("vehicles_dispatched", "Vehicles dispatched"),
    ("trips_dispatched", "Vehicle trips"),
    ("seats_registered", "Seats registered"),
    ("seats_dispatched", "Seats dispatched (on those trips)"),
    ("seats_used", "Seats used (people who boarded a movement that departed)"),
)


def _figures(f: Figures) -> dict[str, Any]:
    data = f.model_dump()
    places = sorted({*f.chosen, *f.arrived, *f.left_convoy})
    return {
        "f": f,
        "people": [(key, label, data[key], hint) for key, label, hint in PEOPLE],
        "vehicles": [(key, label, data[key]) for key, label in VEHICLES],
        "destinations": [
            (d, f.chosen.get(d, 0), f.arrived.get(d, 0), f.left_convoy.get(d, 0)) for d in places
        ],
        "origin_destinations": [
            (o.site, d, o.chosen.get(d, 0), o.reached.get(d, 0))
            for o in f.by_origin
            for d in sorted({*o.chosen, *o.reached})
        ],
    }


def _context(opened: Opened, pub: Publication | None, base: str) -> dict[str, Any]:
    context: dict[str, Any] = {"opened": opened, "pub": pub}
    if pub is None:
        return context
    return {
        **context,
        **_figures(pub.report.figures),
        "report": pub.report,
        "root": pub.report.checkpoint.root if pub.report.checkpoint else "",
        "route_name": lambda route: opened.routes.get(route, route),
        "party_name": pub.party_name,
        "steps": steps(pub, f"{base}/public/{pub.operation}/bundle.zip"),
        "page_url": f"{base}/public/{pub.operation}",
    }


PDF_SERVER = "SERVER"
"""What the PDF names the server by when ``serve --public-url`` was not given: a PDF is kept
and shared by every reader, so it never carries the address one request came by (a ``Host``
header anyone can set)."""


class _Pdfs:
    """The last situation report rendered, by what it was rendered from: a PDF takes about a
    second of CPU, and every reader of one checkpoint gets the same one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: tuple[str, bytes] | None = None

    def get(self, key: str, make: Callable[[], bytes]) -> bytes:
        with self._lock:
            if self._last is None or self._last[0] != key:
                self._last = (key, make())
            return self._last[1]


def _render_pdf(html: str) -> bytes:
    """The PDF of ``html``, styled by the site's stylesheet; nothing is fetched."""
    import weasyprint  # type: ignore[import-untyped]  # noqa: PLC0415 - heavy: loaded on first PDF
    from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]  # noqa: PLC0415

    fetcher = URLFetcher(allowed_protocols=())  # the template links to nothing: fetch nothing
    css = weasyprint.CSS(string=STYLE.read_text(encoding="utf-8"), url_fetcher=fetcher)
    document = weasyprint.HTML(string=html, url_fetcher=fetcher)
    pdf: bytes = document.write_pdf(stylesheets=[css])
    return pdf


def install_public(web: Web) -> None:
    publisher = Publisher(web.service.op)
    pdfs = _Pdfs()

    async def published(operation: str) -> tuple[Opened, Publication | None]:
        opened, pub = await run_in_threadpool(publisher.latest)
        if operation != opened.operation:
            raise PageProblem(
                404, "No such operation", "This server publishes no operation with this id."
            )
        return opened, pub

    async def required(operation: str) -> Publication:
        _, pub = await published(operation)
        if pub is None:
            raise PageProblem(
                404,
                "Not published yet",
                "No checkpoint of this operation has been cosigned by a party other than the "
                "coordinator yet, so nothing is published.",
            )
        return pub

    def attachment(data: bytes, media_type: str, filename: str) -> Response:
        return Response(
            data,
            media_type=media_type,
            headers={
                **SECURITY_HEADERS,
                "Content-Disposition": f'attachment; filename="{filename}"',
                "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
            },
        )

    @web.page("GET", "/public", PUBLIC)
    async def operations(request: Request) -> Response:
        opened, pub = await run_in_threadpool(publisher.latest)
        return web.render(
            request, "public/index.html", title="Public reports", opened=opened, pub=pub,
        )  # fmt: skip

    @web.page("GET", "/public/{operation}", PUBLIC)
    async def report(request: Request, operation: str) -> Response:
        opened, pub = await published(operation)
        return web.render(
            request,
            "public/report.html",
            title="Public report",
            **_context(opened, pub, web.public_url or str(request.base_url).rstrip("/")),
        )

    @web.page("GET", "/public/{operation}/bundle.zip", PUBLIC)
    async def bundle_zip(operation: str) -> Response:
        pub = await required(operation)
        data = await run_in_threadpool(bundle, pub)
        return attachment(data, "application/zip", f"{pub.operation}-public-{pub.size}.zip")

    @web.page("GET", "/public/{operation}/sitrep.pdf", PUBLIC)
    async def sitrep(operation: str) -> Response:
        opened, pub = await published(operation)
        pub = await required(operation) if pub is None else pub
        html = web.templates.get_template("public/sitrep.html").render(
            **_context(opened, pub, web.public_url or PDF_SERVER)
        )
        key = hashlib.sha256(html.encode()).hexdigest()
        data = await run_in_threadpool(pdfs.get, key, lambda: _render_pdf(html))
        return attachment(data, "application/pdf", f"{pub.operation}-sitrep-{pub.size}.pdf")
