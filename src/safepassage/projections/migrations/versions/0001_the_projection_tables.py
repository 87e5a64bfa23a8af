"""The projection tables: the read models of one operation, rebuilt from its log at will.

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
        "actors",
        sa.Column("actor", sa.String(length=127), nullable=False),
        sa.Column("party", sa.String(length=63), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("actor"),
    )
    with op.batch_alter_table("actors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_actors_party"), ["party"], unique=False)

    op.create_table(
        "attestations",
        sa.Column("movement", sa.String(length=63), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("party", sa.String(length=63), nullable=False),
        sa.Column("vehicle", sa.String(length=63), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("headcount", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("movement", "position"),
    )
    op.create_table(
        "cosignatures",
        sa.Column("party", sa.String(length=63), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("root", sa.String(length=44), nullable=False),
        sa.PrimaryKeyConstraint("party"),
    )
    op.create_table(
        "events",
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=127), nullable=False),
        sa.Column("party", sa.String(length=63), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("idx"),
        sa.UniqueConstraint("id"),
    )
    op.create_table(
        "incidents",
        sa.Column("incident", sa.String(length=63), nullable=False),
        sa.Column("incident_kind", sa.String(length=20), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=True),
        sa.Column("movement", sa.String(length=63), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("injured", sa.Integer(), nullable=False),
        sa.Column("party", sa.String(length=63), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("incident"),
    )
    op.create_table(
        "movement_vehicles",
        sa.Column("movement", sa.String(length=63), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("vehicle", sa.String(length=63), nullable=False),
        sa.PrimaryKeyConstraint("movement", "position"),
    )
    op.create_table(
        "movements",
        sa.Column("movement", sa.String(length=63), nullable=False),
        sa.Column("route", sa.String(length=63), nullable=False),
        sa.Column("pause", sa.String(length=63), nullable=True),
        sa.Column("departs_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("departed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("departure_event", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("movement"),
    )
    with op.batch_alter_table("movements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_movements_status"), ["status"], unique=False)

    op.create_table(
        "operation",
        sa.Column("operation", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("coordinator", sa.String(length=63), nullable=False),
        sa.Column("departure_waits_for_acknowledgements", sa.Boolean(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("operation"),
    )
    op.create_table(
        "parties",
        sa.Column("party", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("witness", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("party"),
    )
    op.create_table(
        "passages",
        sa.Column("movement", sa.String(length=63), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("vehicle", sa.String(length=63), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("headcount", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("movement", "position"),
    )
    op.create_table(
        "pauses",
        sa.Column("pause", sa.String(length=63), nullable=False),
        sa.Column("route", sa.String(length=63), nullable=False),
        sa.Column("starts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pause"),
    )
    op.create_table(
        "persons",
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("household", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("age_band", sa.String(length=8), nullable=False),
        sa.Column("sex", sa.String(length=12), nullable=False),
        sa.Column("needs", sa.String(length=200), nullable=False),
        sa.Column("destination", sa.String(length=63), nullable=False),
        sa.Column("destination_changes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("movement", sa.String(length=63), nullable=True),
        sa.Column("vehicle", sa.String(length=63), nullable=True),
        sa.Column("stretcher", sa.Boolean(), nullable=False),
        sa.Column("end_site", sa.String(length=63), nullable=True),
        sa.Column("registered_event", sa.String(length=64), nullable=False),
        sa.Column("boarded_event", sa.String(length=64), nullable=True),
        sa.Column("end_event", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("person"),
    )
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.create_index("ix_persons_household", ["household"], unique=False)
        batch_op.create_index("ix_persons_movement_vehicle", ["movement", "vehicle"], unique=False)
        batch_op.create_index("ix_persons_status", ["status"], unique=False)

    op.create_table(
        "projection_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("log_size", sa.Integer(), nullable=False),
        sa.Column("log_root", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "responses",
        sa.Column("movement", sa.String(length=63), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("party", sa.String(length=63), nullable=False),
        sa.Column("response", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("before_departure", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("movement", "position"),
    )
    op.create_table(
        "route_sites",
        sa.Column("route", sa.String(length=63), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.PrimaryKeyConstraint("route", "position"),
    )
    op.create_table(
        "routes",
        sa.Column("route", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("route"),
    )
    op.create_table(
        "sites",
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("site_kind", sa.String(length=20), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("controlled_by", sa.String(length=63), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("site"),
    )
    op.create_table(
        "vehicles",
        sa.Column("vehicle", sa.String(length=63), nullable=False),
        sa.Column("vehicle_kind", sa.String(length=20), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("stretchers", sa.Integer(), nullable=False),
        sa.Column("operated_by", sa.String(length=63), nullable=False),
        sa.PrimaryKeyConstraint("vehicle"),
    )


def downgrade() -> None:
    op.drop_table("vehicles")
    op.drop_table("sites")
    op.drop_table("routes")
    op.drop_table("route_sites")
    op.drop_table("responses")
    op.drop_table("projection_state")
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.drop_index("ix_persons_status")
        batch_op.drop_index("ix_persons_movement_vehicle")
        batch_op.drop_index("ix_persons_household")

    op.drop_table("persons")
    op.drop_table("pauses")
    op.drop_table("passages")
    op.drop_table("parties")
    op.drop_table("operation")
    with op.batch_alter_table("movements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_movements_status"))

    op.drop_table("movements")
    op.drop_table("movement_vehicles")
    op.drop_table("incidents")
    op.drop_table("events")
    op.drop_table("cosignatures")
    op.drop_table("attestations")
    with op.batch_alter_table("actors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_actors_party"))

    op.drop_table("actors")
