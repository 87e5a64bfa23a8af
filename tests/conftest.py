"""Fixtures every test module may use: a real PostgreSQL server and databases on both backends
(see ``tests/postgres.py``)."""

from __future__ import annotations

from tests.postgres import backend, database, make_database, postgres_server, postgres_url

__all__ = ["backend", "database", "make_database", "postgres_server", "postgres_url"]
