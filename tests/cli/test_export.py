"""``safepassage export figures``: HXL that libhxl reads and validates, CSV and JSON alike, every
count the public report's, and bad input refused in one line with nothing written."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import hxl
import pytest

from safepassage.app.operation import Operation
from safepassage.cli import main
from safepassage.operation.disclosure import reader_range

STATUSES = "destination|not-boarded|in-transit|unaccounted|registered|arrived|left-convoy|boarded"
COUNT = r"^([0-9]+|<5|x)$"

# An HXL schema is itself HXL: one rule a row.
SCHEMA = [
    ["#valid_tag", "#valid_required+min", "#valid_value+regex", "#valid_value+list"],
    ["#event+name", "1", "", ""],
    ["#event+code", "1", "", ""],
    ["#date+reported", "1", r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", ""],
    ["#status+code", "1", "", STATUSES],
    ["#loc+name+origin", "", "", ""],
    ["#loc+name+dest", "", "", ""],
    ["#targeted+ind", "", COUNT, ""],
    ["#reached+ind", "", COUNT, ""],
    ["#meta+source", "1", "", ""],
    ["#meta+checkpoint+size", "1", r"^[0-9]+$", ""],
    ["#meta+checkpoint+root", "1", r"^[A-Za-z0-9+/]{43}=$", ""],
]
BEZIMENNE = "Bezimenne temporary accommodation point"
ZAPORIZHZHIA = "Zaporizhzhia reception centre"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("export") / "azovstal"
    assert main(["demo", str(directory), "--format", "json"]) == 0
    return directory


@pytest.fixture(scope="module")
def few_chose_bezimenne(demo: Path) -> int:
    """The first log size at which 1 to 4 people had chosen Bezimenne."""
    with Operation.open(demo) as op:
        for size in range(op.log.size()):
            n = op.report(size).figures.chosen.get(BEZIMENNE, 0)
            if isinstance(n, int) and 1 <= n <= 4:
                return size
    pytest.fail("the demo never has 1 to 4 people choosing Bezimenne")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def export(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run(capsys, "export", "figures", *argv)
    assert (code, err) == (0, "")
    return out


def report(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, _ = run(capsys, "report", *argv, "--format", "json")
    assert code == 0
    result: dict[str, Any] = json.loads(out)
    return result


def validate(text: str) -> list[str]:
    issues: list[Any] = []
    data = hxl.data(list(csv.reader(io.StringIO(text))))
    hxl.schema(SCHEMA, callback=issues.append).validate(data)
    return [f"{i.message}: {i.value}" for i in issues]


def figure(r: dict[str, Any], row: dict[str, Any]) -> Any:
    """The report's value for what an export row counts."""
    f, status, origin, dest = r["figures"], row["status"], row["origin"], row["destination"]
    if origin:
        [o] = [o for o in f["by_origin"] if o["site"] == origin]
        if status == "destination":
            return o["chosen"].get(dest, 0), o["reached"].get(dest, 0)
        return o[status.replace("-", "_")], None
    if status == "destination":
        return f["chosen"].get(dest, 0), None
    if status == "arrived":
        return None, f["arrived"].get(dest, 0)
    if status == "left-convoy":
        return None, f["left_convoy"].get(dest, 0)
    return f[status.replace("-", "_")], None


# --- the three formats --------------------------------------------------------------------------


