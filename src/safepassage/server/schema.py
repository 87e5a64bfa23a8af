"""The server's own table: the accounts people sign in with (not part of the log)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, MetaData, String, Table

__all__ = ["VERSION_TABLE", "accounts", "metadata"]

VERSION_TABLE = "accounts_alembic_version"
"""Alembic's bookkeeping table for these migrations: its own name, so the accounts can share a
PostgreSQL database with the log, projections and vault."""

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("party", String(63), nullable=False),
    Column("actor", String(127), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)
