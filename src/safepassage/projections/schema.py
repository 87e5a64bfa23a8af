"""The projection tables (SQLAlchemy Core). Their rows come from ``operation.projection``.

The Alembic migrations in ``migrations/versions`` create exactly these tables; a test compares
the migrated database with this metadata, so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

__all__ = ["TABLES", "UtcDateTime", "metadata"]


class UtcDateTime(TypeDecorator[datetime]):
    """A time zone-aware instant, stored in UTC (``timestamptz`` on PostgreSQL), read back aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a naive time cannot be stored; it must carry a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

Slug = String(63)
EventId = String(64)

projection_state = Table(
    "projection_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("log_size", Integer, nullable=False),
    Column("log_root", String(64), nullable=False),
)
"""One row: how many log entries the tables reflect, and the root of the tree at that size."""

events = Table(
    "events",
    metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("id", EventId, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("actor", String(127), nullable=False),
    Column("party", Slug, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_events_id", "id", unique=True),  # a rebuild drops it while loading (see store)
)

operation = Table(
    "operation",
    metadata,
    Column("operation", Slug, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("coordinator", Slug, nullable=False),
    Column("departure_waits_for_acknowledgements", Boolean, nullable=False),
    Column("closed", Boolean, nullable=False),
)

parties = Table(
    "parties",
    metadata,
    Column("party", Slug, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("witness", String(300)),
)

actors = Table(
    "actors",
    metadata,
    Column("actor", String(127), primary_key=True),
    Column("party", Slug, nullable=False, index=True),
    Column("public_key", String(64), nullable=False),
    Column("revoked", Boolean, nullable=False),
)

sites = Table(
    "sites",
    metadata,
    Column("site", Slug, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("site_kind", String(20), nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("controlled_by", Slug),
    Column("capacity", Integer),
)

routes = Table(
    "routes",
    metadata,
    Column("route", Slug, primary_key=True),
    Column("name", String(200), nullable=False),
)

route_sites = Table(
    "route_sites",
    metadata,
    Column("route", Slug, primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("site", Slug, nullable=False),
)

pauses = Table(
    "pauses",
    metadata,
    Column("pause", Slug, primary_key=True),
    Column("route", Slug, nullable=False),
    Column("starts", UtcDateTime, nullable=False),
    Column("ends", UtcDateTime, nullable=False),
)

vehicles = Table(
    "vehicles",
    metadata,
    Column("vehicle", Slug, primary_key=True),
    Column("vehicle_kind", String(20), nullable=False),
    Column("seats", Integer, nullable=False),
    Column("stretchers", Integer, nullable=False),
    Column("operated_by", Slug, nullable=False),
)

movements = Table(
    "movements",
    metadata,
    Column("movement", Slug, primary_key=True),
    Column("route", Slug, nullable=False),
    Column("pause", Slug),
    Column("departs_at", UtcDateTime, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("notified_at", UtcDateTime, nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("departed_at", UtcDateTime),
    Column("departure_event", EventId),
)

movement_vehicles = Table(
    "movement_vehicles",
    metadata,
    Column("movement", Slug, primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("vehicle", Slug, nullable=False),
)

responses = Table(
    "responses",
    metadata,
    Column("movement", Slug, primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("party", Slug, nullable=False),
    Column("response", String(20), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("event", EventId, nullable=False),
    Column("reason", Text),
    Column("before_departure", Boolean, nullable=False),
)

passages = Table(
    "passages",
    metadata,
    Column("movement", Slug, primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("vehicle", Slug, nullable=False),
    Column("site", Slug, nullable=False),
    Column("headcount", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("event", EventId, nullable=False),
)

attestations = Table(
    "attestations",
    metadata,
    Column("movement", Slug, primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("party", Slug, nullable=False),
    Column("vehicle", Slug, nullable=False),
    Column("site", Slug, nullable=False),
    Column("headcount", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("event", EventId, nullable=False),
)

persons = Table(
    "persons",
    metadata,
    Column("person", String(64), primary_key=True),
    Column("household", String(64), nullable=False),
    Column("site", Slug, nullable=False),
    Column("age_band", String(8), nullable=False),
    Column("sex", String(12), nullable=False),
    Column("needs", String(200), nullable=False),
    Column("destination", Slug, nullable=False),
    Column("destination_changes", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("movement", Slug),
    Column("vehicle", Slug),
    Column("stretcher", Boolean, nullable=False),
    Column("end_site", Slug),
    Column("registered_event", EventId, nullable=False),
    Column("boarded_event", EventId),
    Column("end_event", EventId),
    Index("ix_persons_household", "household"),
    Index("ix_persons_status", "status"),
    Index("ix_persons_movement_vehicle", "movement", "vehicle"),
)

incidents = Table(
    "incidents",
    metadata,
    Column("incident", Slug, primary_key=True),
    Column("incident_kind", String(20), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("site", Slug),
    Column("movement", Slug),
    Column("description", Text, nullable=False),
    Column("injured", Integer, nullable=False),
    Column("party", Slug, nullable=False),
    Column("event", EventId, nullable=False),
)

cosignatures = Table(
    "cosignatures",
    metadata,
    Column("party", Slug, primary_key=True),
    Column("size", Integer, nullable=False),
    Column("root", String(44), nullable=False),
)

TABLES: dict[str, Table] = {t.name: t for t in metadata.sorted_tables}
