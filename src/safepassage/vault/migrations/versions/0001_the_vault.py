"""The vault: sealed personal records and the log of who opened them.

Revision ID: 0001
Revises: (none, the first)
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accesses",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=127), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("sealed_purpose", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_accesses_ref", "accesses", ["ref"], unique=False)
    op.create_table(
        "records",
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("submission_id", sa.String(length=200), nullable=True),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=True),
        sa.Column("sealed_record", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("ref"),
        sa.UniqueConstraint("submission_id"),
    )
    op.create_index("ix_records_status", "records", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_records_status", table_name="records")
    op.drop_table("records")
    op.drop_index("ix_accesses_ref", table_name="accesses")
    op.drop_table("accesses")
