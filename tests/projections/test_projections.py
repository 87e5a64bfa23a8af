"""The projection tables: migrated schema, kept up to date, caught up, rebuilt identically.

Tests that take ``database`` run on both backends: SQLite files, and a PostgreSQL database (the
tables in its ``projections`` schema, rebuilt in place in one transaction). Tests of the SQLite
file itself (a file that is no database, the rebuild beside the old file and its helper
process, following a renamed file) are SQLite-only and say so.
"""

from __future__ import annotations

import copy
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.exc import OperationalError

from safepassage.app.operation import (
    _PARALLEL_FROM,
    PROJECTIONS,
    Operation,
    Receipt,
    log_events,
)
from safepassage.errors import RuleError
from safepassage.events.envelope import Event
from safepassage.ledger.durability import unsafe
from safepassage.projections.schema import TABLES, metadata, persons, responses
from safepassage.projections.store import Projections, sqlite_url
from tests.projections.varied import COORD, varied_operation

VARIED = varied_operation()
EVENTS: list[Event] = VARIED.events


MakeDatabase = Callable[[], "str | None"]


def new_operation(directory: Path, events: list[Event], database: str | None = None) -> Operation:
    op = Operation.create(directory, VARIED.operation, database)
    for event in events:
        op.submit_event(event)
    return op


def projections_url(directory: Path, database: str | None) -> str:
    """Where the projections of the operation in ``directory`` are."""
    return sqlite_url(directory / PROJECTIONS) if database is None else database


def projections_sql(directory: Path, database: str | None, statement: str) -> None:
    """Run ``statement`` on the projection tables behind the application's back."""
    if database is None:
        with sqlite3.connect(directory / PROJECTIONS) as db:
            db.execute(statement)
        db.close()
    else:
        with psycopg.connect(database, options="-c search_path=projections") as pg:
            pg.execute(statement)  # type: ignore[arg-type]


def assert_as_rebuilt(op: Operation) -> None:
    """The tables kept event by event are the ones a rebuild from the log gives."""
    kept = op.projections.dump()
    op.rebuild()
    assert op.projections.dump() == kept


@pytest.fixture
def tmp_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name) / "op"


def test_the_migrations_create_exactly_the_declared_tables(
    tmp_path: Path, database: str | None
) -> None:
    url = database or sqlite_url(tmp_path / "p.db")
    with Projections.open(url) as p, p.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        names = set(inspect(conn).get_table_names()) - {"alembic_version"}
        assert names == set(TABLES)


def test_the_migrations_go_down_to_nothing_and_up_again(
    tmp_path: Path, database: str | None
) -> None:
    from alembic import command  # noqa: PLC0415

    from safepassage.projections.store import _alembic  # noqa: PLC0415

    with Projections.open(database or sqlite_url(tmp_path / "p.db")) as p:
        with p.engine.begin() as conn:
            command.downgrade(_alembic(conn), "base")
        with p.engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == {"alembic_version"}
        with p.engine.begin() as conn:
            command.upgrade(_alembic(conn), "head")
        with p.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_opening_twice_migrates_once_and_keeps_the_rows(
    tmp_path: Path, database: str | None
) -> None:
    with new_operation(tmp_path / "op", EVENTS, database) as op:
        before = op.projections.dump()
    with Projections.open(projections_url(tmp_path / "op", database)) as p:
        assert p.dump() == before


def test_rebuild_gives_the_tables_kept_event_by_event(tmp_path: Path, database: str | None) -> None:
    with new_operation(tmp_path / "op", EVENTS, database) as op:
        kept = op.projections.dump()
        assert op.rebuild() == (len(EVENTS), op.log.store.root().hex())
        assert op.projections.dump() == kept
        assert kept["projection_state"] == [(1, len(EVENTS), op.log.store.root().hex())]
    assert len(kept["events"]) == len(EVENTS)


