"""``safepassage log …``: what each command prints, how it fails, and that failing writes nothing.

Most tests drive ``safepassage.cli.main(argv)`` in-process; a few run the installed console
script as a real subprocess to prove the exit codes and that no traceback ever reaches stderr.
Expected Merkle hashes come from a reference written here from RFC 9162 §2.1, not from the
package, so a shared mistake cannot hide.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from safepassage.cli import main
from safepassage.ledger.checkpoint import Checkpoint, open_checkpoint
from safepassage.ledger.note import Signer, Verifier
from safepassage.ledger.proof import HEADER, verify_tlog_proof

ORIGIN = "ops.example.org/azovstal"
ENTRIES = [
    b'{"kind":"operation.opened"}',
    b'{"kind":"party.joined","party":"icrc"}',
    b"\x00\xff not UTF-8, kept byte for byte \r\n",
    b"",
    b'{"kind":"site.declared","site":"azovstal"}',
    b'{"kind":"movement.notified","movement":"convoy-1"}',
    b'{"kind":"movement.acknowledged","movement":"convoy-1"}',
]


# --- an independent RFC 9162 reference ----------------------------------------------------------


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def ref_root(entries: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 §2.1.1."""
    if not entries:
        return hashlib.sha256(b"").digest()
    if len(entries) == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = _largest_power_of_two_below(len(entries))
    return hashlib.sha256(b"\x01" + ref_root(entries[:k]) + ref_root(entries[k:])).digest()


