"""``safepassage receipt verify`` and ``receipt keys`` through ``safepassage.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.models import TyperInfo

from safepassage.app.receipts import issue_receipt, public_keys
from safepassage.cli import app, main
from safepassage.cli.receipt import receipt_app
from safepassage.receipts.render import write_receipt
from tests.receipts.demo import SALT, Demo, record_of


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``receipt`` group, as ``safepassage.cli`` will register it (added here until then)."""
    if not any(group.name == "receipt" for group in app.registered_groups):
        groups = [*app.registered_groups, TyperInfo(receipt_app, name="receipt")]
        monkeypatch.setattr(app, "registered_groups", groups)


@pytest.fixture(scope="module")
def files(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("cli")
    keys = out / "keys.json"
    keys.write_text(json.dumps(public_keys(demo.op)))
    record = out / "record.json"
    record.write_text(json.dumps(record_of(demo.committed)))
    reg_pdf, _ = write_receipt(issue_receipt(demo.op, demo.committed, "registration", SALT), out)
    arr_pdf, arr_png = write_receipt(issue_receipt(demo.op, demo.arrived, "arrival", SALT), out)
    return {"keys": keys, "record": record, "reg": reg_pdf, "pdf": arr_pdf, "png": arr_png}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_receipt_verifies_and_says_what_it_proves(
    demo: Demo, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("pdf", "png"):
        code, out, err = run(
            capsys, "receipt", "verify", str(files[name]), "--keys", str(files["keys"])
        )
        assert (code, err) == (0, "")
        assert out.startswith(f"ok: arrival receipt of {demo.arrived} verified\n")
        assert "arrived at zaporizhzhia on 2022-05-03" in out
        assert "of the checkpoint of size " in out
        assert "cosigned by: un-ocha (coordinator), icrc (facilitator), ukraine" in out
        assert "record: not checked" in out


def test_the_record_is_checked_when_given(
    demo: Demo, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    keys, record = str(files["keys"]), str(files["record"])
    code, out, _ = run(
        capsys, "receipt", "verify", str(files["reg"]), "--keys", keys, "--record", record
    )
    assert code == 0
    assert "record: matches the registration's commitment" in out
    assert f"registration receipt of {demo.committed}" in out
    other = files["record"].with_name("other.json")
    other.write_text(json.dumps({"given_name": "Someone"}))
    code, out, err = run(
        capsys, "receipt", "verify", str(files["reg"]), "--keys", keys, "--record", str(other)
    )
    assert (code, out) == (1, "")
    assert err.startswith("verification failed: record: does not match")
    assert err.count("\n") == 1


def test_an_altered_receipt_fails_verification(
    demo: Demo, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receipt = issue_receipt(demo.op, demo.arrived, "arrival", SALT)
    altered = tmp_path / "altered.txt"
    altered.write_text(receipt.to_text().replace('"site":"zaporizhzhia"', '"site":"bezimenne"'))
    code, out, err = run(capsys, "receipt", "verify", str(altered), "--keys", str(files["keys"]))
    assert (code, out) == (1, "")
    assert err.startswith("verification failed: proof: the event is not entry")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("target", "content", "named"),
    [
        ("receipt", b"garbage", "receipt"),
        ("keys", b"{", "keys"),
        ("keys", b'{"format": 1}', "keys"),
    ],
)
def test_bad_input_is_one_line_naming_the_file(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    target: str,
    content: bytes,
    named: str,
) -> None:
    bad = tmp_path / f"bad-{named}"
    bad.write_bytes(content)
    receipt = bad if target == "receipt" else files["pdf"]
    keys = bad if target == "keys" else files["keys"]
    code, out, err = run(capsys, "receipt", "verify", str(receipt), "--keys", str(keys))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {bad}: ")
    assert err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [bad.name]


def test_a_record_with_an_arrival_receipt_is_bad_input(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys,
        "receipt",
        "verify",
        str(files["pdf"]),
        "--keys",
        str(files["keys"]),
        "--record",
        str(files["record"]),
    )
    assert code == 2
    assert err.startswith("error: --record: only a registration receipt")


def test_keys_are_exported(demo: Demo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "receipt", "keys", str(demo.directory))
    assert code == 0
    assert json.loads(out) == public_keys(demo.op)
    target = tmp_path / "keys.json"
    code, out, _ = run(capsys, "receipt", "keys", str(demo.directory), "--out", str(target))
    assert code == 0
    assert json.loads(target.read_text()) == public_keys(demo.op)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.json"]


def test_keys_of_no_operation_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "receipt", "keys", str(tmp_path), "--out", str(tmp_path / "k.json")
    )
    assert (code, out) == (2, "")
    assert "no log here" in err
    assert list(tmp_path.iterdir()) == []
