"""The Azovstal demo: every disputed figure becomes a computed, cosigned fact."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safepassage.app.demo import run_demo
from safepassage.app.operation import Operation
from safepassage.cli import main
from safepassage.errors import StoreError


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo") / "azovstal"
    run_demo(directory).close()
    return directory


def test_the_figures_disputed_in_2022_are_computed(demo: Path) -> None:
    with Operation.open(demo) as op:
        report = op.report()
    f = report.figures
    assert f.boarded == 101
    assert f.left_convoy == {"Bezimenne temporary accommodation point": 32}
    assert f.arrived == {"Zaporizhzhia reception centre": 69}
    assert (f.in_transit, f.unaccounted) == (0, 0)
    assert f.seats_registered >= 2100
    assert f.seats_dispatched > f.seats_used == 101
    assert f.destination_changes > 0
    assert sum(f.incidents.values()) >= 2
    assert report.alerts == []
    assert report.checkpoint is not None
    assert sorted(report.checkpoint.cosigners) == ["icrc", "russia", "ukraine", "un-ocha"]
    [n] = report.notifications
    assert {r.party for r in n.responses if r.response == "acknowledged"} == {"ukraine", "russia"}
    assert all(r.at for r in n.responses)


def test_the_operation_is_left_open_and_its_keys_are_marked_demo_only(demo: Path) -> None:
    with Operation.open(demo) as op:
        assert not op.state.closed
    assert "DEMO ONLY" in (demo / "keys" / "DEMO-ONLY.txt").read_text()


def test_the_discrepancy_at_manhush_is_an_alert(tmp_path: Path) -> None:
    with run_demo(tmp_path / "d", discrepancy=True) as op:
        report = op.report()
    [alert] = report.alerts
    assert alert.kind == "headcount-mismatch"
    assert "Manhush" in alert.message
    assert report.figures.boarded == 101  # the fact is recorded, the figures still hold


def test_a_folder_that_holds_something_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    with pytest.raises(StoreError) as err:
        run_demo(tmp_path / "x")
    assert err.value.field == "DIR"
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["notes.txt"]


def test_the_demo_verifies(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(demo)]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    index=st.integers(0, 459),
    offset=st.integers(0, 10_000),
    table=st.sampled_from(["entries", "nodes"]),
)
def test_any_altered_byte_of_an_event_or_hash_is_named(
    demo: Path, tmp_path_factory: pytest.TempPathFactory, index: int, offset: int, table: str
) -> None:
    copy = tmp_path_factory.mktemp("t") / "op"
    shutil.copytree(demo, copy)
    db = sqlite3.connect(copy / "log" / "log.db")
    column, where = ("data", "idx = ?") if table == "entries" else ("hash", "level = 0 AND idx = ?")
    value = bytearray(
        db.execute(f"SELECT {column} FROM {table} WHERE {where}", (index,)).fetchone()[0]
    )
    value[offset % len(value)] ^= 0x01
    with db:
        db.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", (bytes(value), index))
    db.close()
    assert main(["verify", str(copy)]) == 1


def test_removed_or_reordered_events_are_named(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, statements, first_bad in [
        ("removed", ["DELETE FROM entries WHERE idx = 200"], 200),
        (
            "reordered",
            [
                "UPDATE entries SET idx = -1 WHERE idx = 150",
                "UPDATE entries SET idx = 150 WHERE idx = 151",
                "UPDATE entries SET idx = 151 WHERE idx = -1",
            ],
            150,
        ),
    ]:
        copy = tmp_path / name
        shutil.copytree(demo, copy)
        db = sqlite3.connect(copy / "log" / "log.db")
        with db:
            for s in statements:
                db.execute(s)
        db.close()
        capsys.readouterr()
        assert main(["verify", str(copy)]) == 1
        assert f"entry {first_bad}" in capsys.readouterr().err


def test_the_demo_people_are_in_its_vault_and_open_with_its_key_file(demo: Path) -> None:
    from datetime import UTC, datetime  # noqa: PLC0415

    from safepassage.app.demo import DEMO_VAULT_KEY  # noqa: PLC0415
    from safepassage.app.persons import read_person  # noqa: PLC0415
    from safepassage.vault.crypto import commitment  # noqa: PLC0415
    from safepassage.vault.store import Vault  # noqa: PLC0415

    with Operation.open(demo) as op, Vault.open(demo) as vault:
        assert vault.refs() == set(op.state.persons)
        key = vault.unlock(key_file=(demo / DEMO_VAULT_KEY).read_bytes())
        ref = min(op.state.persons)
        data, salt = read_person(op, vault, key, ref, actor="icrc/registrar-1", purpose="test")
        registered = next(
            e
            for e in op.events()
            if e.kind == "person.registered" and e.body.person == ref  # type: ignore[attr-defined]
        )
        assert registered.body.commitment == commitment(salt, data.committed(ref))  # type: ignore[attr-defined]
        assert data.given_name
        assert (demo / DEMO_VAULT_KEY).stat().st_mode & 0o077 == 0  # readable by its owner only
        assert data.birth_date is not None
        assert datetime.fromisoformat(data.birth_date).replace(tzinfo=UTC).year < 2022
