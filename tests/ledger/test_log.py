"""A log directory: keys, checkpoints and proofs, and refusals that leave nothing behind."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from safepassage.errors import FormatError, SafepassageError, StoreError
from safepassage.ledger import log as log_module
from safepassage.ledger import merkle
from safepassage.ledger.checkpoint import open_checkpoint
from safepassage.ledger.log import DB_FILE, KEY_FILE, VKEY_FILE, Log
from safepassage.ledger.note import Signer
from safepassage.ledger.proof import TlogProof, verify_tlog_proof

ORIGIN = "ops.example.org/log"


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    d = tmp_path / "log"
    with Log.create(d, ORIGIN) as log:
        log.append_batch([b"a", b"b", b"c"])
    return d


def test_create_makes_the_store_and_keys(directory: Path) -> None:
    assert {p.name for p in directory.iterdir()} >= {DB_FILE, KEY_FILE, VKEY_FILE}
    assert stat.S_IMODE((directory / KEY_FILE).stat().st_mode) == 0o600
    signer = Signer.from_key_string((directory / KEY_FILE).read_text().strip())
    assert signer.name == ORIGIN
    assert signer.verifier().key_string() == (directory / VKEY_FILE).read_text().strip()


def test_checkpoints_are_signed_once_per_size_and_kept(directory: Path) -> None:
    with Log.open(directory) as log:
        note = log.checkpoint()
        assert log.checkpoint() == note
        cp, _ = open_checkpoint(note, log.verifier)
        assert (cp.origin, cp.size) == (ORIGIN, 3)
        assert cp.root == merkle.root([merkle.leaf_hash(x) for x in (b"a", b"b", b"c")])
        older = log.checkpoint(2)
        assert open_checkpoint(older, log.verifier)[0].size == 2
        assert [c.size for c in log.store.checkpoints()] == [2, 3]


def test_proofs_verify_against_their_checkpoint(directory: Path) -> None:
    with Log.open(directory) as log:
        log.append(b"d")
        for size in (1, 2, 3, 4):
            for index in range(size):
                text = log.prove(index, size)
                assert TlogProof.from_text(text).to_text() == text
                cp, _ = verify_tlog_proof(text, b"abcd"[index : index + 1], log.verifier)
                assert cp.size == size


def test_open_refuses_a_folder_without_a_log(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as err:
        Log.open(tmp_path)
    assert "no log here" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_open_refuses_a_verifier_key_of_another_log(directory: Path) -> None:
    other = Signer.generate("other.example.org/log").verifier().key_string()
    (directory / VKEY_FILE).write_text(other + "\n")
    with pytest.raises(StoreError) as err:
        Log.open(directory)
    assert err.value.field == VKEY_FILE


def test_a_signing_key_that_does_not_match_is_refused(directory: Path) -> None:
    (directory / KEY_FILE).write_text(Signer.generate(ORIGIN).key_string() + "\n")
    with Log.open(directory) as log, pytest.raises(FormatError) as err:
        log.checkpoint()
    assert "does not match log.vkey" in str(err.value)


def test_create_refuses_an_existing_log(directory: Path) -> None:
    before = sorted(p.name for p in directory.iterdir())
    with pytest.raises(StoreError) as err:
        Log.create(directory, ORIGIN)
    assert err.value.field == "DIR"
    assert sorted(p.name for p in directory.iterdir()) == before


@pytest.mark.parametrize("origin", ["", "has space", "a+b", "two\nlines"])
def test_create_refuses_a_bad_origin_and_writes_nothing(tmp_path: Path, origin: str) -> None:
    with pytest.raises(SafepassageError):
        Log.create(tmp_path / "log", origin)
    assert not (tmp_path / "log").exists()


def test_a_failed_create_leaves_nothing_half_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: Path, text: str, mode: int) -> None:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(log_module, "_write_new", broken)
    target = tmp_path / "log"
    with pytest.raises(OSError, match="No space left"):
        Log.create(target, ORIGIN)
    assert not target.exists()  # the folder it made is gone too
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(OSError, match="No space left"):
        Log.create(kept, ORIGIN)
    assert list(kept.iterdir()) == []  # a folder the user made stays, empty


# --- the store in PostgreSQL, the keys in the folder -------------------------------------------


def test_a_log_in_postgresql_keeps_its_keys_in_the_folder(
    tmp_path: Path, postgres_url: str
) -> None:
    d = tmp_path / "log"
    with Log.create(d, ORIGIN, database=postgres_url) as log:
        log.append_batch([b"a", b"b", b"c"])
        note = log.checkpoint()
    assert {p.name for p in d.iterdir()} == {KEY_FILE, VKEY_FILE}  # no log.db
    with pytest.raises(StoreError, match="already holds a log"):
        Log.create(tmp_path / "another", ORIGIN, database=postgres_url)
    assert not (tmp_path / "another").exists()
    with Log.open(d, database=postgres_url) as log:
        assert log.database == postgres_url
        assert log.checkpoint() == note  # kept in the database
        text = log.prove(1)
        checkpoint, _ = verify_tlog_proof(text, b"b", log.verifier)
        assert checkpoint.size == 3
    with pytest.raises(StoreError, match=r"missing log\.db"):
        Log.open(d)  # without the URL, the folder alone has no store


def test_a_failed_create_in_postgresql_leaves_no_tables(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safepassage.ledger.postgres import PostgresLogStore  # noqa: PLC0415

    def broken(path: Path, text: str, mode: int) -> None:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(log_module, "_write_new", broken)
    with pytest.raises(OSError, match="No space left"):
        Log.create(tmp_path / "log", ORIGIN, database=postgres_url)
    monkeypatch.undo()
    with pytest.raises(StoreError, match="no safepassage log"):
        PostgresLogStore.open(postgres_url)
    Log.create(tmp_path / "log", ORIGIN, database=postgres_url).close()  # free to try again
