"""Fixtures every test module may use: a real PostgreSQL server and databases on both backends
(see ``tests/postgres.py``); the demo operation, built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from safepassage.app.demo import run_demo
from tests.postgres import backend, database, make_database, postgres_server, postgres_url

__all__ = [
    "backend",
    "database",
    "demo_template",
    "make_database",
    "postgres_server",
    "postgres_url",
]


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Azovstal demo operation, built once per session: copy it, never change it
    (``tests.demo.unlocked_copy``)."""
    directory = tmp_path_factory.mktemp("demo-template") / "azovstal"
    run_demo(directory).close()
    return directory
