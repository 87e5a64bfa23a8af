"""The application layer on a real log: submit, refuse, replay, cosign, report.

Every test runs on both backends (``database``: SQLite files, or a PostgreSQL database).
"""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from safepassage.app.keys import public_key_b64
from safepassage.app.operation import Operation
from safepassage.database import DATABASE_FILE
from safepassage.errors import FormatError, RuleError, StoreError
from safepassage.events.catalogue import parse_body
from safepassage.events.envelope import sign_event
from safepassage.vault.store import PersonalData, Vault

COORD = "un-ocha/coordinator"
T0 = datetime(2022, 4, 29, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def opened(tmp_path: Path, database: str | None) -> tuple[Operation, Clock]:
    op = Operation.create(tmp_path / "op", "test-op", database)
    op.keys.mark_demo()
    clock = Clock()
    key = {"actor": COORD, "public_key": public_key_b64(op.keys.new_actor(COORD))}
    op.submit(
        COORD,
        "operation.opened",
        {
            "operation": "test-op",
            "name": "Test",
            "coordinator": "un-ocha",
            "coordinator_name": "UN OCHA",
            "key": key,
            "witness": op.keys.new_witness("un-ocha").verifier().key_string(),
        },
        clock(),
    )
    for party, role in [
        ("icrc", "facilitator"),
        ("ukraine", "party-to-conflict"),
        ("russia", "party-to-conflict"),
    ]:
        actor = f"{party}/liaison"
        op.submit(
            COORD,
            "party.joined",
            {
                "party": party,
                "name": party,
                "role": role,
                "key": {"actor": actor, "public_key": public_key_b64(op.keys.new_actor(actor))},
                "witness": op.keys.new_witness(party).verifier().key_string(),
            },
            clock(),
        )
    op.submit(
        COORD,
        "site.declared",
        {"site": "plant", "name": "Plant", "site_kind": "pickup", "lat": 47.1, "lon": 37.6},
        clock(),
    )
    return op, clock


def size_of(op: Operation) -> int:
    return op.log.size()


def test_a_command_becomes_a_signed_entry_and_is_folded(
    tmp_path: Path, database: str | None
) -> None:
    op, clock = opened(tmp_path, database)
    receipt = op.submit(
        COORD,
        "site.declared",
        {"site": "zap", "name": "Zaporizhzhia", "site_kind": "reception", "lat": 47.8, "lon": 35.1},
        clock(),
    )
    assert receipt.index == size_of(op) - 1
    assert op.state.sites["zap"].name == "Zaporizhzhia"
    assert op.log.store.entry(receipt.index).startswith(b'{"actor":"un-ocha/coordinator"')
    op.close()


@pytest.mark.parametrize(
    ("actor", "kind", "body", "error", "field"),
    [
        (
            COORD,
            "site.declared",
            {"site": "plant", "name": "x", "site_kind": "pickup", "lat": 1.0, "lon": 1.0},
            RuleError,
            "body.site",
        ),
        (
            COORD,
            "site.declared",
            {"site": "x", "name": "x", "site_kind": "pickup", "lat": 100.0, "lon": 1.0},
            FormatError,
            "body.lat",
        ),
        (
            "russia/liaison",
            "site.declared",
            {"site": "x", "name": "x", "site_kind": "pickup", "lat": 1.0, "lon": 1.0},
            RuleError,
            "actor",
        ),
        (
            COORD,
            "route.declared",
            {"route": "r", "name": "R", "sites": ["plant", "nowhere"]},
            RuleError,
            "body.sites.1",
        ),
    ],
)
def test_a_refused_command_writes_nothing(
    tmp_path: Path,
    database: str | None,
    actor: str,
    kind: str,
    body: dict[str, Any],
    error: type,
    field: str,
) -> None:
    op, clock = opened(tmp_path, database)
    before = size_of(op)
    with pytest.raises(error) as err:
        op.submit(actor, kind, body, clock())
    assert err.value.field == field
    assert size_of(op) == before
    op.close()
    with Operation.open(tmp_path / "op") as again:
        assert again.log.size() == before


def test_the_same_event_submitted_twice_is_one_entry(tmp_path: Path, database: str | None) -> None:
    op, clock = opened(tmp_path, database)
    event = sign_event(
        operation="test-op",
        at=clock(),
        actor="russia/liaison",
        body=parse_body(
            "incident.reported",
            {
                "incident": "i1",
                "incident_kind": "delay",
                "occurred_at": "2022-04-29T09:00:00Z",
                "description": "held",
            },
        ),
        key=op.keys.actor("russia/liaison"),
    )
    first = op.submit_event(event)
    again = op.submit_event(event)
    assert (again.index, again.id, again.duplicate) == (first.index, first.id, True)
    assert size_of(op) == first.index + 1
    op.close()


def test_reopening_folds_the_same_state(tmp_path: Path, database: str | None) -> None:
    op, _ = opened(tmp_path, database)
    report = op.report().model_dump_json()
    op.close()
    with Operation.open(tmp_path / "op") as again:
        assert again.report().model_dump_json() == report


def test_every_party_cosigns_and_the_report_names_them(
    tmp_path: Path, database: str | None
) -> None:
    op, _ = opened(tmp_path, database)
    for party in ("un-ocha", "icrc", "ukraine", "russia"):
        op.cosign(party, timestamp=1651300000)
    report = op.report()
    assert report.checkpoint is not None
    assert report.checkpoint.size == size_of(op)
    assert sorted(report.checkpoint.cosigners) == ["icrc", "russia", "ukraine", "un-ocha"]
    op.close()


def test_a_witness_refuses_a_rewritten_or_shrunk_history(
    tmp_path: Path, database: str | None
) -> None:
    op, clock = opened(tmp_path, database)
    op.cosign("ukraine", timestamp=1651300000)
    cosigned = size_of(op)
    op.submit(
        COORD,
        "site.declared",
        {"site": "zap", "name": "Zap", "site_kind": "reception", "lat": 47.8, "lon": 35.1},
        clock(),
    )
    op.cosign("ukraine", timestamp=1651300100)  # an extension: fine
    op.close()
    # someone rewrites an entry that the witness already cosigned, hashes and all
    statements = [
        "DELETE FROM checkpoints",
        "DELETE FROM nodes WHERE idx >= 0 AND level >= 0 AND (idx << level) >= ?",
        "DELETE FROM entries WHERE idx >= ?",
    ]
    if database is None:
        db = sqlite3.connect(tmp_path / "op" / "log" / "log.db")
        with db:
            for statement in statements:
                db.execute(statement, () if "?" not in statement else (cosigned - 1,))
        db.close()
    else:
        with psycopg.connect(database, options="-c search_path=log") as pg:
            for statement in statements:
                args = () if "?" not in statement else (cosigned - 1,)
                pg.execute(statement.replace("?", "%s"), args)  # type: ignore[arg-type]
    with Operation.open(tmp_path / "op") as shrunk, pytest.raises(RuleError, match="shrank"):
        shrunk.cosign("ukraine")


# --- where the data is: DIR/database.url --------------------------------------------------------


def test_the_database_is_recorded_at_create_and_used_by_every_opening(
    tmp_path: Path, postgres_url: str
) -> None:
    op, _ = opened(tmp_path, postgres_url)
    size = op.log.size()
    assert op.database == postgres_url
    op.close()
    record = tmp_path / "op" / DATABASE_FILE
    assert record.read_text().strip() == postgres_url
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert sorted(p.name for p in (tmp_path / "op").iterdir()) == [
        DATABASE_FILE,
        "keys",
        "log",
    ]  # no SQLite file anywhere: log, projections (and vault) are in the database
    assert sorted(p.name for p in (tmp_path / "op" / "log").iterdir()) == ["log.key", "log.vkey"]
    with Operation.open(tmp_path / "op") as again:  # DIR alone finds the database
        assert again.database == postgres_url
        assert again.log.size() == size
        assert again.projections.position() == (size, again.log.store.root().hex())
    with Operation.open(tmp_path / "op", database=postgres_url) as same:
        assert same.log.size() == size
    with psycopg.connect(postgres_url) as pg:
        schemas = {r[0] for r in pg.execute("SELECT table_schema FROM information_schema.tables")}
        public = pg.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert {"log", "projections"} <= schemas
    assert public == (0,)  # nothing of ours collides with what others put in public


def test_another_database_than_the_recorded_one_is_refused(
    tmp_path: Path, postgres_url: str
) -> None:
    op, _ = opened(tmp_path, postgres_url)
    op.close()
    other = "postgresql://someone:s3cret@127.0.0.1:1/elsewhere"
    with pytest.raises(StoreError) as err:
        Operation.open(tmp_path / "op", database=other)
    assert err.value.field == "--db"
    assert "s3cret" not in str(err.value)
    with pytest.raises(StoreError) as again:
        Operation.create(tmp_path / "op", "test-op", other)
    assert again.value.field == "--db"


def test_a_sqlite_operation_opened_with_a_url_is_refused(tmp_path: Path, postgres_url: str) -> None:
    op, _ = opened(tmp_path, None)
    op.close()
    assert not (tmp_path / "op" / DATABASE_FILE).exists()
    with pytest.raises(StoreError) as err:
        Operation.open(tmp_path / "op", database=postgres_url)
    assert err.value.field == "--db"
    assert "SQLite" in err.value.reason


@pytest.mark.parametrize("url", ["sqlite:///elsewhere.db", "mysql://ops@db/x", "azovstal"])
def test_a_url_that_is_not_postgresql_creates_nothing(tmp_path: Path, url: str) -> None:
    with pytest.raises(StoreError) as err:
        Operation.create(tmp_path / "op", "test-op", url)
    assert err.value.field == "--db"
    assert not (tmp_path / "op").exists()


def test_a_create_that_cannot_reach_the_database_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        Operation.create(tmp_path / "op", "test-op", "postgresql://nobody@127.0.0.1:1/x")
    assert not (tmp_path / "op").exists()


def test_the_vault_finds_the_operation_s_database(tmp_path: Path, database: str | None) -> None:
    op, _ = opened(tmp_path, database)
    op.close()
    fast = {"n": 2**10, "r": 8, "p": 1}
    with Vault.create(tmp_path / "op", "test-op", passphrase="p", scrypt=fast) as vault:
        assert (vault.engine.dialect.name == "postgresql") is (database is not None)
        vault.put_pending([vault.seal("P-1", PersonalData("A", "B"))])
    assert (tmp_path / "op" / "vault" / "vault.db").exists() is (database is None)
    with Vault.open(tmp_path / "op", database=database) as vault:
        assert vault.statuses() == {"P-1": "pending"}
    if database is not None:
        with pytest.raises(StoreError) as err:
            Vault.open(tmp_path / "op", database=database + "x")
        assert err.value.field == "--db"