def test_after_every_event_the_kept_tables_equal_the_rebuilt_ones(
    tmp_path: Path, database: str | None
) -> None:
    if database is None:
        rebuilt_url, schema = sqlite_url(tmp_path / "rebuilt.db"), "unused"
    else:
        rebuilt_url, schema = database, "rebuilt"  # beside the kept ones, in the same database
    with (
        new_operation(tmp_path / "op", [], database) as op,
        Projections.open(rebuilt_url, schema=schema) as rebuilt,
    ):
        for size, event in enumerate(EVENTS, start=1):
            op.submit_event(event)
            position = (size, op.log.store.root(size).hex())
            rebuilt.rebuild(log_events(op.log, size), position)
            assert op.projections.dump() == rebuilt.dump(), f"after {event.kind} at {size - 1}"


def test_the_tables_say_what_the_events_said(tmp_path: Path, database: str | None) -> None:
    with new_operation(tmp_path / "op", EVENTS, database) as op:
        with op.projections.engine.connect() as conn:
            status = dict(conn.execute(select(persons.c.person, persons.c.status)).all())
            said = conn.execute(
                select(responses.c.party, responses.c.response, responses.c.before_departure)
                .where(responses.c.movement == "m1")
                .order_by(responses.c.position)
            ).all()
        dump = op.projections.dump()  # before closing: a closed operation reads nothing
    assert status == {
        "P-000001": "arrived",
        "P-000002": "arrived",
        "P-000003": "left-convoy",
        "P-000004": "registered",
    }
    # the amendment wiped the objection and the first acknowledgement: each party spoke again
    assert [tuple(r) for r in said] == [
        ("ukraine", "acknowledged", True),
        ("russia", "acknowledged", True),
        ("ukraine", "acknowledged", False),
    ]
    revoked = {a[0] for a in dump["actors"] if a[3] is True}
    assert revoked == {"icrc/driver"}
    assert [m[6] for m in dump["movements"]] == ["departed", "cancelled"]
    assert dump["operation"][0][4] is True  # closed
    assert dump["pauses"][0][2] == datetime(2022, 4, 30, 7, tzinfo=UTC)  # aware, in UTC


def test_tables_left_behind_by_a_crash_catch_up_on_open(
    tmp_dir: Path, database: str | None, make_database: MakeDatabase
) -> None:
    half = len(EVENTS) // 2
    with new_operation(tmp_dir, EVENTS[:half], database) as op:
        # a crash between the log's commit and the projections' one: the log went on alone
        for event in EVENTS[half:]:
            op.log.append(event.raw)
        assert op.projections.position() == (half, op.log.store.root(half).hex())
    with Operation.open(tmp_dir) as op:
        assert op.projections.position() == (len(EVENTS), op.log.store.root().hex())
        caught_up = op.projections.dump()
    with new_operation(tmp_dir.with_name("fresh"), EVENTS, make_database()) as fresh:
        assert caught_up == fresh.projections.dump()


def test_tables_of_another_history_are_rebuilt_on_open(tmp_dir: Path) -> None:  # SQLite files
    with new_operation(tmp_dir, EVENTS) as op:
        expected = op.projections.dump()
    other = tmp_dir.with_name("other")
    with new_operation(other, EVENTS[:10]):
        pass
    shutil.copy(other / PROJECTIONS, tmp_dir / PROJECTIONS)
    for suffix in ("-wal", "-shm"):
        (tmp_dir / (PROJECTIONS + suffix)).unlink(missing_ok=True)
    with Operation.open(tmp_dir) as op:
        assert op.projections.dump() == expected


def test_tables_that_reflect_another_history_are_rebuilt_on_open(
    tmp_dir: Path, database: str | None
) -> None:
    with new_operation(tmp_dir, EVENTS, database) as op:
        expected = op.projections.dump()
    projections_sql(tmp_dir, database, "DELETE FROM persons")
    projections_sql(tmp_dir, database, f"UPDATE projection_state SET log_root = '{'ab' * 32}'")
    with Operation.open(tmp_dir) as op:
        assert op.projections.dump() == expected


