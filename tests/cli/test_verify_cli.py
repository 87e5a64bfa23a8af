"""``safepassage verify DIR``: the CLI contract (exit codes, the ``ok:`` line, one error line).

The exhaustive tampering of the store is tests/ledger/test_audit.py's; here a few edits made with
sqlite3, as an attacker with the file would, show the command names the first bad entry.
"""

from __future__ import annotations

import base64
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from safepassage.cli import main
from safepassage.ledger.checkpoint import open_checkpoint
from safepassage.ledger.note import Signer, Verifier

ORIGIN = "ops.example.org/azovstal"
SIZE = 8
ENTRIES = [b'{"kind":"event","n":%d,"site":"azovstal"}' % i for i in range(SIZE)]


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@dataclass(frozen=True)
class LogDir:
    path: Path
    vkey: str
    checkpoint: str  # the signed checkpoint at SIZE

    @property
    def db(self) -> Path:
        return self.path / "log.db"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    def invoke(*argv: str | Path) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return invoke


@pytest.fixture
def log(cli, tmp_path: Path) -> LogDir:
    """A log of SIZE entries with checkpoints at sizes 3 and SIZE, made through the CLI."""
    path = tmp_path / "ops" / "log"
    made = cli("log", "init", path, "--origin", ORIGIN)
    assert made.code == 0, made
    files = []
    for i, data in enumerate(ENTRIES):
        files.append(tmp_path / f"event{i}.json")
        files[-1].write_bytes(data)
    assert cli("log", "append", path, *files[:3]).code == 0
    assert cli("log", "checkpoint", path).code == 0
    assert cli("log", "append", path, *files[3:]).code == 0
    checkpoint = cli("log", "checkpoint", path)
    assert checkpoint.code == 0
    return LogDir(path, made.out.strip(), checkpoint.out)


@contextmanager
def tamper(log: LogDir) -> Iterator[sqlite3.Connection]:
    """Edit the store with sqlite3, as anyone holding the file could; commit on exit."""
    with closing(sqlite3.connect(log.db)) as db:
        yield db
        db.commit()


def entry(db: sqlite3.Connection, index: int) -> bytes:
    return bytes(db.execute("SELECT data FROM entries WHERE idx = ?", (index,)).fetchone()[0])


def error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one error line, got {err!r}"
    assert lines[0].strip()
    assert "Traceback" not in err
    return lines[0]


def failure_naming(result: Result, index: int) -> str:
    """Exit 1 and one line naming entry ``index`` (and no other entry) as the first bad one."""
    assert result.code == 1, result
    assert result.out == ""
    line = error_line(result.err)
    assert line.startswith("verification failed: ")
    named = re.findall(r"\bentr(?:y|ies) (\d+)", line)
    assert named, line
    assert int(named[0]) == index, line
    return line


def test_verify_a_good_log(cli, log: LogDir) -> None:
    result = cli("verify", log.path)
    checkpoint, _ = open_checkpoint(log.checkpoint, Verifier.from_key_string(log.vkey))
    root = base64.b64encode(checkpoint.root).decode()
    assert result == Result(0, f"ok: {SIZE} entries, root {root}, 2 checkpoints verified\n", "")


def test_verify_a_good_log_with_the_key_given_apart(cli, log: LogDir) -> None:
    (log.path / "log.vkey").unlink()  # --vkey must not need the folder's copy
    result = cli("verify", log.path, "--vkey", log.vkey)
    assert result.code == 0, result
    assert result.out.startswith(f"ok: {SIZE} entries, root ")


def test_verify_an_empty_log(cli, tmp_path: Path) -> None:
    assert cli("log", "init", tmp_path / "log", "--origin", ORIGIN).code == 0
    result = cli("verify", tmp_path / "log")
    empty = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="  # SHA-256 of nothing
    assert result == Result(0, f"ok: 0 entries, root {empty}, 0 checkpoints verified\n", "")


@pytest.mark.parametrize("index", [0, 3, SIZE - 1])
@pytest.mark.parametrize("where", [0, -1], ids=["first byte", "last byte"])
def test_one_changed_byte_is_named(cli, log: LogDir, index: int, where: int) -> None:
    with tamper(log) as db:
        data = bytearray(entry(db, index))
        data[where] ^= 0x01
        db.execute("UPDATE entries SET data = ? WHERE idx = ?", (bytes(data), index))
    line = failure_naming(cli("verify", log.path, "--vkey", log.vkey), index)
    assert "do not match" in line


@pytest.mark.parametrize("index", [0, 3, SIZE - 1])
def test_a_deleted_entry_is_named(cli, log: LogDir, index: int) -> None:
    with tamper(log) as db:
        db.execute("DELETE FROM entries WHERE idx = ?", (index,))
    line = failure_naming(cli("verify", log.path, "--vkey", log.vkey), index)
    assert "missing" in line


@pytest.mark.parametrize(("first", "second"), [(0, 1), (2, 5), (6, 7)])
def test_two_swapped_entries_name_the_lower(cli, log: LogDir, first: int, second: int) -> None:
    with tamper(log) as db:
        a, b = entry(db, first), entry(db, second)
        db.execute("UPDATE entries SET data = ? WHERE idx = ?", (b, first))
        db.execute("UPDATE entries SET data = ? WHERE idx = ?", (a, second))
    failure_naming(cli("verify", log.path, "--vkey", log.vkey), first)


def test_another_key_with_the_same_name_fails(cli, log: LogDir) -> None:
    impostor = Signer.generate(ORIGIN).verifier().key_string()
    result = cli("verify", log.path, "--vkey", impostor)
    assert result.code == 1
    assert result.out == ""
    line = error_line(result.err)
    assert line.startswith("verification failed: ")
    assert "checkpoint 3" in line


