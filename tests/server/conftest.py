"""A served demo operation with one account per role (and a second party's liaison)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from safepassage.server.accounts import Role
from safepassage.server.app import create_app
from safepassage.server.service import Service
from tests.demo import unlocked_copy

ACCOUNTS: dict[str, tuple[Role, str, str]] = {
    "coordinator": (Role.coordinator, "un-ocha", "un-ocha/coordinator"),
    "facilitator": (Role.facilitator, "icrc", "icrc/convoy-lead"),
    "registrar": (Role.registrar, "icrc", "icrc/registrar-1"),
    "party-liaison": (Role.party_liaison, "russia", "russia/liaison"),
    "observer": (Role.observer, "ukraine", "ukraine/reception-zaporizhzhia"),
    "other-liaison": (Role.party_liaison, "ukraine", "ukraine/liaison"),
}
"""Account name -> (role, party, actor) in the demo operation."""


@dataclass
class Served:
    directory: Path
    service: Service
    app: FastAPI
    client: TestClient
    tokens: dict[str, str]

    def headers(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}


def make_accounts(service: Service) -> dict[str, str]:
    tokens = {}
    for name, (role, party, actor) in ACCOUNTS.items():
        _, tokens[name] = service.accounts.create(
            service.state(), role=role, party=party, name=name, actor=actor
        )
    return tokens


@pytest.fixture
def served(demo_template: Path, tmp_path: Path) -> Iterator[Served]:
    directory = tmp_path / "azovstal"
    service = unlocked_copy(demo_template, directory)
    try:
        tokens = make_accounts(service)
        app = create_app(service)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Served(directory, service, app, client, tokens)
    finally:
        service.close()
