"""``safepassage receipt make``: a person's receipt from the vault's salt, checked offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from safepassage.app.demo import DEMO_VAULT_KEY, run_demo
from safepassage.app.operation import Operation
from safepassage.cli import main
from safepassage.vault.store import Vault


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("receipts") / "azovstal"
    run_demo(directory).close()
    return directory


def test_a_receipt_made_for_a_person_verifies_with_the_public_keys_alone(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Operation.open(demo) as op:
        ref = min(r for r, p in op.state.persons.items() if p.status == "arrived")
    key = str(demo / DEMO_VAULT_KEY)
    out = tmp_path / "receipts"
    for stage in ("registration", "arrival"):
        args = ["receipt", "make", str(demo), ref, "--stage", stage, "--actor", "icrc/registrar-1"]
        assert main([*args, "--key-file", key, "--out", str(out)]) == 0
    assert main(["receipt", "keys", str(demo), "--out", str(tmp_path / "keys.json")]) == 0
    capsys.readouterr()
    for name in sorted(p.name for p in out.iterdir()):
        assert (
            main(["receipt", "verify", str(out / name), "--keys", str(tmp_path / "keys.json")]) == 0
        )
        assert capsys.readouterr().out.startswith("ok: ")
    with Vault.open(demo) as vault:  # reading the salt opened the vault: recorded
        assert [a.action for a in vault.accesses(ref)] == ["receipt", "receipt"]


def test_a_party_liaison_cannot_make_anyone_s_receipt(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Operation.open(demo) as op:
        ref = min(op.state.persons)
    code = main(["receipt", "make", str(demo), ref, "--actor", "russia/liaison",
                 "--key-file", str(demo / DEMO_VAULT_KEY), "--out", str(tmp_path)])  # fmt: skip
    assert code == 2
    assert "only the coordinator's and facilitators'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