def test_another_logs_key_fails(cli, log: LogDir) -> None:
    other = Signer.generate("other.example.org/log").verifier().key_string()
    result = cli("verify", log.path, "--vkey", other)
    assert result.code == 1
    line = error_line(result.err)
    assert line.startswith("verification failed: ")
    assert "other.example.org/log" in line


def test_the_folders_own_key_replaced_is_not_trusted_over_vkey(cli, log: LogDir) -> None:
    # Whoever can write to DIR can swap log.vkey; --vkey is what a verifier should pass.
    swapped = Signer.generate(ORIGIN).verifier().key_string()
    (log.path / "log.vkey").write_text(swapped + "\n", encoding="utf-8")
    assert cli("verify", log.path).code == 1
    assert cli("verify", log.path, "--vkey", log.vkey).code == 0


@pytest.mark.parametrize("exists", [False, True], ids=["missing DIR", "DIR without a log"])
def test_a_directory_without_a_log_is_bad_input(cli, tmp_path: Path, exists: bool) -> None:
    folder = tmp_path / "nolog"
    if exists:
        folder.mkdir()
    for argv in (["verify", folder], ["verify", folder, "--vkey", "x+00000000+AAAA"]):
        result = cli(*argv)
        assert result.code == 2
        assert result.out == ""
        assert error_line(result.err) == f"error: {folder}: no log here (missing log.db)"
    assert folder.exists() == exists
    assert not exists or list(folder.iterdir()) == []


@pytest.mark.parametrize("vkey", ["", "not a key", "PRIVATE+KEY+x+00000000+AAAA"], ids=repr)
def test_a_malformed_vkey_is_bad_input(cli, log: LogDir, vkey: str) -> None:
    # An empty --vkey (say, "$KEY" unset) must not quietly fall back to the folder's own key.
    result = cli("verify", log.path, "--vkey", vkey)
    assert result.code == 2, result
    assert result.out == ""
    assert error_line(result.err).startswith("error: key string: ")


def test_the_console_script_exits_1_on_a_tampered_log_without_a_traceback(
    log: LogDir,
) -> None:
    with tamper(log) as db:
        db.execute("UPDATE entries SET data = CAST('forged' AS BLOB) WHERE idx = 5")
    script = Path(sys.executable).parent / "safepassage"
    assert script.is_file()
    done = subprocess.run(
        [script, "verify", log.path, "--vkey", log.vkey],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr
    assert done.returncode == 1
    assert done.stdout == ""
    failure_naming(Result(done.returncode, done.stdout, done.stderr), 5)


def test_a_log_without_any_checkpoint_verifies_with_a_warning(cli, tmp_path: Path) -> None:
    directory = tmp_path / "bare"
    assert cli("log", "init", directory, "--origin", ORIGIN).code == 0
    (tmp_path / "e").write_bytes(b"one entry")
    assert cli("log", "append", directory, tmp_path / "e").code == 0
    result = cli("verify", directory)
    assert result.code == 0
    assert result.out.startswith("ok: 1 entries")
    assert "no signed checkpoint" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_an_internal_error_exits_3_in_one_line(
    cli, log: LogDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safepassage.cli.verify as verify_module  # noqa: PLC0415 - patched for this test only

    def broken(*args: object, **kwargs: object) -> None:
        message = "a bug"
        raise RuntimeError(message)

    monkeypatch.setattr(verify_module, "audit", broken)
    result = cli("verify", log.path, "--vkey", log.vkey)
    assert result.code == 3
    assert result.err.strip().splitlines() == [
        "internal error (RuntimeError: a bug); please report it"
    ]


def _flip_schema_byte(db_path: Path) -> None:
    raw = bytearray(db_path.read_bytes())
    at = raw.find(b"CREATE TABLE entries")
    assert at >= 0
    raw[at + 7] ^= 0x80  # a bit of the schema text: SQLite quotes it back as invalid UTF-8
    db_path.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    "damage",
    [
        lambda db: db.execute("DROP TABLE entries"),
        lambda db: db.execute("UPDATE nodes SET idx = 'seven' WHERE level = 1 AND idx = 1"),
        lambda db: db.execute(
            "INSERT INTO entries (idx, data) VALUES (4611686018427387904, x'00')"
        ),
        lambda db: db.execute("DROP TABLE meta"),
    ],
    ids=["entries-table-dropped", "node-index-made-text", "entry-far-away", "meta-dropped"],
)
def test_a_damaged_store_is_a_verification_failure_never_a_crash(cli, log: LogDir, damage) -> None:
    with tamper(log) as db:
        damage(db)
    result = cli("verify", log.path, "--vkey", log.vkey)
    assert result.code == 1, result
    assert error_line(result.err).startswith("verification failed: ")


def test_a_damaged_schema_is_a_verification_failure(cli, log: LogDir) -> None:
    _flip_schema_byte(log.db)
    result = cli("verify", log.path, "--vkey", log.vkey)
    assert result.code == 1, result
    assert error_line(result.err).startswith("verification failed: ")


def test_verify_writes_nothing_to_the_log(cli, log: LogDir) -> None:
    # SQLite may create its (empty) -wal/-shm companions to read a WAL file; every file that
    # was there, the log itself first, stays byte for byte what it was.
    before = {p.name: p.read_bytes() for p in log.path.iterdir()}
    assert cli("verify", log.path, "--vkey", log.vkey).code == 0
    after = {p.name: p.read_bytes() for p in log.path.iterdir()}
    assert {name: after[name] for name in before} == before
    assert set(after) - set(before) <= {"log.db-wal", "log.db-shm"}
