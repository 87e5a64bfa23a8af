"""``safepassage import registrations``: rows in, bad rows named, nothing half-imported."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from safepassage.app.demo import run_demo
from safepassage.app.operation import Operation
from safepassage.cli import main
from safepassage.vault.store import Vault

HEADER = (
    "submission_id,household_ref,given_name,family_name,birth_date,sex,document_number,phone,"
    "needs,destination"
)
OLENA = (
    "s1,H-000001,CANARY-OLENA,CANARY-K,1961-03-02,female,CANARY-AB1,+380 50 123 4567,medical,"
    "Zaporizhzhia reception centre"
)
ROWS = [
    OLENA,
    "s2,H-000001,CANARY-IVAN,CANARY-K,2015-07-01,male,,,,zaporizhzhia",
    "s3,H-000002,CANARY-PETRO,CANARY-S,not-a-date,male,,,,zaporizhzhia",
    "s4,H-000003,CANARY-MARIA,CANARY-B,1990-01-01,female,,,,Kyiv",
    OLENA,
]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("import") / "azovstal"
    run_demo(directory).close()  # with its vault (key file in DIR/keys, demo-only)
    return directory


@pytest.fixture
def op_dir(template: Path, tmp_path: Path) -> Path:
    directory = tmp_path / "azovstal"
    shutil.copytree(template, directory)
    return directory


def state(op_dir: Path) -> tuple[int, set[str]]:
    with Operation.open(op_dir) as op, Vault.open(op_dir) as vault:
        return op.log.size(), vault.refs()


def run(op_dir: Path, file: Path, *extra: str) -> int:
    return main(["import", "registrations", str(op_dir), str(file),
                 "--actor", "icrc/registrar-1", "--site", "azovstal", *extra])  # fmt: skip


def test_valid_rows_are_imported_bad_ones_named_and_a_rerun_adds_nothing(
    op_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "people.csv"
    file.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    size, refs = state(op_dir)
    assert run(op_dir, file) == 2  # some rows were refused: said by the exit code
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        "people.csv: row 4: birth_date: not a date (expected YYYY-MM-DD)",
        "people.csv: row 5: destination: no reception site 'Kyiv' here",
    ]
    assert "row 6: submission s1 repeats row 2 (skipped)" in out
    assert "2 imported" in out
    assert "CANARY" not in out + err
    after_size, after_refs = state(op_dir)
    assert after_size == size + 2
    assert len(after_refs - refs) == 2
    with Operation.open(op_dir) as op:
        new = [op.state.persons[r] for r in after_refs - refs]
    assert sorted((p.household, p.age_band, p.destination) for p in new) == [
        ("H-000001", "5-11", "zaporizhzhia"),
        ("H-000001", "60+", "zaporizhzhia"),
    ]
    assert run(op_dir, file) == 2
    assert "0 imported, 2 already imported" in capsys.readouterr().out
    assert state(op_dir) == (after_size, after_refs)


def test_a_file_of_no_known_format_is_one_line_and_nothing_is_written(
    op_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = state(op_dir)
    for name, data in [
        ("people.xlsx", os.urandom(300)),
        ("people.json", json.dumps({"rows": []}).encode()),
        ("people.csv", b"name,age\nOlena,61\n"),
    ]:
        file = tmp_path / name
        file.write_bytes(data)
        assert run(op_dir, file) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert name in err
        assert state(op_dir) == before


def test_a_pickup_site_that_is_not_one_is_refused_before_anything_is_written(
    op_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "people.csv"
    file.write_text("\n".join([HEADER, ROWS[1]]) + "\n", encoding="utf-8")
    before = state(op_dir)
    code = main(["import", "registrations", str(op_dir), str(file),
                 "--actor", "icrc/registrar-1", "--site", "zaporizhzhia"])  # fmt: skip
    assert code == 2
    assert "site: 'zaporizhzhia' is not a pickup site" in capsys.readouterr().err
    code = main(["import", "registrations", str(op_dir), str(file),
                 "--actor", "russia/liaison", "--site", "azovstal"])  # fmt: skip
    assert code == 2
    assert "actor" in capsys.readouterr().err
    assert state(op_dir) == before