def ref_path(index: int, entries: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1: the inclusion proof, leaf side first."""
    if len(entries) <= 1:
        return []
    k = _largest_power_of_two_below(len(entries))
    if index < k:
        return [*ref_path(index, entries[:k]), ref_root(entries[k:])]
    return [*ref_path(index - k, entries[k:]), ref_root(entries[:k])]


# --- running the CLI ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


Cli = Callable[..., Result]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Run ``safepassage ARGV`` in-process; ``stdin=`` gives the bytes standard input holds."""

    def invoke(*argv: str | Path, stdin: bytes | None = None) -> Result:
        capsys.readouterr()
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return invoke


def console_script() -> Path:
    script = Path(sys.executable).parent / "safepassage"
    assert script.is_file(), f"the console script is not installed beside {sys.executable}"
    return script


def run_script(*argv: str | Path, cwd: Path, stdin: bytes = b"") -> Result:
    """Run the installed ``safepassage`` as a user would; stderr must never hold a traceback."""
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "100"}
    for forcing in ("FORCE_COLOR", "PY_COLORS", "CLICOLOR_FORCE", "GITHUB_ACTIONS"):
        env.pop(forcing, None)
    proc = subprocess.run(
        [console_script(), *map(str, argv)],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    result = Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    assert "Traceback" not in result.err, result.err
    return result


def plain(text: str) -> str:
    """Help text without terminal escapes, which Typer adds whatever the stream under CI."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def error_line(err: str) -> str:
    """Our errors are exactly one non-empty line on stderr; return it."""
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one error line, got {err!r}"
    assert lines[0].strip(), f"expected a non-empty error line, got {err!r}"
    assert err.endswith("\n")
    assert "Traceback" not in err
    return lines[0]


def usage_error(result: Result) -> None:
    """Typer's usage errors may be a box over several lines: exit 2, no traceback, no output."""
    assert result.code == 2, result
    assert result.out == ""
    assert result.err.strip()
    assert "Traceback" not in result.err


# --- reading the store behind the CLI's back -----------------------------------------------------


def stored_entries(log: Path) -> list[bytes]:
    with closing(sqlite3.connect(log / "log.db")) as db:
        rows = db.execute("SELECT idx, CAST(data AS BLOB) FROM entries ORDER BY idx").fetchall()
    assert [idx for idx, _ in rows] == list(range(len(rows)))
    return [bytes(data) for _, data in rows]


def stored_checkpoints(log: Path) -> dict[int, str]:
    with closing(sqlite3.connect(log / "log.db")) as db:
        return dict(db.execute("SELECT size, note FROM checkpoints ORDER BY size").fetchall())


def write_entries(folder: Path, entries: Sequence[bytes]) -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = []
    for i, data in enumerate(entries):
        path = folder / f"event{i}.json"
        path.write_bytes(data)
        paths.append(path)
    return paths


@dataclass(frozen=True)
class LogDir:
    path: Path
    vkey: str
    files: list[Path]

    @property
    def verifier(self) -> Verifier:
        return Verifier.from_key_string(self.vkey)


@pytest.fixture
def log(cli: Cli, tmp_path: Path) -> LogDir:
    """A log holding ENTRIES, made through the CLI, with no checkpoint yet."""
    path = tmp_path / "ops" / "log"
    made = cli("log", "init", path, "--origin", ORIGIN)
    assert made.code == 0, made
    files = write_entries(tmp_path / "events", ENTRIES)
    appended = cli("log", "append", path, *files)
    assert appended.code == 0, appended
    return LogDir(path, made.out.strip(), files)


# --- init and vkey ------------------------------------------------------------------------------


def test_init_prints_the_verifier_key_and_keeps_the_signing_key_private(
    cli: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "ops" / "log"
    result = cli("log", "init", path, "--origin", ORIGIN)
    assert result.code == 0, result
    assert result.err == ""
    assert result.out.endswith("\n")
    assert result.out.count("\n") == 1
    verifier = Verifier.from_key_string(result.out.strip())
    assert verifier.name == ORIGIN
    assert stat.S_IMODE((path / "log.key").stat().st_mode) == 0o600
    signer = Signer.from_key_string((path / "log.key").read_text(encoding="utf-8").strip())
    assert signer.verifier() == verifier
    assert stored_entries(path) == []


def test_init_refuses_a_directory_that_already_holds_a_log(cli: Cli, log: LogDir) -> None:
    before = {p.name: p.read_bytes() for p in log.path.iterdir() if p.name != "log.db"}
    result = cli("log", "init", log.path, "--origin", "other.example.org/log")
    assert result.code == 2
    assert result.out == ""
    line = error_line(result.err)
    assert str(log.path) in line
    assert "already holds a log" in line
    assert {p.name: p.read_bytes() for p in log.path.iterdir() if p.name != "log.db"} == before
    assert stored_entries(log.path) == ENTRIES
    assert Verifier.from_key_string(cli("log", "vkey", log.path).out.strip()).name == ORIGIN


@pytest.mark.parametrize(
    ("origin", "reason"),
    [("", "empty"), ("has space", "space"), ("a+b", "'+'")],
)
def test_init_refuses_a_bad_origin_and_creates_nothing(
    cli: Cli, tmp_path: Path, origin: str, reason: str
) -> None:
    path = tmp_path / "log"
    result = cli("log", "init", path, "--origin", origin)
    assert result.code == 2
    assert result.out == ""
    line = error_line(result.err)
    assert line.startswith("error: --origin: ")
    assert reason in line
    assert not path.exists()


def test_vkey_prints_the_key_init_printed(cli: Cli, log: LogDir) -> None:
    result = cli("log", "vkey", log.path)
    assert result == Result(0, log.vkey + "\n", "")
    assert (log.path / "log.vkey").read_text(encoding="utf-8") == log.vkey + "\n"


# --- append -------------------------------------------------------------------------------------


def test_append_prints_consecutive_indexes_one_per_line(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "log"
    assert cli("log", "init", path, "--origin", ORIGIN).code == 0
    files = write_entries(tmp_path / "events", ENTRIES)
    first = cli("log", "append", path, *files[:3])
    assert first == Result(0, "0\n1\n2\n", "")
    second = cli("log", "append", path, *files[3:])
    assert second == Result(0, "".join(f"{i}\n" for i in range(3, len(ENTRIES))), "")
    assert stored_entries(path) == ENTRIES


def test_append_reads_standard_input_for_dash(cli: Cli, log: LogDir) -> None:
    piped = b"from standard input\x00\xff\n"
    n = len(ENTRIES)
    result = cli("log", "append", log.path, log.files[0], "-", log.files[1], stdin=piped)
    assert result == Result(0, f"{n}\n{n + 1}\n{n + 2}\n", "")
    assert stored_entries(log.path) == [*ENTRIES, ENTRIES[0], piped, ENTRIES[1]]


def test_append_with_a_missing_file_names_it_and_appends_nothing(
    cli: Cli, log: LogDir, tmp_path: Path
) -> None:
    missing = tmp_path / "events" / "no-such-event.json"
    result = cli("log", "append", log.path, log.files[0], missing, log.files[1])
    assert result.code == 2
    assert result.out == ""
    line = error_line(result.err)
    assert str(missing) in line
    assert "No such file" in line
    assert stored_entries(log.path) == ENTRIES  # the file before the missing one is not in


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("x:cd:y.json", "x:cd:y.json"),  # Rich would print ":cd:" as an emoji
        ("[bold]event[/].json", "[bold]event[/].json"),  # or take it for markup
        ("two\nlines.json", "two\\nlines.json"),  # the error must stay one line
        ("tab\there.json", "tab\\there.json"),
    ],
    ids=["emoji code", "markup", "newline", "tab"],
)
def test_append_names_a_missing_file_exactly_as_typed(
    cli: Cli, log: LogDir, tmp_path: Path, name: str, shown: str
) -> None:
    result = cli("log", "append", log.path, tmp_path / name)
    assert result.code == 2
    assert error_line(result.err) == (
        f"error: {tmp_path}/{shown}: cannot read it: No such file or directory"
    )
    assert stored_entries(log.path) == ENTRIES


def test_append_with_a_directory_as_file_appends_nothing(cli: Cli, log: LogDir) -> None:
    folder = log.files[0].parent
    result = cli("log", "append", log.path, log.files[0], folder)
    assert result.code == 2
    line = error_line(result.err)
    assert str(folder) in line
    assert "cannot read it" in line
    assert stored_entries(log.path) == ENTRIES


def test_append_refuses_standard_input_twice(cli: Cli, log: LogDir) -> None:
    result = cli("log", "append", log.path, "-", log.files[0], "-", stdin=b"once")
    assert result.code == 2
    assert result.out == ""
    line = error_line(result.err)
    assert "FILE" in line
    assert "standard input" in line
    assert stored_entries(log.path) == ENTRIES


# --- checkpoint ---------------------------------------------------------------------------------


def test_checkpoint_is_signed_for_the_current_size(cli: Cli, log: LogDir) -> None:
    result = cli("log", "checkpoint", log.path)
    assert result.code == 0, result
    assert result.err == ""
    checkpoint, cosigners = open_checkpoint(result.out, log.verifier)
    assert checkpoint == Checkpoint(ORIGIN, len(ENTRIES), ref_root(ENTRIES))
    assert cosigners == []
    assert stored_checkpoints(log.path) == {len(ENTRIES): result.out}


def test_checkpoint_of_an_empty_log_has_the_empty_root(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "log"
    vkey = cli("log", "init", path, "--origin", ORIGIN).out.strip()
    result = cli("log", "checkpoint", path)
    assert result.code == 0, result
    checkpoint, _ = open_checkpoint(result.out, Verifier.from_key_string(vkey))
    assert (checkpoint.size, checkpoint.root) == (0, hashlib.sha256(b"").digest())


def test_checkpoint_at_the_same_size_is_the_same_note(cli: Cli, log: LogDir) -> None:
    first = cli("log", "checkpoint", log.path)
    again = cli("log", "checkpoint", log.path)
    assert again == first
    assert cli("log", "append", log.path, log.files[0]).code == 0
    later = cli("log", "checkpoint", log.path)
    assert later.code == 0
    assert later.out != first.out
    checkpoint, _ = open_checkpoint(later.out, log.verifier)
    assert checkpoint.size == len(ENTRIES) + 1
    assert stored_checkpoints(log.path) == {len(ENTRIES): first.out, len(ENTRIES) + 1: later.out}


# --- prove --------------------------------------------------------------------------------------


def check_proof_text(text: str, index: int, entries: Sequence[bytes], verifier: Verifier) -> None:
    """The C2SP tlog-proof the issue asks for, line by line, against the RFC 9162 reference."""
    path = ref_path(index, entries)
    lines = text.split("\n")
    assert lines[0] == HEADER == "c2sp.org/tlog-proof@v1"
    assert lines[1] == f"index {index}"
    assert lines[2 : 2 + len(path)] == [base64.b64encode(h).decode() for h in path]
    assert lines[2 + len(path)] == ""
    note = "\n".join(lines[3 + len(path) :])
    checkpoint, _ = open_checkpoint(note, verifier)
    assert checkpoint == Checkpoint(ORIGIN, len(entries), ref_root(entries))
    assert verify_tlog_proof(text, entries[index], verifier)[0] == checkpoint


def test_prove_prints_a_c2sp_tlog_proof_against_the_current_checkpoint(
    cli: Cli, log: LogDir
) -> None:
    result = cli("log", "prove", log.path, 2)
    assert result.code == 0, result
    assert result.err == ""
    check_proof_text(result.out, 2, ENTRIES, log.verifier)
    note = cli("log", "checkpoint", log.path).out
    assert result.out.endswith("\n\n" + note)


@pytest.mark.parametrize("size", range(1, len(ENTRIES) + 1))
def test_prove_every_entry_at_every_older_size(cli: Cli, log: LogDir, size: int) -> None:
    for index in range(size):
        result = cli("log", "prove", log.path, index, "--size", size)
        assert result.code == 0, result
        check_proof_text(result.out, index, ENTRIES[:size], log.verifier)
    assert size in stored_checkpoints(log.path)


def test_prove_with_an_older_size_uses_the_checkpoint_signed_then(cli: Cli, log: LogDir) -> None:
    older = cli("log", "checkpoint", log.path).out
    assert cli("log", "append", log.path, *log.files[:2]).code == 0
    result = cli("log", "prove", log.path, 1, "--size", len(ENTRIES))
    assert result.code == 0, result
    assert result.out.endswith("\n\n" + older)
    check_proof_text(result.out, 1, ENTRIES, log.verifier)


@pytest.mark.parametrize("offset", [0, 1, 1000])
def test_prove_refuses_an_index_beyond_the_log_and_writes_nothing(
    cli: Cli, log: LogDir, offset: int
) -> None:
    result = cli("log", "prove", log.path, len(ENTRIES) + offset)
    assert result.code == 2
    assert result.out == ""
    line = error_line(result.err)
    assert line.startswith("error: index: ")
    assert f"below the tree size {len(ENTRIES)}" in line
    assert stored_checkpoints(log.path) == {}


def test_prove_refuses_an_index_beyond_an_older_size(cli: Cli, log: LogDir) -> None:
    result = cli("log", "prove", log.path, 3, "--size", 3)
    assert result.code == 2
    line = error_line(result.err)
    assert line.startswith("error: index: ")
    assert "below the tree size 3" in line
    assert stored_checkpoints(log.path) == {}


def test_prove_refuses_a_size_beyond_the_log_and_writes_nothing(cli: Cli, log: LogDir) -> None:
    result = cli("log", "prove", log.path, 0, "--size", len(ENTRIES) + 1)
    assert result.code == 2
    assert result.out == ""
    line = error_line(result.err)
    assert line.startswith("error: size: ")
    assert f"the log size {len(ENTRIES)}" in line
    assert stored_checkpoints(log.path) == {}


# --- verify-proof -------------------------------------------------------------------------------


@pytest.fixture
def proof(cli: Cli, log: LogDir, tmp_path: Path) -> Path:
    """A tlog-proof of entry 1 at size 4, the log having grown past it since."""
    text = cli("log", "prove", log.path, 1, "--size", 4).out
    assert text.split("\n")[4] == ""  # two hashes: the line numbers TAMPERS edits
    path = tmp_path / "entry1.tlog-proof"
    path.write_text(text, encoding="utf-8")
    return path


def test_verify_proof_accepts_a_good_proof(cli: Cli, log: LogDir, proof: Path) -> None:
    result = cli("log", "verify-proof", proof, log.files[1], "--vkey", log.vkey)
    assert result == Result(0, f"ok: entry 1 is in {ORIGIN} at size 4\n", "")


def test_verify_proof_reads_the_entry_from_standard_input(
    cli: Cli, log: LogDir, proof: Path
) -> None:
    result = cli("log", "verify-proof", proof, "-", "--vkey", log.vkey, stdin=ENTRIES[1])
    assert result.code == 0, result


@pytest.mark.parametrize(
    "entry",
    [ENTRIES[0], ENTRIES[1] + b" ", ENTRIES[1][:-1], bytes([ENTRIES[1][0] ^ 1]) + ENTRIES[1][1:]],
    ids=["another entry", "one byte more", "one byte less", "one bit flipped"],
)
def test_verify_proof_fails_when_the_entry_differs(
    cli: Cli, log: LogDir, proof: Path, tmp_path: Path, entry: bytes
) -> None:
    other = tmp_path / "other.json"
    other.write_bytes(entry)
    result = cli("log", "verify-proof", proof, other, "--vkey", log.vkey)
    assert result.code == 1
    assert result.out == ""
    assert error_line(result.err).startswith("verification failed: ")


def _edit_lines(edit: Callable[[list[str]], list[str]]) -> Callable[[str], str]:
    return lambda text: "\n".join(edit(text.split("\n")))


def _replace_line(number: int, new: Callable[[str], str]) -> Callable[[str], str]:
    return _edit_lines(lambda lines: [*lines[:number], new(lines[number]), *lines[number + 1 :]])


def _other_hash(line: str) -> str:
    return base64.b64encode(hashlib.sha256(line.encode()).digest()).decode()


def _other_signature(line: str) -> str:
    dash, name, sig = line.split(" ")
    raw = base64.b64decode(sig)
    return f"{dash} {name} {base64.b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode()}"


# A proof of entry 1 at size 4 has two hashes: lines 2-3, the empty line 4, then the note.
TAMPERS = {
    "index": _replace_line(1, lambda _: "index 0"),
    "first hash": _replace_line(2, _other_hash),
    "last hash": _replace_line(3, _other_hash),
    "hashes swapped": _edit_lines(lambda lines: [*lines[:2], lines[3], lines[2], *lines[4:]]),
    "hash dropped": _edit_lines(lambda lines: [*lines[:3], *lines[4:]]),
    "checkpoint size": _replace_line(6, lambda _: "3"),
    "checkpoint root": _replace_line(7, _other_hash),
    "signature": _replace_line(9, _other_signature),
}


@pytest.mark.parametrize("tamper", TAMPERS.values(), ids=TAMPERS.keys())
def test_verify_proof_fails_when_the_proof_is_tampered(
    cli: Cli, log: LogDir, proof: Path, tamper: Callable[[str], str]
) -> None:
    text = proof.read_text(encoding="utf-8")
    tampered = tamper(text)
    assert tampered != text
    proof.write_text(tampered, encoding="utf-8")
    result = cli("log", "verify-proof", proof, log.files[1], "--vkey", log.vkey)
    assert result.code == 1, result
    assert result.out == ""
    assert error_line(result.err).startswith("verification failed: ")


def test_verify_proof_fails_under_another_logs_key(cli: Cli, proof: Path, log: LogDir) -> None:
    impostor = Signer.generate(ORIGIN).verifier().key_string()  # same name, another key
    result = cli("log", "verify-proof", proof, log.files[1], "--vkey", impostor)
    assert result.code == 1
    line = error_line(result.err)
    assert line.startswith("verification failed: ")
    assert "signature" in line


MALFORMED = {
    "empty file": (b"", "tlog-proof", "no empty line"),
    "no header": (b"index 1\n\nx\n", "tlog-proof line 1", "first line must be"),
    "no index": (HEADER.encode() + b"\n\nx\n", "tlog-proof line 2", "missing 'index N'"),
    "index with a leading zero": (HEADER.encode() + b"\nindex 01\n\nx\n", "line 2", "zeros"),
    "hash not base64": (HEADER.encode() + b"\nindex 1\n!!!\n\nx\n", "line 3", "base64"),
    "hash too short": (HEADER.encode() + b"\nindex 1\nAAAA\n\nx\n", "line 3", "not 32"),
    "not UTF-8": (b"\xff\xfe" + HEADER.encode(), "", "cannot read it"),
}


@pytest.mark.parametrize("case", MALFORMED.values(), ids=MALFORMED.keys())
def test_verify_proof_refuses_a_malformed_proof_file(
    cli: Cli, log: LogDir, tmp_path: Path, case: tuple[bytes, str, str]
) -> None:
    content, field, reason = case
    bad = tmp_path / "bad.tlog-proof"
    bad.write_bytes(content)
    result = cli("log", "verify-proof", bad, log.files[1], "--vkey", log.vkey)
    assert result.code == 2
    assert result.out == ""
    line = error_line(result.err)
    assert line.startswith("error: ")
    assert (field or str(bad)) in line
    assert reason in line


def test_verify_proof_refuses_a_missing_proof_or_entry_file(
    cli: Cli, log: LogDir, proof: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "missing"
    for argv in ((missing, log.files[1]), (proof, missing)):
        result = cli("log", "verify-proof", *argv, "--vkey", log.vkey)
        assert result.code == 2
        line = error_line(result.err)
        assert str(missing) in line
        assert "No such file" in line


@pytest.mark.parametrize(
    "vkey", ["", "not a key", "ops.example.org/azovstal+00000000+AAAA"], ids=repr
)
def test_verify_proof_refuses_a_malformed_vkey(
    cli: Cli, log: LogDir, proof: Path, vkey: str
) -> None:
    result = cli("log", "verify-proof", proof, log.files[1], "--vkey", vkey)
    assert result.code == 2
    line = error_line(result.err)
    assert line.startswith("error: key")


def test_verify_proof_refuses_the_private_key_in_place_of_the_vkey(
    cli: Cli, log: LogDir, proof: Path
) -> None:
    private = (log.path / "log.key").read_text(encoding="utf-8").strip()
    result = cli("log", "verify-proof", proof, log.files[1], "--vkey", private)
    assert result.code == 2
    line = error_line(result.err)
    assert "private key" in line
    secret = private.split("+", 4)[4]  # PRIVATE+KEY+<name>+<key id>+<base64, may hold '+'>
    assert len(secret) > 40
    assert secret not in line  # the secret is never echoed


# --- no log, and usage --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [["vkey"], ["append", "EVENT"], ["checkpoint"], ["prove", "0"], ["prove", "0", "--size", "1"]],
    ids=" ".join,
)
@pytest.mark.parametrize("exists", [True, False], ids=["empty dir", "no dir"])
def test_commands_on_a_directory_without_a_log(
    cli: Cli, tmp_path: Path, argv: list[str], exists: bool
) -> None:
    event = tmp_path / "event.json"
    event.write_bytes(b"{}")
    folder = tmp_path / "nolog"
    if exists:
        folder.mkdir()
    args = [str(event) if a == "EVENT" else a for a in argv]
    result = cli("log", args[0], folder, *args[1:])
    assert result.code == 2
    assert result.out == ""
    line = error_line(result.err)
    assert line == f"error: {folder}: no log here (missing log.db)"
    assert folder.exists() == exists
    assert not exists or list(folder.iterdir()) == []


USAGE_ERRORS = [
    ["--no-such-option"],
    ["no-such-command"],
    ["log", "no-such-command"],
    ["log", "init"],
    ["log", "init", "DIR"],
    ["log", "init", "DIR", "--origin"],
    ["log", "vkey"],
    ["log", "append"],
    ["log", "append", "DIR"],
    ["log", "checkpoint"],
    ["log", "prove", "DIR"],
    ["log", "prove", "DIR", "one"],
    ["log", "prove", "DIR", "-1"],
    ["log", "prove", "DIR", "0", "--size", "0"],
    ["log", "prove", "DIR", "0", "--size", "two"],
    ["log", "verify-proof", "PROOF"],
    ["log", "verify-proof", "PROOF", "ENTRY"],
    ["verify"],
    ["verify", "DIR", "--vkey"],
]


@pytest.mark.parametrize("argv", USAGE_ERRORS, ids=" ".join)
def test_usage_errors_exit_2_and_touch_nothing(cli: Cli, log: LogDir, argv: list[str]) -> None:
    checkpoints = stored_checkpoints(log.path)
    args = [str(log.path) if a in {"DIR", "PROOF", "ENTRY"} else a for a in argv]
    usage_error(cli(*args))
    assert stored_entries(log.path) == ENTRIES
    assert stored_checkpoints(log.path) == checkpoints


@pytest.mark.parametrize("argv", [[], ["log"]], ids=["safepassage", "log"])
def test_a_group_without_a_command_prints_its_help_and_exits_2(cli: Cli, argv: list[str]) -> None:
    result = cli(*argv)
    assert result.code == 2
    assert plain(result.out).lstrip().startswith(" ".join(["Usage: safepassage", *argv]))
    assert "Traceback" not in result.out + result.err


def test_help_and_version_exit_0(cli: Cli) -> None:
    version = cli("--version")
    assert version.code == 0
    assert re.fullmatch(r"safepassage \d+\.\d+\.\d+\S*\n", version.out)
    for argv in ([], ["log"], ["log", "prove"], ["verify"]):
        result = cli(*argv, "--help")
        assert result.code == 0
        assert "Usage: safepassage" in plain(result.out)
        assert result.err == ""


# --- the installed console script, as a real process -------------------------------------------


def test_console_script_runs_the_tour_with_the_documented_exit_codes(tmp_path: Path) -> None:
    log = tmp_path / "log"
    made = run_script("log", "init", log, "--origin", ORIGIN, cwd=tmp_path)
    assert (made.code, made.err) == (0, "")
    vkey = made.out.strip()
    files = write_entries(tmp_path / "events", ENTRIES[:3])
    appended = run_script("log", "append", log, *files[:2], "-", cwd=tmp_path, stdin=ENTRIES[2])
    assert (appended.code, appended.out, appended.err) == (0, "0\n1\n2\n", "")
    assert stored_entries(log) == ENTRIES[:3]
    assert run_script("log", "checkpoint", log, cwd=tmp_path).code == 0
    proved = run_script("log", "prove", log, 1, "--size", 2, cwd=tmp_path)
    assert proved.code == 0
    proof = tmp_path / "entry1.tlog-proof"
    proof.write_text(proved.out, encoding="utf-8")
    good = run_script("log", "verify-proof", proof, files[1], "--vkey", vkey, cwd=tmp_path)
    assert (good.code, good.out) == (0, f"ok: entry 1 is in {ORIGIN} at size 2\n")
    bad = run_script("log", "verify-proof", proof, files[0], "--vkey", vkey, cwd=tmp_path)
    assert (bad.code, bad.out) == (1, "")
    assert error_line(bad.err).startswith("verification failed: ")
    verified = run_script("verify", log, "--vkey", vkey, cwd=tmp_path)
    assert verified.code == 0
    assert verified.out.startswith("ok: 3 entries")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["log", "append", "LOG", "missing.json"], "missing.json: cannot read it"),
        (["log", "append", "LOG", "-", "-"], "standard input can be read only once"),
        (["log", "init", "LOG", "--origin", ORIGIN], "already holds a log"),
        (["log", "prove", "LOG", "9"], "index: must be below the tree size 1"),
        (["log", "checkpoint", "nolog"], "nolog: no log here"),
        (["verify", "nolog"], "nolog: no log here"),
        (["log", "verify-proof", "LOG/log.vkey", "-", "--vkey", "x"], "key string"),
    ],
    ids=["missing file", "stdin twice", "init twice", "index", "no log", "verify no log", "vkey"],
)
def test_console_script_errors_are_one_line_exit_2(
    cli: Cli, tmp_path: Path, argv: list[str], says: str
) -> None:
    assert cli("log", "init", tmp_path / "LOG", "--origin", ORIGIN).code == 0
    assert cli("log", "append", tmp_path / "LOG", "-", stdin=b"one").code == 0
    done = run_script(*argv, cwd=tmp_path)
    assert (done.code, done.out) == (2, "")
    assert says in error_line(done.err)
    assert stored_entries(tmp_path / "LOG") == [b"one"]


@pytest.mark.parametrize(
    "argv", [[], ["log", "prove", "LOG", "-1"], ["log", "append"], ["verify"]], ids=" ".join
)
def test_console_script_usage_errors_exit_2_without_a_traceback(
    tmp_path: Path, argv: list[str]
) -> None:
    done = run_script(*argv, cwd=tmp_path)  # run_script asserts there is no traceback
    assert done.code == 2
    if argv:
        assert done.out == ""
        assert "Usage: safepassage" in plain(done.err)
    else:  # no command at all: the help, on stdout
        assert "Usage: safepassage" in plain(done.out)
