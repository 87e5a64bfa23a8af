"""Tamper evidence: any stored byte altered, removed or reordered is found and named."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safepassage.errors import VerificationError
from safepassage.ledger import merkle
from safepassage.ledger.audit import audit
from safepassage.ledger.log import DB_FILE, Log, read_verifier
from safepassage.ledger.note import Signer
from safepassage.ledger.sqlite import SqliteLogStore
from tests.strategies import flip_bit

SIZE = 100
CHECKPOINTS = (10, 64, 100)


def payload(i: int) -> bytes:
    return b"entry-%04d-payload-of-the-test-log" % i


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("template") / "log"
    with Log.create(directory, "audit.example/log") as log:
        done = 0
        for size in CHECKPOINTS:
            log.append_batch([payload(i) for i in range(done, size)])
            log.checkpoint()
            done = size
    assert not (directory / (DB_FILE + "-wal")).exists()  # closed cleanly: one file holds all
    return directory


@pytest.fixture
def copy(template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "log"
    shutil.copytree(template, target)
    return target


def check(directory: Path) -> None:
    with Log.open(directory) as log:
        audit(log.store, log.verifier)


def bad_entry(directory: Path) -> VerificationError:
    with pytest.raises(VerificationError) as err:
        check(directory)
    return err.value


def sql(directory: Path, statement: str, *args: object) -> None:
    db = sqlite3.connect(directory / DB_FILE)
    with db:
        db.execute(statement, args)
    db.close()


def test_an_untouched_log_verifies(copy: Path) -> None:
    seen: list[int] = []
    with Log.open(copy) as log:
        result = audit(log.store, log.verifier, seen.append)
    assert result.size == SIZE
    assert result.checkpoints == len(CHECKPOINTS)
    assert result.root == merkle.root([merkle.leaf_hash(payload(i)) for i in range(SIZE)])
    assert seen[-1] == SIZE


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(index=st.integers(0, SIZE - 1), bit=st.integers(0, 8 * len(payload(0)) - 1))
def test_any_bit_of_any_entry(
    template: Path, tmp_path_factory: pytest.TempPathFactory, index: int, bit: int
) -> None:
    directory = tmp_path_factory.mktemp("t") / "log"
    shutil.copytree(template, directory)
    sql(
        directory, "UPDATE entries SET data = ? WHERE idx = ?", flip_bit(payload(index), bit), index
    )
    err = bad_entry(directory)
    assert err.index == index
    assert f"entry {index}" in str(err)


def _all_nodes(directory: Path) -> list[tuple[int, int, bytes]]:
    db = sqlite3.connect(directory / DB_FILE)
    rows = db.execute("SELECT level, idx, hash FROM nodes ORDER BY level, idx").fetchall()
    db.close()
    return rows


def test_any_stored_hash(template: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    nodes = _all_nodes(template)
    assert len(nodes) == 2 * SIZE - SIZE.bit_count()  # every perfect subtree is stored
    for level, idx, h in nodes:
        directory = tmp_path_factory.mktemp("n") / "log"
        shutil.copytree(template, directory)
        sql(
            directory,
            "UPDATE nodes SET hash = ? WHERE level = ? AND idx = ?",
            flip_bit(h, 5),
            level,
            idx,
        )
        err = bad_entry(directory)
        assert err.index == idx << level, (level, idx, str(err))


def test_a_removed_entry(copy: Path) -> None:
    sql(copy, "DELETE FROM entries WHERE idx = 37")
    err = bad_entry(copy)
    assert err.index == 37
    assert "entry 37 is missing" in str(err)


def test_the_last_entry_removed(copy: Path) -> None:
    sql(copy, "DELETE FROM entries WHERE idx = ?", SIZE - 1)
    sql(copy, "DELETE FROM nodes WHERE level = 0 AND idx = ?", SIZE - 1)
    err = bad_entry(copy)
    assert err.index == SIZE - 1


def test_the_tail_removed_with_its_hashes(copy: Path) -> None:
    # Everything after entry 79 removed, hashes too: only the signed checkpoint at 100 knows.
    sql(copy, "DELETE FROM entries WHERE idx >= 80")
    for level in range(8):
        sql(copy, "DELETE FROM nodes WHERE level = ? AND idx >= ?", level, 80 >> level)
    err = bad_entry(copy)
    assert err.index == 80
    assert "entry 80 is missing" in str(err)


def test_two_entries_swapped(copy: Path) -> None:
    sql(copy, "UPDATE entries SET data = ? WHERE idx = 71", payload(12))
    sql(copy, "UPDATE entries SET data = ? WHERE idx = 12", payload(71))
    assert bad_entry(copy).index == 12


def test_an_entry_renumbered(copy: Path) -> None:
    sql(copy, "UPDATE entries SET idx = 500 WHERE idx = 5")
    assert bad_entry(copy).index == 5


def test_text_written_over_an_entry(copy: Path) -> None:
    sql(copy, "UPDATE entries SET data = 'entry-0042-payload-of-the-test-log' WHERE idx = 42")
    # same characters, but the store holds the value as TEXT: it reads back as the same bytes,
    # so the log still verifies (nothing a reader gets has changed) ...
    check(copy)
    sql(copy, "UPDATE entries SET data = 'entry-0042-PAYLOAD' WHERE idx = 42")
    assert bad_entry(copy).index == 42  # ... and any change of content is named


def test_a_rewrite_with_every_hash_recomputed_is_caught_by_the_checkpoints(copy: Path) -> None:
    forged = [payload(i) if i != 70 else b"forged" for i in range(SIZE)]
    db = sqlite3.connect(copy / DB_FILE)
    with db:
        db.execute("UPDATE entries SET data = ? WHERE idx = 70", (b"forged",))
        db.execute("DELETE FROM nodes")
    db.close()
    # rebuild every subtree hash exactly as the store would have written them
    rows = []
    level_hashes = [merkle.leaf_hash(x) for x in forged]
    level = 0
    while level_hashes:
        rows += [(level, i, h) for i, h in enumerate(level_hashes)]
        level_hashes = [
            merkle.node_hash(level_hashes[i], level_hashes[i + 1])
            for i in range(0, len(level_hashes) - 1, 2)
        ]
        level += 1
    db = sqlite3.connect(copy / DB_FILE)
    with db:
        db.executemany("INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)", rows)
    db.close()
    err = bad_entry(copy)
    assert err.index == 64  # the checkpoint at 64 still matches; the one at 100 does not
    assert "entries 64-99 do not match the signed checkpoint at size 100" in str(err)


@pytest.mark.parametrize("line", [0, 1, 2, 4])
def test_any_line_of_a_stored_checkpoint(copy: Path, line: int) -> None:
    db = sqlite3.connect(copy / DB_FILE)
    note = db.execute("SELECT note FROM checkpoints WHERE size = 64").fetchone()[0]
    db.close()
    lines = note.split("\n")
    lines[line] = lines[line][:-2] + ("A" if lines[line][-2] != "A" else "B") + lines[line][-1]
    sql(copy, "UPDATE checkpoints SET note = ? WHERE size = 64", "\n".join(lines))
    err = bad_entry(copy)
    assert err.field == "checkpoint 64", str(err)


def test_a_checkpoint_signed_by_another_key(copy: Path) -> None:
    other = Signer.generate("audit.example/log")
    with Log.open(copy) as log:
        stranger = other.verifier()
        with pytest.raises(VerificationError) as err:
            audit(log.store, stranger)
    assert "checkpoint 10" in str(err.value)


def test_a_store_of_another_log(copy: Path) -> None:
    with Log.open(copy) as log, pytest.raises(VerificationError) as err:
        audit(log.store, Signer.generate("other.example/log").verifier())
    assert err.value.field == "origin"


def _find(data: bytes, needle: bytes) -> int:
    at = data.find(needle)
    assert at >= 0
    return at


@pytest.mark.parametrize("index", [0, 33, 99])
def test_a_byte_changed_in_the_database_file(copy: Path, index: int) -> None:
    path = copy / DB_FILE
    raw = bytearray(path.read_bytes())
    at = _find(bytes(raw), payload(index))
    raw[at + 11] ^= 0x01  # inside the payload: the file stays a valid database
    path.write_bytes(bytes(raw))
    err = bad_entry(copy)
    assert err.index == index


def test_a_damaged_page_is_reported_never_repaired(copy: Path) -> None:
    path = copy / DB_FILE
    raw = bytearray(path.read_bytes())
    page = 4096
    raw[page * 2 : page * 2 + 64] = b"\xff" * 64  # clobber a b-tree page header
    path.write_bytes(bytes(raw))
    before = hashlib.sha256(path.read_bytes()).digest()
    verifier = read_verifier(copy)
    with SqliteLogStore.open(path) as store, pytest.raises(VerificationError) as err:
        audit(store, verifier)
    assert err.value.field == "store"
    assert "damaged" in str(err.value) or "cannot be read" in str(err.value)
    assert hashlib.sha256(path.read_bytes()).digest() == before


def test_audit_writes_nothing(copy: Path) -> None:
    sql(copy, "UPDATE entries SET data = x'00' WHERE idx = 3")
    before = hashlib.sha256((copy / DB_FILE).read_bytes()).digest()
    bad_entry(copy)
    assert hashlib.sha256((copy / DB_FILE).read_bytes()).digest() == before


@pytest.fixture
def big_log(tmp_path: Path) -> Path:
    directory = tmp_path / "big"
    with Log.create(directory, "audit.example/big") as log:
        log.append_batch([b"%d" % i for i in range(5000)])
        log.checkpoint()
    return directory


def test_progress_is_reported_while_auditing(big_log: Path) -> None:
    seen: list[int] = []
    with Log.open(big_log) as log:
        audit(log.store, log.verifier, seen.append)
    assert seen[0] < 5000
    assert seen[-1] == 5000


def test_an_audit_while_another_writer_appends_sees_one_consistent_state(copy: Path) -> None:
    stop = threading.Event()

    def writer() -> None:
        with Log.open(copy) as log:
            while not stop.is_set():
                log.append_batch([b"live %d" % i for i in range(7)])

    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(5):
            check(copy)
    finally:
        stop.set()
        t.join()


@pytest.mark.parametrize(
    ("statement", "args", "field"),
    [
        ("INSERT INTO entries (idx, data) VALUES (?, x'00')", (1 << 62,), "entries"),
        ("INSERT INTO entries (idx, data) VALUES (-1, x'00')", (), "entries"),
        ("INSERT INTO nodes (level, idx, hash) VALUES (6, 1, zeroblob(32))", (), "nodes"),
        ("INSERT INTO nodes (level, idx, hash) VALUES (-1, 0, zeroblob(32))", (), "nodes"),
        ("INSERT INTO nodes (level, idx, hash) VALUES (1, -1, zeroblob(32))", (), "nodes"),
        ("UPDATE nodes SET idx = 'seven' WHERE level = 2 AND idx = 7", (), "nodes"),
    ],
)
def test_every_stored_row_is_accounted_for(
    copy: Path, statement: str, args: tuple[object, ...], field: str
) -> None:
    sql(copy, statement, *args)
    err = bad_entry(copy)
    assert err.field == field, str(err)
