"""``safepassage vault init`` and ``safepassage person list|show|erase`` on a real operation."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from safepassage.app.operation import Operation
from safepassage.app.persons import NewPerson, Registered, register_people
from safepassage.cli import main
from safepassage.vault.store import PersonalData, Vault

GIVEN, DOCUMENT = "CANARY-CLI-GIVEN-9b1", "CANARY-CLI-DOC-9b1"


@pytest.fixture(scope="module")
def template(demo_template: Path) -> Path:
    return demo_template  # the session's demo operation: copy it, never change it


@pytest.fixture
def op_dir(template: Path, tmp_path: Path) -> Path:
    directory = tmp_path / "azovstal"
    shutil.copytree(template, directory)
    shutil.rmtree(directory / "vault")  # the demo's own vault: these tests make theirs
    return directory


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "vault.key"  # kept outside the operation's folder, as a coordinator would
    path.write_bytes(os.urandom(32))
    return path


def register_one(op_dir: Path) -> str:
    with Operation.open(op_dir) as op, Vault.open(op_dir) as vault:
        data = PersonalData(GIVEN, "CANARY-CLI-FAMILY", "1990-01-01", DOCUMENT, None, None)
        [answer] = register_people(
            op,
            vault,
            [NewPerson("H-cli-0001", "azovstal", "18-59", "female", "zaporizhzhia", data)],
            actor="icrc/registrar-1",
            at=datetime(2022, 5, 1, 9, tzinfo=UTC),
        )
    assert isinstance(answer, Registered)
    return answer.ref


def test_init_list_show_erase(
    op_dir: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["vault", "init", str(op_dir), "--key-file", str(key_file)]) == 0
    assert "key file" in capsys.readouterr().out
    ref = register_one(op_dir)

    assert main(["person", "list", str(op_dir), "--format", "json"]) == 0
    listed = {p["ref"]: p for p in json.loads(capsys.readouterr().out)}
    assert listed[ref]["record"] == "held"
    assert set(listed[ref]) == {
        "ref", "household", "age_band", "sex", "needs", "destination", "status", "record"
    }  # fmt: skip
    assert GIVEN not in json.dumps(listed)

    args = ["--actor", "un-ocha/coordinator", "--key-file", str(key_file)]
    assert main(["person", "show", str(op_dir), ref, *args, "--purpose", "family tracing"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["given_name"], shown["document_number"]) == (GIVEN, DOCUMENT)

    assert main(["person", "erase", str(op_dir), ref, *args, "--reason", "person-request"]) == 0
    assert "erased the record" in capsys.readouterr().out
    assert main(["person", "show", str(op_dir), ref, *args, "--purpose", "again"]) == 2
    assert "was erased" in capsys.readouterr().err
    assert main(["person", "list", str(op_dir), "--format", "json"]) == 0
    assert {p["ref"]: p for p in json.loads(capsys.readouterr().out)}[ref]["record"] == "erased"


def test_a_wrong_key_or_passphrase_is_one_line_and_nothing_is_recorded(
    op_dir: Path, key_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["vault", "init", str(op_dir), "--key-file", str(key_file)]) == 0
    ref = register_one(op_dir)
    capsys.readouterr()
    other = tmp_path / "other.key"
    other.write_bytes(os.urandom(32))
    code = main(["person", "show", str(op_dir), ref, "--actor", "un-ocha/coordinator",
                 "--key-file", str(other), "--purpose", "x"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "key file" in err
    assert "is not the vault's key file" in err
    with Vault.open(op_dir) as vault:
        assert vault.accesses() == []


def test_a_passphrase_vault_says_which_means_opens_it(
    op_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAFEPASSAGE_PASSPHRASE", "correct horse battery staple")
    assert main(["vault", "init", str(op_dir)]) == 0
    ref = register_one(op_dir)
    capsys.readouterr()
    monkeypatch.setenv("SAFEPASSAGE_PASSPHRASE", "wrong horse")
    code = main(["person", "show", str(op_dir), ref, "--actor", "icrc/registrar-1",
                 "--purpose", "x"])  # fmt: skip
    assert code == 2
    assert "wrong passphrase" in capsys.readouterr().err
    monkeypatch.setenv("SAFEPASSAGE_PASSPHRASE", "correct horse battery staple")
    code = main(["person", "show", str(op_dir), ref, "--actor", "russia/liaison",
                 "--purpose", "x"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "actor" in err
    assert "only the coordinator's and facilitators'" in err
    assert main(["vault", "init", str(op_dir)]) == 2
    assert "already has a vault" in capsys.readouterr().err


def test_person_commands_without_a_vault_say_how_to_make_one(
    op_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["person", "show", str(op_dir), "p-x", "--actor", "un-ocha/coordinator",
                 "--purpose", "x"])  # fmt: skip
    assert code == 2
    assert "vault init" in capsys.readouterr().err
