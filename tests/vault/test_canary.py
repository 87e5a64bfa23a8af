"""Canaries: names and documents registered as unique strings appear nowhere in plaintext.

Not in the vault's database or its WAL or journal, not in the log, the projections, the
checkpoints, the keys, the report, the person list, nor in any error message.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from safepassage.app.demo import run_demo
from safepassage.app.operation import Operation
from safepassage.app.persons import NewPerson, Registered, register_people
from safepassage.cli import main
from safepassage.errors import SafepassageError
from safepassage.receipts.render import read_receipt_file
from safepassage.vault.store import PersonalData, Vault

CANARIES = [f"CANARY-{kind}-{os.urandom(6).hex()}" for kind in ("GIVEN", "FAMILY", "DOC")]
CANARIES.append("+380" + str(int.from_bytes(os.urandom(5), "big")).zfill(13))  # a phone number


def canary_person(n: int, destination: str = "zaporizhzhia") -> NewPerson:
    given, family, document, phone = CANARIES
    return NewPerson(
        household=f"H-canary-{n:04d}",
        site="azovstal",
        age_band="18-59",
        sex="female",
        destination=destination,
        data=PersonalData(
            f"{given}-{n}", f"{family}-{n}", "1970-01-01", f"{document}-{n}", f"{phone}{n}", "notes"
        ),
    )


def plaintext_in(directory: Path) -> list[str]:
    found = []
    for path in directory.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {c}" for c in CANARIES if c.encode() in data]
            found += [f"{path}: {c} (UTF-16)" for c in CANARIES if c.encode("utf-16-le") in data]
    return found


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("canary") / "azovstal"
    run_demo(directory).close()
    return directory


def test_no_canary_anywhere_under_the_operation_or_in_any_message(
    template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    op_dir = tmp_path / "azovstal"
    shutil.copytree(template, op_dir)
    shutil.rmtree(op_dir / "vault")  # the demo's own vault: these tests make theirs
    key_file = tmp_path / "vault.key"
    assert main(["vault", "init", str(op_dir), "--key-file", str(key_file)]) == 0
    messages: list[str] = []
    at = datetime(2022, 5, 1, 9, tzinfo=UTC)
    with Operation.open(op_dir) as op, Vault.open(op_dir) as vault:
        people = [canary_person(n) for n in range(20)]
        people.append(canary_person(99, destination="nowhere"))  # refused: unknown site
        answers = register_people(op, vault, people, actor="icrc/registrar-1", at=at)
        messages += [str(a) for a in answers if isinstance(a, SafepassageError)]
        refs = [a.ref for a in answers if isinstance(a, Registered)]
        for bad_actor in ("russia/liaison", "nobody/at-all"):
            try:
                register_people(op, vault, people[:1], actor=bad_actor, at=at)
            except SafepassageError as exc:
                messages.append(str(exc))
        op.cosign("un-ocha")
        op.cosign("icrc")
    assert len(refs) == 20
    assert len(messages) == 3
    capsys.readouterr()
    with sqlite3.connect(op_dir / "vault" / "vault.db") as db:  # what erasing must destroy
        shredded = db.execute(
            "SELECT sealed_key, sealed_record FROM records WHERE ref = ?", (refs[1],)
        ).fetchone()
    db.close()
    other_key = tmp_path / "other.key"
    other_key.write_bytes(os.urandom(32))
    runs = [
        ["person", "list", str(op_dir), "--format", "json"],
        ["report", str(op_dir), "--format", "json"],
        ["report", str(op_dir)],
        ["person", "show", str(op_dir), refs[0], "--actor", "russia/liaison",
         "--purpose", "x", "--key-file", str(key_file)],
        ["person", "show", str(op_dir), refs[0], "--actor", "un-ocha/coordinator",
         "--purpose", "x", "--key-file", str(other_key)],
        ["person", "erase", str(op_dir), refs[1], "--actor", "un-ocha/coordinator",
         "--reason", "person-request", "--key-file", str(key_file)],
        ["verify", str(op_dir)],
        # receipts of other people, and every public export, kept under the operation's folder
        ["receipt", "make", str(op_dir), refs[2], "--actor", "icrc/registrar-1",
         "--key-file", str(key_file), "--out", str(op_dir / "receipts")],
        ["receipt", "keys", str(op_dir), "--out", str(op_dir / "public-keys.json")],
        *(["export", "figures", str(op_dir), "--format", f, "--out", str(op_dir / f"figures.{f}")]
          for f in ("hxl", "csv", "json")),
        ["report", str(op_dir), "--public", "--format", "json"],
    ]  # fmt: skip
    for argv in runs:
        main(argv)
        out, err = capsys.readouterr()
        messages += [out, err]
    # the one command that decrypts, for staff, is the only place a canary may appear; a
    # purpose naming someone is sealed too
    show = ["person", "show", str(op_dir), refs[0], "--actor", "un-ocha/coordinator"]
    assert main([*show, "--purpose", f"tracing {CANARIES[0]}", "--key-file", str(key_file)]) == 0
    assert CANARIES[0] in capsys.readouterr().out
    assert [m for m in messages if any(c in m for c in CANARIES)] == []
    receipts = sorted((op_dir / "receipts").iterdir())
    assert len(receipts) == 2  # the PDF and the PNG; compressed inside, so read them as a reader
    for path in receipts:
        text = read_receipt_file(path).to_text()
        if path.suffix == ".pdf":
            text += "".join(page.extract_text() for page in PdfReader(path).pages)
        assert not [c for c in CANARIES if c in text], path
    assert (op_dir / "figures.hxl").exists()
    assert plaintext_in(op_dir) == []
    for path in (op_dir / "vault").iterdir():  # the erased person's key and record are gone
        data = path.read_bytes()
        assert shredded[0] not in data, path
        assert shredded[1] not in data, path
    assert json.loads((op_dir / "vault" / "key.json").read_text())["data_key"]["method"] == (
        "keyfile"
    )
