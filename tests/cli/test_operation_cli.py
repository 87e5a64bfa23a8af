"""``safepassage demo``, ``report`` and ``checkpoint cosign`` through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from safepassage.cli import main


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cli") / "azovstal"
    assert main(["demo", str(directory), "--format", "json"]) == 0
    return directory


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_report_json_follows_the_schema_fields(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "report", str(demo), "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert set(report) == {
        "disclosure",
        "operation",
        "checkpoint",
        "figures",
        "notifications",
        "alerts",
    }
    assert report["disclosure"] == "exact"
    assert report["figures"]["boarded"] == 101
    assert report["checkpoint"]["size"] == 460


def test_public_report_is_the_same_shape_with_small_counts_suppressed(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # at 325 entries a few people have left the convoy at Bezimenne, the rest are in transit
    code, out, _ = run(capsys, "report", str(demo), "--at", "325", "--format", "json")
    assert code == 0
    exact = json.loads(out)
    code, out, _ = run(capsys, "report", str(demo), "--at", "325", "--format", "json", "--public")
    assert code == 0
    public = json.loads(out)
    assert set(public) == set(exact)
    assert public["disclosure"] == "public"
    bezimenne = "Bezimenne temporary accommodation point"
    assert 1 <= exact["figures"]["left_convoy"][bezimenne] <= 4
    assert public["figures"]["left_convoy"] == {bezimenne: "<5"}
    assert public["figures"]["in_transit"] == "x"  # else boarded - in transit gives it away
    assert public["figures"]["boarded"] == exact["figures"]["boarded"] == 101
    code, out, _ = run(capsys, "report", str(demo), "--at", "325", "--public")
    assert code == 0
    assert "| left the convoy (by their recorded choice) | <5 at Bezimenne" in out
    assert "| in transit | x |" in out


def test_report_at_an_earlier_size_is_the_operation_as_it_was(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "report", str(demo), "--at", "20", "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["checkpoint"]["size"] == 20
    assert report["figures"]["registered"] == 0


def test_report_markdown_names_every_figure(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "report", str(demo))
    assert code == 0
    for needle in ("| boarded | 101 |", "| unaccounted | 0 |", "russia acknowledged at"):
        assert needle in out


def test_report_beyond_the_log_is_bad_input(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "report", str(demo), "--at", "100000")
    assert code == 2
    assert err.strip().splitlines() == ["error: --at: must be between 0 and the log size 460"]


def test_cosigning_again_at_the_same_size_adds_nothing(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "op"
    shutil.copytree(demo, copy)
    code, first, _ = run(capsys, "checkpoint", "cosign", str(copy), "--party", "ukraine")
    assert code == 0
    assert first.count("— ukraine.witness") == 1
    code, again, _ = run(capsys, "checkpoint", "cosign", str(copy), "--party", "ukraine")
    assert (code, again) == (0, first)


def test_cosigning_for_an_unknown_party_is_bad_input(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "op"
    shutil.copytree(demo, copy)
    code, _, err = run(capsys, "checkpoint", "cosign", str(copy), "--party", "nobody")
    assert code == 2
    assert err.strip().splitlines() == ["error: party: party 'nobody' has no witness key on record"]


def test_demo_refuses_a_folder_in_use(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "demo", str(demo))
    assert code == 2
    assert "DIR: already exists and is not empty" in err


def test_rebuild_drops_and_refills_the_projections_identically(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safepassage.app.operation import Operation  # noqa: PLC0415

    copy = tmp_path / "copy"
    shutil.copytree(demo, copy)
    with Operation.open(copy) as op:
        before = op.projections.dump()
        root = op.log.store.root().hex()
    code, out, err = run(capsys, "rebuild", str(copy))
    assert (code, err) == (0, "")
    assert out == f"rebuilt the projections from 460 log entries (root {root})\n"
    with Operation.open(copy) as op:
        assert op.projections.dump() == before
        assert len(before["persons"]) == 101


def test_rebuild_of_a_folder_without_a_log_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "rebuild", str(tmp_path))
    assert code == 2
    assert err.startswith("error: ")
    assert "no log here" in err
    assert list(tmp_path.iterdir()) == []
