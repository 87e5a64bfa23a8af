"""A served demo operation for the web pages: one account per role, a browser per account.

The demo's convoy has departed; the template adds a second movement, notified and not yet
departed (``convoy-2``), so that boarding and acknowledging have something to work on.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from safepassage.app.operation import Operation
from safepassage.server.app import create_app
from safepassage.server.service import Service
from safepassage.web.pages import COOKIE, csrf_token
from tests.demo import unlocked_copy
from tests.server.conftest import ACCOUNTS, make_accounts

__all__ = ["ACCOUNTS", "OPEN_MOVEMENT", "Element", "Site", "element", "elements"]

OPEN_MOVEMENT = "convoy-2"
OPEN_VEHICLES = ["bus-06", "bus-07", "ambulance-3"]


@pytest.fixture(scope="session")
def web_template(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo, plus a second movement notified and not yet departed (to board people on)."""
    directory = tmp_path_factory.mktemp("web-template") / "azovstal"
    shutil.copytree(demo_template, directory)
    op = Operation.open(directory)
    try:
        route = next(iter(op.state.routes))
        op.submit(
            "un-ocha/coordinator",
            "movement.notified",
            {
                "movement": OPEN_MOVEMENT,
                "route": route,
                "vehicles": OPEN_VEHICLES,
                "departs_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
                "purpose": "Second evacuation convoy",
            },
            datetime.now(UTC),
        )
    finally:
        op.close()
    return directory


@dataclass
class Site:
    """The served operation, and a signed-in browser per account (``None``: signed out)."""

    directory: Path
    service: Service
    app: FastAPI
    tokens: dict[str, str]
    clients: dict[str | None, TestClient] = field(default_factory=dict)

    def browser(self, who: str | None) -> TestClient:
        if who not in self.clients:
            cookies = {} if who is None else {COOKIE: self.tokens[who]}
            self.clients[who] = TestClient(
                self.app, raise_server_exceptions=False, follow_redirects=False, cookies=cookies
            )
        return self.clients[who]

    def csrf(self, who: str) -> str:
        return csrf_token(self.tokens[who])

    def api(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def log_size(self) -> int:
        return self.service.op.log.size()

    def vault_records(self) -> dict[str, str]:
        assert self.service.vault is not None
        return self.service.vault.statuses()

    def written(self) -> tuple[int, dict[str, str], int]:
        """What a refused form must leave as it was: the log, the vault, the people."""
        return self.log_size(), self.vault_records(), len(self.service.state().persons)


@pytest.fixture
def site(web_template: Path, tmp_path: Path) -> Iterator[Site]:
    directory = tmp_path / "azovstal"
    service = unlocked_copy(web_template, directory)
    try:
        served = Site(directory, service, create_app(service), make_accounts(service))
        try:
            yield served
        finally:
            for client in served.clients.values():
                client.close()
    finally:
        service.close()


# --- reading pages -------------------------------------------------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""


class _Collect(HTMLParser):
    """Every element with its attributes and the text inside it (void elements have none)."""

    VOID = frozenset({"input", "br", "meta", "link", "img", "hr", "col", "source", "path",
                      "circle", "rect", "polygon", "polyline"})  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[Element] = []
        self.open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        item = Element(tag, {k: v or "" for k, v in attrs})
        self.found.append(item)
        if tag not in self.VOID:
            self.open.append(item)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append(Element(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for n in range(len(self.open) - 1, -1, -1):
            if self.open[n].tag == tag:
                del self.open[n:]
                return

    def handle_data(self, data: str) -> None:
        for item in self.open:
            item.text += data


def elements(html: str) -> list[Element]:
    parser = _Collect()
    parser.feed(html)
    parser.close()
    for item in parser.found:
        item.text = re.sub(r"\s+", " ", item.text).strip()
    return parser.found


def element(html: str, ident: str) -> Element | None:
    found = [e for e in elements(html) if e.attrs.get("id") == ident]
    assert len(found) <= 1, f"id {ident!r} is used {len(found)} times"
    return found[0] if found else None