def test_hxl_is_read_by_libhxl_and_valid_under_its_schema(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = export(capsys, str(demo))
    assert validate(text) == []
    data = hxl.data(list(csv.reader(io.StringIO(text))))
    tags = [c.display_tag for c in data.columns]
    assert tags[:8] == [
        "#event+name",
        "#event+code",
        "#date+reported",
        "#loc+name+origin",
        "#loc+name+dest",
        "#status+code",
        "#targeted+ind",
        "#reached+ind",
    ]
    rows = list(data)
    [to_zap] = [
        r
        for r in rows
        if r.get("#status+code") == "destination"
        and r.get("#loc+name+origin")
        and r.get("#loc+name+dest") == ZAPORIZHZHIA
    ]
    assert (to_zap.get("#targeted+ind"), to_zap.get("#reached+ind")) == ("69", "69")
    assert {r.get("#date+reported") for r in rows} == {"2022-05-03"}
    assert {r.get("#event+code") for r in rows} == {"azovstal-2022"}


def test_every_count_is_the_public_reports_and_the_checkpoint_is_named(
    demo: Path, few_chose_bezimenne: int, capsys: pytest.CaptureFixture[str]
) -> None:
    for at in ([], ["--at", "325"], ["--at", str(few_chose_bezimenne)]):
        exact = report(capsys, str(demo), *at)
        public = report(capsys, str(demo), *at, "--public")
        rows = json.loads(export(capsys, str(demo), *at, "--format", "json"))
        for row in rows:
            expected = figure(public, row)
            assert (row["targeted"], row["reached"]) == expected, row
            for got, truth in zip(expected, figure(exact, row), strict=True):
                if got is not None:
                    lo, hi = reader_range(got)
                    assert lo <= truth, row
                    assert hi is None or truth <= hi, row
            cp = exact["checkpoint"]
            assert (row["log"], row["size"], row["root"]) == (cp["origin"], cp["size"], cp["root"])


def test_csv_is_the_hxl_without_its_hashtags_and_json_the_same_rows(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hxl_text = export(capsys, str(demo), "--at", "325", "--format", "hxl")
    csv_text = export(capsys, str(demo), "--at", "325", "--format", "csv")
    lines = hxl_text.splitlines()
    assert lines[1].startswith("#event+name,")
    assert csv_text.splitlines() == [lines[0], *lines[2:]]
    rows = json.loads(export(capsys, str(demo), "--at", "325", "--format", "json"))
    as_text = [
        {k: "" if v is None else str(v) for k, v in row.items()}
        for row in rows  # CSV has no types: compare as text
    ]
    assert as_text == list(csv.DictReader(io.StringIO(csv_text)))


def test_a_destination_chosen_by_few_shows_less_than_5_and_a_complement_withheld(
    demo: Path, few_chose_bezimenne: int, capsys: pytest.CaptureFixture[str]
) -> None:
    at = ["--at", str(few_chose_bezimenne)]
    rows = json.loads(export(capsys, str(demo), *at, "--format", "json"))
    chosen = {
        (r["origin"], r["destination"]): r["targeted"] for r in rows if r["status"] == "destination"
    }
    origin = "Azovstal plant, Mariupol"
    assert chosen[origin, BEZIMENNE] == chosen[None, BEZIMENNE] == "<5"
    assert chosen[origin, ZAPORIZHZHIA] == chosen[None, ZAPORIZHZHIA] == "x"
    public = report(capsys, str(demo), *at, "--public")
    assert public["figures"]["chosen"] == {BEZIMENNE: "<5", ZAPORIZHZHIA: "x"}
    assert validate(export(capsys, str(demo), *at)) == []


def test_hxls_default_schema_wants_numbers_where_the_markers_stand(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # why a consumer validates with a schema that allows "<5" and "x" (docs/disclosure.md)
    text = export(capsys, str(demo), "--at", "325")
    issues: list[Any] = []
    hxl.schema(None, callback=issues.append).validate(hxl.data(list(csv.reader(io.StringIO(text)))))
    assert {i.value for i in issues if i.message == "Expected a number"} == {"<5", "x"}


def test_out_writes_the_file_and_nothing_to_standard_output(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "figures.hxl.csv"
    code, out, err = run(capsys, "export", "figures", str(demo), "--out", str(target))
    assert (code, out, err) == (0, "", "")
    assert target.read_text(encoding="utf-8") == export(capsys, str(demo))
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left beside it


# --- bad input: one line, nothing written -------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--format", "xlsx"], "error: --format: unknown format 'xlsx': use hxl, csv or json"),
        (["--at", "100000"], "error: --at: must be between 0 and the log size 460"),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_written(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    target = tmp_path / "figures.csv"
    code, out, err = run(capsys, "export", "figures", str(demo), *argv, "--out", str(target))
    assert (code, out) == (2, "")
    assert err.strip().splitlines() == [message]
    assert list(tmp_path.iterdir()) == []


def test_a_folder_without_an_operation_is_one_line_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "figures.csv"
    code, _, err = run(capsys, "export", "figures", str(tmp_path / "none"), "--out", str(target))
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "no log here" in err
    assert list(tmp_path.iterdir()) == []