def test_missing_tables_are_rebuilt_on_open(tmp_dir: Path, database: str | None) -> None:
    with new_operation(tmp_dir, EVENTS, database) as op:
        expected = op.projections.dump()
    if database is None:
        (tmp_dir / PROJECTIONS).unlink()
    else:
        with psycopg.connect(database) as pg:
            pg.execute("DROP SCHEMA projections CASCADE")
    with Operation.open(tmp_dir) as op:
        assert op.projections.dump() == expected


def test_a_database_failure_does_not_undo_a_recorded_event(
    tmp_dir: Path, database: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with new_operation(tmp_dir, EVENTS[:20], database) as op:
        real = op.projections.apply

        def refuse(*_: object, **__: object) -> None:
            raise OperationalError("INSERT", {}, sqlite3.OperationalError("disk I/O error"))

        monkeypatch.setattr(op.projections, "apply", refuse)
        receipt = op.submit_event(EVENTS[20])
        assert receipt == Receipt(20, EVENTS[20].id)  # recorded in the log all the same
        assert op.projections.position()[0] == 20  # type: ignore[index]
        monkeypatch.setattr(op.projections, "apply", real)
        op.submit_event(EVENTS[21])  # the entry that waited goes with this one
        assert op.projections.position()[0] == 22  # type: ignore[index]
        assert_as_rebuilt(op)


def test_a_batch_records_what_passes_and_names_what_does_not(
    tmp_dir: Path, database: str | None, make_database: MakeDatabase
) -> None:
    with new_operation(tmp_dir, EVENTS[:12], database) as op:
        bad = VARIED.sign(
            COORD, "person.boarded", {"person": "P-NOBODY", "movement": "m1", "vehicle": "bus-1"}
        )
        batch = [*EVENTS[12:20], bad, EVENTS[12], *EVENTS[20:]]
        commits = op.log.store.commits  # type: ignore[attr-defined]
        answers = op.submit_events(batch)
        assert op.log.size() == len(EVENTS)
        assert op.log.store.commits == commits + 1  # type: ignore[attr-defined]
        refused = answers[8]
        assert isinstance(refused, RuleError)
        assert refused.field == "body.person"
        assert "P-NOBODY" in refused.reason
        assert answers[9] == Receipt(12, EVENTS[12].id, duplicate=True)
        assert answers[-1] == Receipt(len(EVENTS) - 1, EVENTS[-1].id)
        kept = op.projections.dump()
    with new_operation(tmp_dir.with_name("one-by-one"), EVENTS, make_database()) as one:
        assert one.projections.dump() == kept


def test_a_batch_whose_commit_fails_leaves_state_and_log_agreeing(
    tmp_dir: Path, database: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with new_operation(tmp_dir, EVENTS[:12], database) as op:
        before = copy.deepcopy(op.state)

        def full_disk(_: object) -> int:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(op.log, "append_batch", full_disk)
        with pytest.raises(OSError, match="No space"):
            op.submit_events(EVENTS[12:])
        assert op.state == before  # refolded from the log: the batch's events are gone
        assert op.log.size() == 12
        monkeypatch.undo()
        assert all(isinstance(a, Receipt) for a in op.submit_events(EVENTS[12:]))


def test_an_interrupted_rebuild_leaves_the_tables_as_they_were(
    tmp_dir: Path, database: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safepassage.projections import store  # noqa: PLC0415

    with new_operation(tmp_dir, EVENTS, database) as op:
        before = op.projections.dump()
        calls = 0
        real = store.event_row

        def dies_midway(index: int, event: Event) -> dict[str, object]:
            nonlocal calls
            calls += 1
            if calls > 20:
                raise KeyboardInterrupt  # the user pressed Ctrl-C halfway through
            return real(index, event)

        monkeypatch.setattr(store, "event_row", dies_midway)
        with pytest.raises(KeyboardInterrupt):
            op.rebuild()
        monkeypatch.undo()
        assert op.projections.dump() == before  # dropping the tables was rolled back too


def test_damaged_tables_are_rebuilt_on_open(
    tmp_dir: Path, database: str | None, make_database: MakeDatabase
) -> None:
    with new_operation(tmp_dir, EVENTS[:30], database) as op:
        op.log.append_batch([e.raw for e in EVENTS[30:]])  # the tables fall behind...
    projections_sql(tmp_dir, database, "DROP TABLE persons")  # ...and lose a table
    with Operation.open(tmp_dir) as op:
        repaired = op.projections.dump()
    with new_operation(tmp_dir.with_name("fresh"), EVENTS, make_database()) as fresh:
        assert repaired == fresh.projections.dump()


def test_a_batch_checks_every_signature_even_when_checked_in_parallel(tmp_dir: Path) -> None:
    import base64  # noqa: PLC0415
    import json  # noqa: PLC0415

    import rfc8785  # noqa: PLC0415

    from safepassage.events.envelope import parse_event  # noqa: PLC0415

    victim = EVENTS[25]
    obj = json.loads(victim.raw)
    other = VARIED.keys[victim.actor].sign(b"something else entirely")
    obj["sig"] = base64.b64encode(other).decode()
    forged = parse_event(rfc8785.dumps(obj))
    with new_operation(tmp_dir, EVENTS[:12]) as op:
        batch = [*EVENTS[12:25], forged, *EVENTS[26:]]
        assert len(batch) >= _PARALLEL_FROM  # the signatures are checked on every core
        answers = op.submit_events(batch)
        refused = answers[13]
        assert isinstance(refused, RuleError)
        assert refused.field == "sig"
        assert all(isinstance(a, Receipt) for a in answers[:13])
        assert forged.raw not in [raw for _, raw in op.log.store.iter_entries()]


def test_a_batch_that_fails_midway_leaves_no_trace(
    tmp_dir: Path, database: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safepassage.operation.state import OperationState  # noqa: PLC0415

    with new_operation(tmp_dir, EVENTS[:12], database) as op:
        before = copy.deepcopy(op.state)
        real, calls = OperationState.apply, 0

        def breaks(self: OperationState, event: Event) -> None:
            nonlocal calls
            calls += 1
            if calls == 5:
                raise RuntimeError("a bug in the fold")
            real(self, event)

        monkeypatch.setattr(OperationState, "apply", breaks)
        with pytest.raises(RuntimeError, match="a bug"):
            op.submit_events(EVENTS[12:])
        monkeypatch.undo()
        assert op.state == before
        assert op.log.size() == 12
        answers = op.submit_events(EVENTS[12:])
        assert [a.index for a in answers if isinstance(a, Receipt)] == list(range(12, len(EVENTS)))


def test_an_append_by_another_process_is_answered_with_the_logs_indices(
    tmp_dir: Path, database: str | None
) -> None:
    with new_operation(tmp_dir, EVENTS[:12], database) as op, Operation.open(tmp_dir) as other:
        other.submit_event(EVENTS[12])  # another process records one event meanwhile
        answers = op.submit_events(EVENTS[13:20])
        assert answers == [Receipt(i, EVENTS[i].id) for i in range(13, 20)]
        assert op.state.events == 20
        single = op.submit_event(EVENTS[20])
        assert single == Receipt(20, EVENTS[20].id)
        assert op.projections.position() == (21, op.log.store.root(21).hex())
        assert_as_rebuilt(op)


def test_tables_set_back_behind_a_writers_back_are_caught_up_not_skipped(
    tmp_dir: Path, database: str | None
) -> None:
    """A writer advances the tables from where it left them without reading their position;
    if they stand elsewhere (restored from a backup, commits lost in a crash), nothing is
    written on that belief, and they are caught up from where they really are."""
    with new_operation(tmp_dir, EVENTS[:12], database) as op:
        projections_sql(tmp_dir, database, "DELETE FROM events WHERE idx >= 9")
        projections_sql(tmp_dir, database, "UPDATE projection_state SET log_size = 9")
        assert not op.projections.apply(op.state, [], (12, "x"), expected=12)
        assert op.projections.position()[0] == 9  # type: ignore[index]  # refused: unchanged
        op.submit_event(EVENTS[12])
        assert op.projections.position() == (13, op.log.store.root(13).hex())
        assert_as_rebuilt(op)


def test_an_append_by_another_process_just_before_ours_is_projected_at_the_logs_indices(
    tmp_dir: Path, database: str | None
) -> None:
    """Another process appends between this one's catch-up and its append, and has not
    projected yet: this one's events are projected at the indices the log gave them, not at
    the ones it had counted on (found by review: the tables then stayed wrong until reopened)."""
    with new_operation(tmp_dir, EVENTS[:12], database) as op, Operation.open(tmp_dir) as other:
        real = op.log.append_batch

        def racing(entries: list[bytes]) -> int:
            other.log.append_batch([EVENTS[12].raw])  # appended, not (yet) projected
            op.log.append_batch = real  # type: ignore[method-assign]
            return real(entries)

        op.log.append_batch = racing  # type: ignore[method-assign]
        assert op.submit_events([EVENTS[13]]) == [Receipt(13, EVENTS[13].id)]
        assert op.projections.position() == (14, op.log.store.root(14).hex())
        for event in EVENTS[14:17]:
            op.submit_event(event)
        assert op.projections.position() == (17, op.log.store.root(17).hex())
        assert_as_rebuilt(op)


def test_a_projections_file_that_is_not_a_database_is_set_aside(tmp_dir: Path) -> None:  # SQLite
    with new_operation(tmp_dir, EVENTS) as op:
        expected = op.projections.dump()
    for suffix in ("-wal", "-shm"):
        (tmp_dir / (PROJECTIONS + suffix)).unlink(missing_ok=True)
    (tmp_dir / PROJECTIONS).write_bytes(b"this is not a database" * 100)
    with Operation.open(tmp_dir) as op:
        assert op.projections.dump() == expected
    assert (tmp_dir / (PROJECTIONS + ".damaged")).read_bytes().startswith(b"this is not")


def test_a_damaged_file_is_told_apart_from_one_that_cannot_be_opened_now(  # SQLite
    tmp_path: Path,
) -> None:
    from safepassage.errors import StoreError  # noqa: PLC0415
    from safepassage.projections.store import DamagedProjectionsError  # noqa: PLC0415

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(DamagedProjectionsError) as damaged:
        Projections.open(sqlite_url(garbage))
    assert damaged.value.field == "projections"
    with pytest.raises(StoreError) as unreachable:
        Projections.open(sqlite_url(tmp_path / "no-such-folder" / "p.db"))
    assert not isinstance(unreachable.value, DamagedProjectionsError)
    assert unreachable.value.field == "projections"


def test_an_unreachable_server_is_not_taken_for_damaged_tables() -> None:
    from safepassage.errors import StoreError  # noqa: PLC0415
    from safepassage.projections.store import DamagedProjectionsError  # noqa: PLC0415

    with pytest.raises(StoreError) as unreachable:
        Projections.open("postgresql://nobody:s3cret@127.0.0.1:1/nothing")
    assert not isinstance(unreachable.value, DamagedProjectionsError)
    assert unreachable.value.field == "projections"
    assert "s3cret" not in str(unreachable.value)


def test_an_event_another_process_recorded_is_a_duplicate_not_a_second_entry(
    tmp_dir: Path, database: str | None
) -> None:
    with new_operation(tmp_dir, EVENTS[:12], database) as op, Operation.open(tmp_dir) as other:
        other.submit_event(EVENTS[12])
        assert op.submit_event(EVENTS[12]) == Receipt(12, EVENTS[12].id, duplicate=True)
        assert op.log.size() == 13


# --- SQLite only: the rebuild beside the old file, with a helper process for the events table


def _parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    from safepassage.projections import store  # noqa: PLC0415

    monkeypatch.setattr(store, "PARALLEL_FROM", 0)  # the helper process for any log


def test_a_rebuild_with_the_helper_process_gives_the_kept_tables(
    tmp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _parallel(monkeypatch)
    with new_operation(tmp_dir, EVENTS) as op:
        kept = op.projections.dump()
        op.rebuild()
        assert op.projections.dump() == kept
    with Operation.open(tmp_dir, rebuild=True) as op:
        assert op.projections.dump() == kept
    assert sorted(p.name for p in tmp_dir.iterdir() if p.name.startswith(PROJECTIONS)) in (
        [PROJECTIONS],
        [PROJECTIONS, PROJECTIONS + "-shm", PROJECTIONS + "-wal"],
    )  # no half-built file left beside it


def test_the_events_row_read_from_bytes_is_the_one_read_from_the_event() -> None:
    from safepassage.operation.projection import event_row, logged_event_row  # noqa: PLC0415

    for index, event in enumerate(EVENTS):
        assert logged_event_row(index, event.raw) == event_row(index, event), event.kind


def test_a_failing_helper_process_is_one_error_and_the_old_tables_stay(
    tmp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safepassage.app import operation  # noqa: PLC0415
    from safepassage.errors import StoreError  # noqa: PLC0415

    _parallel(monkeypatch)
    with new_operation(tmp_dir, EVENTS) as op:
        before = op.projections.dump()
        # the helper reads a log file that is not there: it fails in its own process
        monkeypatch.setattr(operation, "DB_FILE", "no-such-log.db")
        with pytest.raises(StoreError) as failed:
            op.rebuild()
        assert failed.value.field == "projections"
        assert "helper process" in str(failed.value)
        assert "no-such-log.db" in str(failed.value)  # the helper's own one-line reason
        assert op.projections.dump() == before
    assert not (tmp_dir / (PROJECTIONS + ".rebuild")).exists()


def test_an_interrupted_rebuild_stops_its_helper_and_leaves_the_old_tables(
    tmp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safepassage.operation.state import OperationState  # noqa: PLC0415

    _parallel(monkeypatch)
    with new_operation(tmp_dir, EVENTS) as op:
        before = op.projections.dump()
        real, calls = OperationState.apply, 0

        def interrupted(self: OperationState, event: Event) -> None:
            nonlocal calls
            calls += 1
            if calls == 30:
                raise KeyboardInterrupt  # Ctrl-C while the helper writes the events table
            real(self, event)

        monkeypatch.setattr(OperationState, "apply", interrupted)
        with pytest.raises(KeyboardInterrupt):
            op.rebuild()
        monkeypatch.undo()
        assert op.projections.dump() == before
    assert not (tmp_dir / (PROJECTIONS + ".rebuild")).exists()


def test_an_operation_follows_a_rebuild_made_by_another_process(
    tmp_dir: Path, database: str | None
) -> None:
    with new_operation(tmp_dir, EVENTS[:40], database) as op:
        with Operation.open(tmp_dir) as other:
            other.rebuild()  # SQLite: renames a new file over the one `op` has open
        for event in EVENTS[40:]:
            op.submit_event(event)
        kept = op.projections.dump()
        with Projections.open(projections_url(tmp_dir, database)) as now:  # what is there now
            position = now.position()
        assert position is not None
        assert position[0] == len(EVENTS)  # not written to the file the rename replaced
    with Operation.open(tmp_dir, rebuild=True) as fresh:
        assert fresh.projections.dump() == kept


def test_tables_of_the_first_migration_are_migrated_and_rebuilt(
    tmp_dir: Path, database: str | None
) -> None:
    from alembic import command  # noqa: PLC0415

    from safepassage.projections.store import _alembic  # noqa: PLC0415

    with new_operation(tmp_dir, EVENTS, database) as op:
        kept = op.projections.dump()
        with op.projections.engine.begin() as conn:
            command.downgrade(_alembic(conn), "0001")  # as a file made before 0002 was
    with Operation.open(tmp_dir) as op:
        assert op.projections.dump() == kept
        with op.projections.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_the_projections_commit_without_a_flush_while_the_log_stays_durable(
    tmp_path: Path, database: str | None
) -> None:
    with new_operation(tmp_path / "op", EVENTS[:3], database) as op:
        with op.projections.engine.connect() as conn:
            if database is None:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            else:
                assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
        assert unsafe(op.log.store) == []  # the record itself waits for every flush
