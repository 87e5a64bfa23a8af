"""The vault with a real operation: register, read with a purpose, erase, settle crashes.

Every test runs on both backends (``op_dir`` is parametrized): the demo operation in SQLite
files, or the same events in a PostgreSQL database (the vault's records in its ``vault``
schema). What erasure leaves on disk is checked per backend: SQLite's file and WAL, and
PostgreSQL's row versions.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import event, select

from safepassage.app.demo import run_demo
from safepassage.app.operation import Operation, Receipt
from safepassage.app.persons import (
    RESETTLE_SECONDS,
    AlreadyImported,
    NewPerson,
    Registered,
    Unsettled,
    erase_person,
    read_person,
    register_people,
    sealed_ahead,
    settle,
)
from safepassage.database import DATABASE_FILE, record_database, recorded_database
from safepassage.errors import FormatError, RuleError, SignatureError, StoreError
from safepassage.events.envelope import Event
from safepassage.server import writer as writer_module
from safepassage.vault.crypto import commitment
from safepassage.vault.schema import metadata, records
from safepassage.vault.store import PersonalData, Vault, access_statement
from tests.postgres import PostgresServer

FAST = {"n": 2**10, "r": 8, "p": 1}
AT = datetime(2022, 5, 1, 9, 0, tzinfo=UTC)
REGISTRAR = "icrc/registrar-1"
COORDINATOR = "un-ocha/coordinator"


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("template") / "azovstal"
    run_demo(directory).close()
    return directory


@pytest.fixture(scope="module")
def pg_demo_template(
    demo_template: Path, postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, str]]:
    """The demo's events replayed into a PostgreSQL database: its folder and database name."""
    name = postgres_server.create_database()
    directory = tmp_path_factory.mktemp("pg-template") / "azovstal"
    with Operation.open(demo_template) as demo:
        events, operation = list(demo.events()), demo.state.operation or ""
    with Operation.create(directory, operation, postgres_server.url(name)) as op:
        assert all(isinstance(a, Receipt) for a in op.submit_events(events))
    shutil.copytree(demo_template / "keys", directory / "keys")
    yield directory, name
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def op_dir(request: pytest.FixtureRequest, demo_template: Path, tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "azovstal"
    if request.param == "sqlite":
        shutil.copytree(demo_template, directory)
        shutil.rmtree(directory / "vault")  # the demo's own vault: these tests make theirs
        yield directory
        return
    template, template_db = request.getfixturevalue("pg_demo_template")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database(template=template_db)  # a copy of the replayed demo
    shutil.copytree(template, directory)
    (directory / DATABASE_FILE).unlink()
    record_database(directory, server.url(name))
    yield directory
    server.drop_database(name)


@pytest.fixture
def opened(op_dir: Path) -> Iterator[tuple[Operation, Vault]]:
    with Operation.open(op_dir) as op:
        vault = Vault.create(
            op_dir, op.state.operation or "", passphrase="pass phrase", scrypt=FAST
        )
        with vault:
            yield op, vault


def person(
    name: str, *, destination: str = "zaporizhzhia", submission: str | None = None
) -> NewPerson:
    return NewPerson(
        household="H-canary-1",
        site="azovstal",
        age_band="18-59",
        sex="female",
        destination=destination,
        data=PersonalData(name, "CANARY-FAMILY", "1980-02-03", "CANARY-DOC-42", "+380 1", None),
        submission_id=submission,
    )


def test_the_vault_migrations_create_exactly_the_declared_tables(
    opened: tuple[Operation, Vault],
) -> None:
    _, vault = opened
    with vault.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_a_registration_puts_data_in_the_vault_and_only_a_commitment_in_the_log(
    opened: tuple[Operation, Vault],
) -> None:
    op, vault = opened
    size = op.log.size()
    [answer] = register_people(op, vault, [person("CANARY-GIVEN-1")], actor=REGISTRAR, at=AT)
    assert isinstance(answer, Registered)
    assert op.log.size() == size + 1
    registered = op.state.persons[answer.ref]
    assert registered.destination == "zaporizhzhia"
    raw = b"".join(r for _, r in op.log.store.iter_entries(size))
    assert b"CANARY" not in raw.replace(b"H-canary-1", b"")
    key = vault.unlock(passphrase="pass phrase")
    data, salt = read_person(op, vault, key, answer.ref, actor=COORDINATOR, purpose="tracing")
    assert data.given_name == "CANARY-GIVEN-1"
    assert salt == answer.salt
    event_commitment = [e for e in op.events() if e.kind == "person.registered"][-1].body
    assert event_commitment.commitment == commitment(salt, data.committed(answer.ref))  # type: ignore[attr-defined]
    [access] = vault.accesses(answer.ref, key=key)
    assert (access.actor, access.action, access.purpose) == (COORDINATOR, "show", "tracing")
    [sealed] = vault.accesses(answer.ref)  # without the data key, the purpose stays sealed
    assert "tracing" not in sealed.purpose
    statement = access_statement(vault.operation, COORDINATOR, answer.ref, "show", access.at)
    assert access.signature is not None  # signed by the actor's own key of record
    actor_key = op.state.actors[COORDINATOR].public_key
    Ed25519PublicKey.from_public_bytes(actor_key).verify(access.signature, statement)


def test_opening_a_record_needs_the_actor_s_own_key_not_only_the_data_key(
    opened: tuple[Operation, Vault], op_dir: Path
) -> None:
    op, vault = opened
    [answer] = register_people(op, vault, [person("CANARY-GIVEN-K")], actor=REGISTRAR, at=AT)
    assert isinstance(answer, Registered)
    key = vault.unlock(passphrase="pass phrase")
    (op_dir / "keys" / "un-ocha__coordinator.key").unlink()  # not on this machine
    with pytest.raises(StoreError) as err:
        read_person(op, vault, key, answer.ref, actor=COORDINATOR, purpose="tracing")
    assert err.value.field == "actor"
    assert vault.accesses(answer.ref) == []


def test_only_staff_actors_open_a_record_and_each_opening_is_recorded(
    opened: tuple[Operation, Vault],
) -> None:
    op, vault = opened
    [answer] = register_people(op, vault, [person("CANARY-GIVEN-2")], actor=REGISTRAR, at=AT)
    assert isinstance(answer, Registered)
    key = vault.unlock(passphrase="pass phrase")
    for outsider in ("russia/liaison", "ukraine/liaison"):
        with pytest.raises(RuleError) as err:
            read_person(op, vault, key, answer.ref, actor=outsider, purpose="curiosity")
        assert err.value.field == "actor"
        assert "only the coordinator's and facilitators'" in err.value.reason
    with pytest.raises(FormatError) as why:
        read_person(op, vault, key, answer.ref, actor=COORDINATOR, purpose="  ")
    assert why.value.field == "purpose"
    assert vault.accesses(answer.ref) == []  # refused openings decrypted nothing


def test_a_wrong_passphrase_or_key_file_opens_nothing(op_dir: Path) -> None:
    with Operation.open(op_dir) as op:
        Vault.create(op_dir, op.state.operation or "", passphrase="right", scrypt=FAST).close()
    with Vault.open(op_dir) as vault:
        with pytest.raises(SignatureError) as err:
            vault.unlock(passphrase="wrong")
        assert err.value.field == "passphrase"
        with pytest.raises(FormatError) as missing:
            vault.unlock(key_file=os.urandom(32))
        assert missing.value.field == "passphrase"


def test_an_operation_without_a_vault_says_so(op_dir: Path) -> None:
    with pytest.raises(StoreError) as err:
        Vault.open(op_dir)
    assert err.value.field == "vault"
    assert "vault init" in err.value.reason


def test_a_refused_registration_leaves_nothing_in_the_vault(
    opened: tuple[Operation, Vault],
) -> None:
    op, vault = opened
    before, size = vault.refs(), op.log.size()
    good, bad = person("CANARY-GIVEN-3"), person("CANARY-GIVEN-4", destination="azovstal")
    answers = register_people(op, vault, [good, bad], actor=REGISTRAR, at=AT)
    assert isinstance(answers[0], Registered)
    assert isinstance(answers[1], RuleError)
    assert answers[1].field == "body.destination"
    assert vault.refs() == before | {answers[0].ref}
    assert op.log.size() == size + 1


def test_a_submission_is_imported_once(opened: tuple[Operation, Vault]) -> None:
    op, vault = opened
    first = register_people(
        op, vault, [person("A-CANARY", submission="uuid:1")], actor=REGISTRAR, at=AT
    )
    again = register_people(
        op,
        vault,
        [person("A-CANARY", submission="uuid:1"), person("B-CANARY", submission="uuid:2"),
         person("B-CANARY", submission="uuid:2")],
        actor=REGISTRAR,
        at=AT,
    )  # fmt: skip
    assert isinstance(first[0], Registered)
    assert again[0] == AlreadyImported("uuid:1", first[0].ref)
    assert isinstance(again[1], Registered)
    assert again[2] == AlreadyImported("uuid:2", again[1].ref)


def test_a_party_liaison_cannot_register(opened: tuple[Operation, Vault]) -> None:
    op, vault = opened
    with pytest.raises(RuleError) as err:
        register_people(op, vault, [person("X-CANARY")], actor="russia/liaison", at=AT)
    assert err.value.field == "actor"


def _statuses(vault: Vault, refs: list[str]) -> dict[str, str | None]:
    return {ref: vault.status(ref) for ref in refs}


def test_a_lazy_batch_settles_the_last_one_without_reading_what_is_pending(
    opened: tuple[Operation, Vault], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server's writer leaves each batch pending and notes what to hold and what to drop;
    the next batch does both in its own transaction, and never lists the pending records."""
    op, vault = opened
    lazy = Unsettled()
    first = register_people(
        op, vault, [person("CANARY-L1"), person("CANARY-L2", destination="azovstal")],
        actor=REGISTRAR, at=AT, lazy=lazy,
    )  # fmt: skip
    assert isinstance(first[0], Registered)
    assert isinstance(first[1], RuleError)
    [refused] = [r for r in vault.refs() if vault.status(r) == "pending" and r != first[0].ref]
    assert _statuses(vault, [first[0].ref, refused]) == {
        first[0].ref: "pending",
        refused: "pending",
    }
    assert (lazy.held, lazy.dropped, lazy.known) == ([first[0].ref], [refused], True)

    def listed(*_: object, **__: object) -> None:
        raise AssertionError("listed the pending records")

    monkeypatch.setattr(Vault, "settle", listed)
    [second] = register_people(op, vault, [person("CANARY-L3")], actor=REGISTRAR, at=AT, lazy=lazy)
    assert isinstance(second, Registered)
    assert _statuses(vault, [first[0].ref, refused, second.ref]) == {
        first[0].ref: "held",
        refused: None,  # its event was refused: dropped
        second.ref: "pending",
    }
    monkeypatch.undo()
    settle(op, vault)  # what the writer does when it stops
    assert vault.status(second.ref) == "held"


def test_a_lazy_batch_after_one_that_failed_reads_the_vault(
    opened: tuple[Operation, Vault], monkeypatch: pytest.MonkeyPatch
) -> None:
    op, vault = opened
    lazy = Unsettled()
    register_people(op, vault, [person("CANARY-F1")], actor=REGISTRAR, at=AT, lazy=lazy)
    with monkeypatch.context() as m:
        m.setattr(op.log, "append_batch", lambda _: (_ for _ in ()).throw(StoreError("down")))
        with pytest.raises(StoreError):
            register_people(op, vault, [person("CANARY-F2")], actor=REGISTRAR, at=AT, lazy=lazy)
    assert not lazy.known  # the next batch cannot trust what was noted
    [third] = register_people(op, vault, [person("CANARY-F3")], actor=REGISTRAR, at=AT, lazy=lazy)
    assert isinstance(third, Registered)
    pending = [r for r in vault.refs() if vault.status(r) == "pending"]
    assert pending == [third.ref]  # the first held, the failed batch's record dropped


def test_a_record_erased_between_lazy_batches_stays_erased(
    opened: tuple[Operation, Vault],
) -> None:
    """Another process erases a person just registered, before the writer's next batch: that
    batch goes through, and the record stays erased (not held again, not an error)."""
    op, vault = opened
    lazy = Unsettled()
    [first] = register_people(op, vault, [person("CANARY-E1")], actor=REGISTRAR, at=AT, lazy=lazy)
    assert isinstance(first, Registered)
    key = vault.unlock(passphrase="pass phrase")
    erase_person(op, vault, key, first.ref, actor=COORDINATOR, reason="person-request", at=AT)
    [second] = register_people(op, vault, [person("CANARY-E2")], actor=REGISTRAR, at=AT, lazy=lazy)
    assert isinstance(second, Registered)
    assert _statuses(vault, [first.ref, second.ref]) == {first.ref: "erased", second.ref: "pending"}


def _refused_then_corrected(
    op: Operation,
    vault: Vault,
    lazy: Unsettled,
    submission: str,
    between: Callable[[], object] = lambda: None,
) -> tuple[object, object]:
    """A form the rules refuse (a destination that is the pickup site), then the same form
    corrected, with the same submission id, in the next lazy batch: the two answers."""
    name = f"CANARY-{submission.upper()}"
    bad = person(name, destination="azovstal", submission=submission)
    [refused] = register_people(op, vault, [bad], actor=REGISTRAR, at=AT, lazy=lazy)
    between()
    good = person(name, submission=submission)
    [again] = register_people(op, vault, [good], actor=REGISTRAR, at=AT, lazy=lazy)
    return refused, again


def test_a_form_refused_then_corrected_registers_in_the_next_lazy_batch(
    opened: tuple[Operation, Vault],
) -> None:
    """Its refused record is still pending (the next batch drops it): the corrected form with
    the same submission id is registered, not answered as already imported (found by review)."""
    op, vault = opened
    first, second = _refused_then_corrected(op, vault, Unsettled(), "form-1")
    assert isinstance(first, RuleError)
    assert isinstance(second, Registered)
    assert second.ref in op.state.persons


def test_records_kept_for_a_registration_under_way_elsewhere_are_dropped_later(
    opened: tuple[Operation, Vault],
) -> None:
    """Another process is registering (it holds the shared lock, its record is pending): the
    writer keeps that record, but still drops its own refused one, and registers the
    corrected form; once the other process is gone, what it left unlogged is dropped."""
    op, vault = opened
    lazy = Unsettled()
    with vault.registering():  # the other process, between its vault write and its log commit
        vault.put_pending([vault.seal("P-OTHERPROCESS", person("CANARY-K0").data, "cli-1")])
        register_people(op, vault, [person("CANARY-K1")], actor=REGISTRAR, at=AT, lazy=lazy)
        refused, again = _refused_then_corrected(op, vault, lazy, "form-2")
        assert isinstance(refused, RuleError)
        assert isinstance(again, Registered)
        assert vault.status("P-OTHERPROCESS") == "pending"  # it may still be logged
    register_people(op, vault, [person("CANARY-K3")], actor=REGISTRAR, at=AT, lazy=lazy)
    assert vault.status("P-OTHERPROCESS") is None  # its process is gone without logging it
    pending = {r for r in vault.refs() if vault.status(r) == "pending"}
    assert pending <= op.state.persons.keys()  # only the last batch's: logged, held by the next


def test_a_refused_form_resubmitted_when_the_writer_settles_from_the_vault(
    opened: tuple[Operation, Vault],
) -> None:
    op, vault = opened
    lazy = Unsettled()

    def minute_up() -> None:  # this batch reads the vault
        lazy.settled_at -= RESETTLE_SECONDS

    with vault.registering():  # a long import elsewhere, nothing of its own pending yet
        _, again = _refused_then_corrected(op, vault, lazy, "form-3", between=minute_up)
    assert isinstance(again, Registered)


def _dies_before_shredding(
    op_dir: Path, vault: Vault, ref: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process erases ``ref``: logged, then it dies before shredding."""
    key = vault.unlock(passphrase="pass phrase")
    with Operation.open(op_dir) as other, monkeypatch.context() as m:
        m.setattr(Vault, "shred", lambda *_, **__: (_ for _ in ()).throw(SystemExit("killed")))
        with pytest.raises(SystemExit):
            erase_person(other, vault, key, ref, actor=COORDINATOR, reason="person-request", at=AT)


def test_an_erasure_first_seen_while_settling_is_finished_by_the_next_batch(
    opened: tuple[Operation, Vault], op_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The erasure is logged while the writer's settling waits for the lock (found by review:
    it was counted as seen, and never shredded)."""
    op, vault = opened
    lazy = Unsettled()
    [gone] = register_people(op, vault, [person("CANARY-G1")], actor=REGISTRAR, at=AT)
    register_people(op, vault, [person("CANARY-G2")], actor=REGISTRAR, at=AT, lazy=lazy)
    vault.put_pending([vault.seal("P-ORPHANORPHAN", person("CANARY-G0").data)])  # takes the lock
    real = Vault._lock_file
    fired: list[bool] = []

    @contextlib.contextmanager
    def lock_file(self: Vault) -> Iterator[int]:
        if not fired:
            fired.append(True)
            _dies_before_shredding(op_dir, vault, gone.ref, monkeypatch)
        with real(self) as fd:
            yield fd

    lazy.settled_at -= RESETTLE_SECONDS  # this batch settles from the vault
    monkeypatch.setattr(Vault, "_lock_file", lock_file)
    register_people(op, vault, [person("CANARY-G3")], actor=REGISTRAR, at=AT, lazy=lazy)
    assert fired
    register_people(op, vault, [person("CANARY-G4")], actor=REGISTRAR, at=AT, lazy=lazy)
    assert vault.status(gone.ref) == "erased"


def test_an_idle_server_finishes_an_erasure_whose_process_died(
    opened: tuple[Operation, Vault], op_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    op, vault = opened
    monkeypatch.setattr(writer_module, "RESETTLE_SECONDS", 0.2)
    writer = writer_module.Writer(op, vault)
    try:
        [gone] = writer.register([person("CANARY-I1")], REGISTRAR).result()
        assert isinstance(gone, Registered)
        _dies_before_shredding(op_dir, vault, gone.ref, monkeypatch)
        for _ in range(300):  # no request comes: the writer settles on its own
            if vault.status(gone.ref) == "erased":
                break
            time.sleep(0.1)
        assert vault.status(gone.ref) == "erased"
    finally:
        writer.close()


def test_an_erasure_that_died_before_shredding_is_finished_by_the_next_lazy_batch(
    opened: tuple[Operation, Vault], monkeypatch: pytest.MonkeyPatch
) -> None:
    op, vault = opened
    lazy = Unsettled()
    [gone] = register_people(op, vault, [person("CANARY-D1")], actor=REGISTRAR, at=AT, lazy=lazy)
    register_people(op, vault, [person("CANARY-D2")], actor=REGISTRAR, at=AT, lazy=lazy)
    assert isinstance(gone, Registered)
    key = vault.unlock(passphrase="pass phrase")
    with monkeypatch.context() as m:  # logged, then the process died before shredding
        m.setattr(Vault, "shred", lambda *_, **__: (_ for _ in ()).throw(SystemExit("killed")))
        with pytest.raises(SystemExit):
            erase_person(
                op, vault, key, gone.ref, actor=COORDINATOR, reason="person-request", at=AT
            )
    assert gone.ref in op.state.erased
    assert vault.status(gone.ref) == "held"
    register_people(op, vault, [person("CANARY-D3")], actor=REGISTRAR, at=AT, lazy=lazy)
    assert vault.status(gone.ref) == "erased"


def test_what_another_process_left_pending_is_settled_within_a_minute(
    opened: tuple[Operation, Vault],
) -> None:
    op, vault = opened
    lazy = Unsettled()
    register_people(op, vault, [person("CANARY-M1")], actor=REGISTRAR, at=AT, lazy=lazy)
    [left] = register_people(op, vault, [person("CANARY-M2")], actor=REGISTRAR, at=AT,
                             lazy=Unsettled())  # fmt: skip  # another process, died after logging
    assert isinstance(left, Registered)
    register_people(op, vault, [person("CANARY-M3")], actor=REGISTRAR, at=AT, lazy=lazy)
    assert vault.status(left.ref) == "pending"  # the writer settles from its notes
    lazy.settled_at -= RESETTLE_SECONDS  # a minute later
    register_people(op, vault, [person("CANARY-M4")], actor=REGISTRAR, at=AT, lazy=lazy)
    assert vault.status(left.ref) == "held"


def test_a_record_logged_while_settling_waited_for_the_lock_is_held_not_dropped(
    opened: tuple[Operation, Vault],
) -> None:
    """A settle looked at the log, then another process logged a registration before the
    settle could see that none was under way: it looks again before dropping anything."""
    op, vault = opened
    seen = set(op.state.persons)  # what the settling process read first
    [logged] = register_people(op, vault, [person("CANARY-S1")], actor=REGISTRAR, at=AT,
                               lazy=Unsettled())  # fmt: skip
    assert isinstance(logged, Registered)
    assert vault.status(logged.ref) == "pending"  # left for the writer's next batch
    vault.settle(lambda ref: ref in seen, [], refresh=lambda: seen.update(op.state.persons))
    assert vault.status(logged.ref) == "held"


def test_erasure_shreds_the_record_keeps_the_figures_and_is_an_event(
    opened: tuple[Operation, Vault], op_dir: Path
) -> None:
    op, vault = opened
    [answer] = register_people(op, vault, [person("CANARY-ERASE-ME")], actor=REGISTRAR, at=AT)
    assert isinstance(answer, Registered)
    with vault.engine.connect() as conn:
        sealed_key = conn.execute(
            select(records.c.sealed_key).where(records.c.ref == answer.ref)
        ).scalar_one()
    figures = op.report().figures
    key = vault.unlock(passphrase="pass phrase")
    receipt = erase_person(
        op, vault, key, answer.ref, actor=COORDINATOR, reason="person-request", at=AT
    )
    assert isinstance(receipt, Receipt)
    assert op.state.persons[answer.ref].erased_event is not None
    assert op.report().figures == figures
    with pytest.raises(StoreError) as gone:
        read_person(op, vault, key, answer.ref, actor=COORDINATOR, purpose="tracing")
    assert "erased" in gone.value.reason
    assert [a.action for a in vault.accesses(answer.ref)] == ["erase"]
    with pytest.raises(RuleError) as twice:
        erase_person(op, vault, key, answer.ref, actor=COORDINATOR, reason="retention-ended", at=AT)
    assert twice.value.field == "body.person"
    database = recorded_database(op_dir)
    if database is not None:
        _no_row_version_holds(database, answer.ref, sealed_key)
        return
    db = op_dir / "vault" / "vault.db"
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT sealed_key, sealed_record FROM records WHERE ref = ?", (answer.ref,)
        ).fetchone()
    assert row == (None, None)
    assert not (op_dir / "vault" / "vault.db-wal").exists() or (
        (op_dir / "vault" / "vault.db-wal").stat().st_size == 0
    )


def _no_row_version_holds(database: str, ref: str, sealed_key: bytes) -> None:
    """PostgreSQL: the record's row is emptied, and no row version, live or dead, in any page
    of ``vault.records`` still holds the sealed key (VACUUM removed the one the update left)."""
    with psycopg.connect(database, autocommit=True) as pg:
        row = pg.execute(
            "SELECT sealed_key, sealed_record FROM vault.records WHERE ref = %s", (ref,)
        ).fetchone()
        assert row == (None, None)
        pg.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        held = pg.execute(
            "SELECT count(*) FROM generate_series(0, pg_relation_size('vault.records') / "
            "current_setting('block_size')::int - 1) AS block, "
            "LATERAL heap_page_items(get_raw_page('vault.records', block::int)) AS t "
            "WHERE position(%s::bytea IN t.t_data) > 0",
            (sealed_key,),
        ).fetchone()
    assert held == (0,)


def test_a_crash_between_vault_and_log_is_settled(opened: tuple[Operation, Vault]) -> None:
    op, vault = opened
    orphan = vault.seal("P-ORPHAN0001", PersonalData("CANARY-ORPHAN", "X"))
    vault.put_pending([orphan], at=datetime(2022, 1, 1, tzinfo=UTC))  # then the process died
    [answer] = register_people(op, vault, [person("CANARY-GIVEN-5")], actor=REGISTRAR, at=AT)
    assert isinstance(answer, Registered)
    assert vault.status("P-ORPHAN0001") is None  # dropped: its event never reached the log
    assert vault.status(answer.ref) == "held"


def test_settling_keeps_what_a_registration_under_way_may_still_log(
    opened: tuple[Operation, Vault],
) -> None:
    op, vault = opened
    other = vault.seal("P-INFLIGHT01", PersonalData("CANARY-INFLIGHT", "X"))
    with vault.registering():  # another process is between its vault write and its log append
        vault.put_pending([other])
        settle(op, vault)
        assert vault.status("P-INFLIGHT01") == "pending"
    settle(op, vault)  # that process died without logging it
    assert vault.status("P-INFLIGHT01") is None


def test_settling_holds_a_record_whose_event_another_process_logged(
    opened: tuple[Operation, Vault], op_dir: Path
) -> None:
    op, vault = opened
    item = vault.seal("P-LOGGED0001", PersonalData("CANARY-LOGGED", "X"))
    vault.put_pending([item])
    with Operation.open(op_dir) as other:  # it logged the event, then died before confirming
        body = {"person": "P-LOGGED0001", "household": "H-x-0001", "site": "azovstal",
                "age_band": "18-59", "sex": "male", "destination": "zaporizhzhia",
                "consent": True, "commitment": item.commitment}  # fmt: skip
        other.submit(REGISTRAR, "person.registered", body, AT)
    settle(op, vault)  # `op` has not seen that event yet: settling catches up first
    assert vault.status("P-LOGGED0001") == "held"


def test_a_record_erased_in_the_log_but_not_yet_shredded_is_shredded(
    opened: tuple[Operation, Vault],
) -> None:
    op, vault = opened
    [answer] = register_people(op, vault, [person("CANARY-HALF")], actor=REGISTRAR, at=AT)
    assert isinstance(answer, Registered)
    body = {"person": answer.ref, "reason": "person-request"}
    op.submit(COORDINATOR, "person.record.erased", body, AT)  # then the process died
    assert vault.status(answer.ref) == "held"
    settle(op, vault)
    assert vault.status(answer.ref) == "erased"


def test_a_record_swapped_in_the_vault_is_refused_on_reading(
    opened: tuple[Operation, Vault],
) -> None:
    op, vault = opened
    [answer] = register_people(op, vault, [person("CANARY-REAL")], actor=REGISTRAR, at=AT)
    assert isinstance(answer, Registered)
    # anyone who can write the file can seal a record to the public key: not the one committed
    forged = vault.seal(answer.ref, PersonalData("Someone", "Else"))
    with vault.engine.begin() as conn:
        conn.execute(
            records.update()
            .where(records.c.ref == answer.ref)
            .values(sealed_key=forged.sealed_key, sealed_record=forged.sealed_record)
        )
    key = vault.unlock(passphrase="pass phrase")
    with pytest.raises(SignatureError) as err:
        read_person(op, vault, key, answer.ref, actor=COORDINATOR, purpose="tracing")
    assert err.value.field == "ref"
    assert "committed to in the log" in err.value.reason


def test_a_person_sealed_ahead_is_registered_under_the_reference_sealed_for(
    opened: tuple[Operation, Vault],
) -> None:
    op, vault = opened
    ahead = sealed_ahead(vault, person("CANARY-AHEAD", submission="ahead-1"))
    assert ahead.sealed is not None
    [answer] = register_people(op, vault, [ahead], actor=REGISTRAR, at=AT)
    assert isinstance(answer, Registered)
    assert answer.ref == ahead.sealed.ref
    assert answer.salt == ahead.sealed.salt
    key = vault.unlock(passphrase="pass phrase")
    data, salt = read_person(op, vault, key, answer.ref, actor=COORDINATOR, purpose="tracing")
    assert data.given_name == "CANARY-AHEAD"
    assert op.state.persons[answer.ref].commitment == commitment(salt, data.committed(answer.ref))


def test_a_person_sealed_ahead_under_a_taken_reference_is_sealed_again_under_another(
    opened: tuple[Operation, Vault],
) -> None:
    op, vault = opened
    [first] = register_people(op, vault, [person("CANARY-FIRST")], actor=REGISTRAR, at=AT)
    assert isinstance(first, Registered)
    clashing = replace(
        person("CANARY-SECOND"), sealed=vault.seal(first.ref, person("CANARY-SECOND").data)
    )  # as if the random draw had hit a registered reference
    [second] = register_people(op, vault, [clashing], actor=REGISTRAR, at=AT)
    assert isinstance(second, Registered)
    assert second.ref != first.ref
    key = vault.unlock(passphrase="pass phrase")
    for answer, name in ((first, "CANARY-FIRST"), (second, "CANARY-SECOND")):
        data, salt = read_person(op, vault, key, answer.ref, actor=COORDINATOR, purpose="check")
        assert data.given_name == name
        assert op.state.persons[answer.ref].commitment == commitment(
            salt, data.committed(answer.ref)
        )


def test_a_batch_asks_the_vault_which_submissions_and_references_it_holds(
    opened: tuple[Operation, Vault],
) -> None:
    _, vault = opened
    held = [vault.seal(f"P-LOOKUP{n:04d}", person("CANARY").data, f"sub-{n}") for n in range(3)]
    vault.put_pending(held)
    unknown = [f"P-NONE{n:05d}" for n in range(1200)]  # more than one IN list's worth
    known, taken = vault.lookup(
        ["sub-0", "sub-2", *(f"other-{n}" for n in range(1200))],
        [held[1].ref, *unknown, held[2].ref],
    )
    assert known == {"sub-0": held[0].ref, "sub-2": held[2].ref}
    assert taken == {held[1].ref, held[2].ref}
    assert vault.lookup([], []) == ({}, set())
    assert vault.lookup(["sub-1"], [])[0] == {"sub-1": held[1].ref}
    assert vault.taken([*unknown[:10], held[0].ref]) == {held[0].ref}
    sent: list[str] = []
    event.listen(vault.engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    assert vault.lookup(["sub-1", "nope"], [held[0].ref, *unknown[:20]]) == (
        {"sub-1": held[1].ref},
        {held[0].ref},
    )
    assert len([s for s in sent if s.startswith("SELECT")]) == 1  # a batch asks both at once


def test_a_reference_held_only_by_a_pending_record_is_not_drawn_again(
    opened: tuple[Operation, Vault],
) -> None:
    op, vault = opened
    pending = vault.seal("P-PENDING0001", person("CANARY-PENDING").data)
    clashing = replace(person("CANARY-AFTER"), sealed=vault.seal(pending.ref, person("X").data))
    with vault.registering():  # a registration under way: in the vault, not yet in the log
        vault.put_pending([pending])
        [answer] = register_people(op, vault, [clashing], actor=REGISTRAR, at=AT)
    assert isinstance(answer, Registered)
    assert answer.ref != pending.ref
    assert vault.status(pending.ref) == "pending"  # untouched


def test_a_registration_signed_here_is_not_verified_again_unless_the_key_differs(
    opened: tuple[Operation, Vault], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server signs each registration with the actor's key and records it at once: its
    signature is checked only if that key is not the one the log has for the actor."""
    op, vault = opened
    checked: list[str] = []
    real = Event.verify

    def counted(event: Event, public_key: bytes) -> None:
        checked.append(event.id)
        real(event, public_key)

    monkeypatch.setattr(Event, "verify", counted)
    [answer] = register_people(op, vault, [person("CANARY-SIGNED")], actor=REGISTRAR, at=AT)
    assert isinstance(answer, Registered)
    assert checked == []
    stranger = Ed25519PrivateKey.generate()  # a key file that is not the key of record
    monkeypatch.setattr(op.keys, "actor", lambda _actor: stranger)
    [refused] = register_people(op, vault, [person("CANARY-STRANGER")], actor=REGISTRAR, at=AT)
    assert isinstance(refused, RuleError)
    assert (refused.field, refused.reason) == (
        "sig",
        "the signature is not icrc/registrar-1's over this event",
    )
    assert len(checked) == 1
    assert op.log.size() == answer.receipt.index + 1  # nothing recorded for it


def test_reading_the_vault_does_not_wait_for_a_writer(demo_template: Path, tmp_path: Path) -> None:
    """SQLite: a read takes no write lock, so a registration in another process committing at
    that moment holds it up for nothing (before, each read waited for the write lock)."""
    shutil.copytree(demo_template, tmp_path / "op")
    with Vault.open(tmp_path / "op") as vault:
        writer = sqlite3.connect(tmp_path / "op" / "vault" / "vault.db", isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")  # another process, mid-write
        try:
            writer.execute("PRAGMA busy_timeout=0")
            assert vault.lookup(["uuid:nobody"], ["P-NOBODY00001"]) == ({}, set())
            assert vault.status("P-NOBODY00001") is None
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        vault.put_pending([vault.seal("P-AFTERREAD01", person("CANARY").data)])
        assert vault.status("P-AFTERREAD01") == "pending"  # writes still take the lock
