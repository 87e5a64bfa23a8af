"""The events' ids get a named unique index instead of an inline constraint.

A rebuild can then drop the index, load every row, and create it once (a sort) instead of
inserting hundreds of thousands of random hashes into it one by one. The ``events`` table is
recreated empty and the recorded position cleared, so the next open rebuilds every table from
the log (they are a cache of it).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=127), nullable=False),
        sa.Column("party", sa.String(length=63), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.drop_table("events")
    op.create_table("events", *_columns(), sa.PrimaryKeyConstraint("idx"))
    op.create_index("ix_events_id", "events", ["id"], unique=True)
    op.execute("DELETE FROM projection_state")


def downgrade() -> None:
    op.drop_index("ix_events_id", table_name="events")
    op.drop_table("events")
    op.create_table(
        "events", *_columns(), sa.PrimaryKeyConstraint("idx"), sa.UniqueConstraint("id")
    )
    op.execute("DELETE FROM projection_state")
