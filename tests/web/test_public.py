"""The public pages (``safepassage.web.public``) and ``safepassage checkpoint verify``.

A served demo operation, plus two people registered through the API with canary personal data
(so a small count, "<5", exists) and a checkpoint cosigned after them. What a reader relies on:
the page's figures are the public report's at the cosigned checkpoint it names; small counts are
never shown exactly; no personal data reaches a page, the bundle or the PDF; the bundle is the
same bytes every time; and every "check it yourself" command runs as written.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from html.parser import HTMLParser
from pathlib import Path

import pypdf
import pytest
from fastapi.testclient import TestClient

from safepassage.app.receipts import issue_receipt, public_keys
from safepassage.cli import main
from safepassage.errors import SignatureError
from safepassage.events.envelope import read_event
from safepassage.operation.public import public_report
from safepassage.operation.report import Report
from safepassage.receipts.render import write_receipt
from safepassage.server.app import create_app
from safepassage.server.service import Service
from safepassage.web import publication
from safepassage.web.publication import BUNDLE_FILES
from tests.demo import unlocked_copy
from tests.server.conftest import make_accounts

OP = "azovstal-2022"
PAGE = f"/public/{OP}"
BIN = Path(sys.executable).parent
CANARY = {
    "given_name": "CANARY-PUB-GIVEN-5e2",
    "family_name": "CANARY-PUB-FAMILY-5e2",
    "birth_date": "1948-02-29",
    "document_number": "CANARY-PUB-DOC-5e2",
    "phone": "+380-CANARY-5e2",
    "notes": "CANARY-PUB-NOTES-5e2",
}
FIGURES = (
    "registered", "boarded", "not_boarded", "in_transit", "unaccounted", "destination_changes",
    "vehicles_registered", "vehicles_dispatched", "trips_dispatched", "seats_registered",
    "seats_dispatched", "seats_used",
)  # fmt: skip
"""The figures the page shows one by one (``id="figure-<name>"``)."""
SECOND = {**{k: v.replace("5e2", "9d4") for k, v in CANARY.items()}, "birth_date": "1939-11-30"}


@dataclass
class Site:
    directory: Path
    service: Service
    client: TestClient
    tokens: dict[str, str]
    refs: list[str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def cosign(self, *who: str) -> None:
        for name in who:
            answer = self.client.post("/api/v1/checkpoint/cosignatures", headers=self.headers(name))
            assert answer.status_code == 201, answer.text

    def register(self, data: dict[str, str], household: str) -> str:
        answer = self.client.post(
            "/api/v1/registrations",
            headers=self.headers("registrar"),
            json={"household": household, "site": "azovstal", "age_band": "60+",
                  "sex": "female", "destination": "zaporizhzhia", **data},
        )  # fmt: skip
        assert answer.status_code == 201, answer.text
        ref: str = answer.json()["person"]
        return ref


@pytest.fixture(scope="module")
def template(demo_template: Path) -> Path:
    return demo_template


def _serve(template: Path, directory: Path) -> Iterator[Site]:
    service = unlocked_copy(template, directory)
    try:
        tokens = make_accounts(service)
        with TestClient(create_app(service), raise_server_exceptions=False) as client:
            yield Site(directory, service, client, tokens, [])
    finally:
        service.close()


@pytest.fixture(scope="module")
def site(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Two canary people registered after the demo, then cosigned by three parties."""
    for served in _serve(template, tmp_path_factory.mktemp("public") / "azovstal"):
        served.refs = [served.register(CANARY, "H-canary-pub-1"),
                       served.register(SECOND, "H-canary-pub-2")]  # fmt: skip
        served.cosign("coordinator", "party-liaison", "other-liaison")
        yield served


@pytest.fixture
def fresh(template: Path, tmp_path: Path) -> Iterator[Site]:
    """The demo as it is, for a test that records more."""
    yield from _serve(template, tmp_path / "azovstal")


def published_report(site: Site) -> tuple[int, Report]:
    """The public report at the latest checkpoint a party other than the coordinator cosigned,
    computed here independently of the pages."""
    op = site.service.op
    for kept in reversed(op.log.store.checkpoints()):
        if set(op.cosigners(kept.note)) - {"un-ocha"}:
            return kept.size, public_report(op.report(kept.size))
    raise AssertionError("no cosigned checkpoint")


# --- reading HTML ----------------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip


class Page(HTMLParser):
    """Every element's text by its id, every table's rows (cell texts) by the table's id."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text: dict[str, str] = {}
        self.raw: dict[str, str] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self.tags: list[str] = []
        self._open: list[tuple[str, str | None]] = []
        self._buffers: dict[str, list[str]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        if tag in VOID:
            return
        ident = found.get("id")
        self._open.append((tag, ident))
        if ident:
            self._buffers[ident] = []
        if tag == "table" and ident:
            self._table = ident
            self.tables[ident] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            open_tag, ident = self._open.pop()
            if ident:
                self.raw[ident] = "".join(self._buffers.pop(ident))
                self.text[ident] = " ".join(self.raw[ident].split())
            if open_tag in ("td", "th") and self._table and self._cell is not None:
                self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
                self._cell = None
            if open_tag == "table":
                self._table = None
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for buffer in self._buffers.values():
            buffer.append(data)
        if self._cell is not None:
            self._cell.append(data)


def shown(value: object) -> str:
    """A count as the page shows it (``<5`` and ``x`` as they are)."""
    return str(value)


def rows(page: Page, table: str) -> list[list[str]]:
    return page.tables[table][1:]  # without the header row


# --- the pages ---------------------------------------------------------------------------------


def test_the_list_names_the_operation_and_its_published_checkpoint(site: Site) -> None:
    size, _ = published_report(site)
    answer = site.client.get("/public")
    assert answer.status_code == 200
    page = Page(answer.text)
    [row] = rows(page, "table-operations")
    state = site.service.state()
    assert row[0] == state.name
    assert row[1] == OP
    assert row[2] == "open"
    assert row[3].startswith(f"{size} log entries, as of 20")
    assert f'href="{PAGE}"' in answer.text


def test_the_page_shows_the_public_figures_at_the_cosigned_checkpoint(site: Site) -> None:
    size, report = published_report(site)
    assert size == site.service.op.log.size()  # the cosignatures came after the canaries
    answer = site.client.get(PAGE)
    assert answer.status_code == 200
    page = Page(answer.text)
    f = report.figures
    for key in FIGURES:
        assert page.text[f"figure-{key}"] == shown(getattr(f, key)), key
    places = sorted({*f.chosen, *f.arrived, *f.left_convoy})
    assert rows(page, "table-destinations") == [
        [d, shown(f.chosen.get(d, 0)), shown(f.arrived.get(d, 0)), shown(f.left_convoy.get(d, 0))]
        for d in places
    ]
    assert rows(page, "table-origins") == [
        [o.site, *(shown(v) for v in (o.registered, o.not_boarded, o.in_transit, o.unaccounted))]
        for o in f.by_origin
    ]
    assert rows(page, "table-origin-destinations") == [
        [o.site, d, shown(o.chosen.get(d, 0)), shown(o.reached.get(d, 0))]
        for o in f.by_origin
        for d in sorted({*o.chosen, *o.reached})
    ]
    assert rows(page, "table-incidents") == [[k, str(n)] for k, n in f.incidents.items()]
    # the checkpoint it names is the one kept, with who cosigned it
    assert report.checkpoint is not None
    note = site.service.op.log.checkpoint(size)
    assert page.text["checkpoint-note"] == " ".join(note.split())
    assert page.text["checkpoint-entries"] == str(size)
    assert page.text["checkpoint-root"] == report.checkpoint.root
    assert f"first {size} entries" in page.text["as-of"]
    cosigners = [r[0] for r in rows(page, "table-cosigners")]
    assert cosigners == [
        "United Nations Office for the Coordination of Humanitarian Affairs un-ocha",
        "Russian authorities (Joint Coordination Headquarters for Humanitarian Response) russia",
        "Ukrainian authorities ukraine",
    ]
    # notifications with every party's answer, the public alerts
    [notified] = rows(page, "table-notifications")
    assert notified[0] == "convoy-1"
    assert "acknowledged Ukrainian authorities, 2022-04-29 16:40 UTC" in notified[5]
    assert "acknowledged Russian authorities" in notified[5]
    assert page.text["alerts-list"].startswith("None")
    # the API's public report at that size says the same
    api = site.client.get("/api/v1/public/report", params={"at": size})
    assert Report.model_validate(api.json()) == report


def test_small_counts_are_shown_suppressed_never_exactly(site: Site) -> None:
    size, report = published_report(site)
    exact = site.service.op.report(size).figures
    assert exact.not_boarded == 2  # the two canaries: a small cell
    page = Page(site.client.get(PAGE).text)
    assert page.text["figure-not_boarded"] == "<5"
    origin = rows(page, "table-origins")[0]
    assert origin[2] == "<5"
    hidden = {
        key: getattr(exact, key)
        for key in ("registered", "boarded", "not_boarded", "seats_used")
        if getattr(report.figures, key) in ("<5", "x")
    }
    assert "not_boarded" in hidden
    for key, value in hidden.items():
        assert page.text[f"figure-{key}"] in ("<5", "x")
        assert page.text[f"figure-{key}"] != str(value)
    # and the page says in plain words what "<5" and "x" mean
    assert "between 1 and 4 people" in page.text["main"]
    assert "withheld: at least 1 person" in page.text["main"]


def test_public_pages_need_no_script_nor_sign_in(site: Site) -> None:
    for path in ("/public", PAGE, "/public/nothing-here"):
        answer = site.client.get(path)
        page = Page(answer.text)
        assert "script" not in page.tags, path
        assert " style=" not in answer.text, path
        assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
    assert "table-wrap" in site.client.get(PAGE).text


@pytest.mark.parametrize("suffix", ["", "/bundle.zip", "/sitrep.pdf"])
def test_an_unknown_operation_is_not_found(site: Site, suffix: str) -> None:
    answer = site.client.get(f"/public/not-{OP}{suffix}")
    assert answer.status_code == 404
    assert "No such operation" in answer.text


def test_entries_not_cosigned_by_a_party_are_not_published(fresh: Site) -> None:
    before = fresh.service.op.log.size()
    fresh.register(CANARY, "H-canary-pub-3")
    fresh.cosign("coordinator")  # the coordinator alone vouches for nothing
    page = Page(fresh.client.get(PAGE).text)
    assert page.text["checkpoint-entries"] == str(before)
    assert page.text["figure-registered"] == "101"
    fresh.cosign("party-liaison")
    page = Page(fresh.client.get(PAGE).text)
    assert page.text["checkpoint-entries"] == str(before + 1)
    assert page.text["figure-registered"] == "102"


def test_nothing_is_published_until_a_party_cosigns(
    fresh: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(_note: str, _keys: object) -> None:
        raise SignatureError("is cosigned by no party but the coordinator", field="checkpoint")

    monkeypatch.setattr(publication, "verify_checkpoint", refused)  # as if none were cosigned
    page = Page(fresh.client.get(PAGE).text)
    assert page.text["not-published"].startswith("Nothing is published yet")
    assert "figure-registered" not in page.text
    assert "none yet" in rows(Page(fresh.client.get("/public").text), "table-operations")[0][3]
    for suffix in ("/bundle.zip", "/sitrep.pdf"):
        answer = fresh.client.get(PAGE + suffix)
        assert answer.status_code == 404
        assert "Not published yet" in answer.text


# --- personal data ---------------------------------------------------------------------------


def test_personal_data_never_reaches_a_public_page_the_bundle_or_the_pdf(site: Site) -> None:
    # the canaries are there to be found, by staff who may see them ...
    for ref, data in zip(site.refs, (CANARY, SECOND), strict=True):
        answer = site.client.get(
            f"/api/v1/persons/{ref}", headers=site.headers("registrar"), params={"purpose": "test"}
        )
        assert answer.json()["family_name"] == data["family_name"]
    # ... and nowhere public
    texts = {path: site.client.get(path).text for path in ("/public", PAGE)}
    archive = zipfile.ZipFile(io.BytesIO(site.client.get(f"{PAGE}/bundle.zip").content))
    texts |= {name: archive.read(name).decode() for name in archive.namelist()}
    texts["sitrep.pdf"] = pdf_text(site.client.get(f"{PAGE}/sitrep.pdf").content)
    assert len(texts) == 2 + len(BUNDLE_FILES) + 1
    for where, text in texts.items():
        for value in (*CANARY.values(), *SECOND.values(), *site.refs):
            assert value not in text, (where, value)
        for field in ("given_name", "family_name", "birth_date", "document_number", "phone"):
            assert field not in text, (where, field)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


# --- the bundle ------------------------------------------------------------------------------


def test_the_bundle_is_the_same_bytes_each_time_and_holds_the_report(site: Site) -> None:
    size, report = published_report(site)
    first = site.client.get(f"{PAGE}/bundle.zip")
    second = site.client.get(f"{PAGE}/bundle.zip")
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/zip"
    assert first.headers["content-disposition"] == (
        f'attachment; filename="{OP}-public-{size}.zip"'
    )
    assert hashlib.sha256(first.content).digest() == hashlib.sha256(second.content).digest()
    archive = zipfile.ZipFile(io.BytesIO(first.content))
    assert archive.namelist() == list(BUNDLE_FILES)
    last = read_event(site.service.op.log.store.entry(size - 1)).at.astimezone(UTC)
    stamp = (last.year, last.month, last.day, last.hour, last.minute, last.second // 2 * 2)
    assert {info.date_time for info in archive.infolist()} == {stamp}
    assert Report.model_validate_json(archive.read("report.json")) == report
    assert archive.read("checkpoint.txt").decode() == site.service.op.log.checkpoint(size)
    assert json.loads(archive.read("public-keys.json")) == public_keys(site.service.op)
    readme = archive.read("README.txt").decode()
    for name in BUNDLE_FILES:
        assert name in readme
    assert "safepassage checkpoint verify checkpoint.txt --keys public-keys.json" in readme
    csv = archive.read("figures.csv").decode()
    hxl = archive.read("figures.hxl").decode()
    assert hxl.splitlines()[0] == csv.splitlines()[0]
    assert "#targeted" in hxl.splitlines()[1]
    assert ",<5," in csv


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def unpacked(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bundle")
    zipfile.ZipFile(io.BytesIO(site.client.get(f"{PAGE}/bundle.zip").content)).extractall(folder)
    return folder


def test_the_bundles_checkpoint_verifies(
    site: Site, unpacked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    size, report = published_report(site)
    assert report.checkpoint is not None
    code, out, err = run(
        capsys, "checkpoint", "verify", str(unpacked / "checkpoint.txt"),
        "--keys", str(unpacked / "public-keys.json"),
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out.splitlines()[:4] == [
        "ok: checkpoint of safepassage.example/azovstal-2022 verified",
        f"operation: {site.service.state().name} ({OP})",
        f"size: {size}",
        f"root: {report.checkpoint.root}",
    ]
    assert out.splitlines()[4] == "cosigned by:"
    assert [line.split()[0] for line in out.splitlines()[5:]] == ["un-ocha", "russia", "ukraine"]
    assert "  russia (party-to-conflict): Russian authorities" in out


def _flip(text: str, start: int) -> str:
    """``text`` with the base64 character at ``start`` changed to another."""
    return text[:start] + ("B" if text[start] == "A" else "A") + text[start + 1 :]


def _altered(note: str, how: str) -> str:
    text, block = note.split("\n\n")
    lines = block.splitlines()
    if how == "root":
        origin, size, root = text.splitlines()
        return f"{origin}\n{size}\n{_flip(root, 10)}\n\n{block}"
    if how == "cosignature":
        last = lines[-1]
        return f"{text}\n\n" + "\n".join([*lines[:-1], _flip(last, len(last) - 20)]) + "\n"
    if how == "unsigned":  # the log's own signature taken away
        return f"{text}\n\n" + "\n".join(lines[1:]) + "\n"
    if how == "coordinator-only":
        return f"{text}\n\n" + "\n".join(lines[:2]) + "\n"
    raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("root", "checkpoint (signature line 1): signature by safepassage.example/azovstal-2022"),
        ("cosignature", "checkpoint (signature line 4): signature by ukraine.witness"),
        ("unsigned", "checkpoint (note): no signature by the log key"),
        ("coordinator-only", "checkpoint: is cosigned by no party but the coordinator"),
    ],
)
def test_an_altered_checkpoint_is_refused_naming_why(
    unpacked: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str, reason: str
) -> None:
    note = (unpacked / "checkpoint.txt").read_text()
    bad = tmp_path / "checkpoint.txt"
    bad.write_text(_altered(note, how))
    code, out, err = run(
        capsys, "checkpoint", "verify", str(bad), "--keys", str(unpacked / "public-keys.json")
    )
    assert (code, out) == (1, "")
    assert err.startswith(f"verification failed: {reason}"), err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("target", "content", "said"),
    [
        ("note", None, "error: No such file or directory"),
        ("note", b"\xff\xfe checkpoint", "is not a text file"),
        ("keys", b"{", "is not a JSON keys file"),
    ],
)
def test_unreadable_files_are_bad_input(
    unpacked: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    target: str,
    content: bytes | None,
    said: str,
) -> None:
    bad = tmp_path / "bad"
    if content is not None:
        bad.write_bytes(content)
    note = bad if target == "note" else unpacked / "checkpoint.txt"
    keys = bad if target == "keys" else unpacked / "public-keys.json"
    code, out, err = run(capsys, "checkpoint", "verify", str(note), "--keys", str(keys))
    assert (code, out) == (2, "")
    assert said in err
    assert str(bad) in err
    assert err.count("\n") == 1


# --- "check it yourself": every command, as the page shows it ------------------------------


def test_every_command_on_the_page_runs_as_written(site: Site, tmp_path: Path) -> None:
    page = Page(site.client.get(PAGE).text)
    lines = [
        line
        for ident in ("cmd-get", "cmd-checkpoint", "cmd-recompute", "cmd-receipt")
        for line in page.raw[ident].splitlines()
    ]
    assert len(lines) == 3 + 1 + 5 + 1
    # an evacuee's receipt: one who arrived, proven against a checkpoint the parties cosigned
    op = site.service.op
    arrived = next(p.ref for p in op.state.persons.values() if p.status == "arrived")
    receipt = issue_receipt(op, arrived, "arrival", bytes(16))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "NO_COLOR": "1"}
    cwd = tmp_path
    for line in lines:
        if line.startswith("curl "):  # this test's server has no socket: fetch it the same way
            url = shlex.split(line)[-1]
            assert url == f"http://testserver{PAGE}/bundle.zip"
            answer = site.client.get(url.removeprefix("http://testserver"))
            (cwd / "bundle.zip").write_bytes(answer.content)
            continue
        if line.startswith("cd "):
            cwd /= line.removeprefix("cd ")
            _, png = write_receipt(receipt, cwd)
            png.rename(cwd / "receipt.png")
            continue
        command = line.replace(" DIR ", f" {shlex.quote(str(site.directory))} ")
        done = subprocess.run(
            command,
            shell=True,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,  # the return code is checked below, with the output
        )
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        assert "diff" not in line or done.stdout == "", line
        if line.startswith("safepassage checkpoint verify"):
            assert done.stdout.startswith("ok: checkpoint of ")
        if line.startswith("safepassage receipt verify"):
            assert done.stdout.startswith(f"ok: arrival receipt of {arrived} verified")


# --- the PDF -------------------------------------------------------------------------------------


def test_the_sitrep_pdf_has_the_figures_and_the_checkpoint(site: Site) -> None:
    size, report = published_report(site)
    answer = site.client.get(f"{PAGE}/sitrep.pdf")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="{OP}-sitrep-{size}.pdf"'
    )
    assert answer.content.startswith(b"%PDF-")
    text = " ".join(pdf_text(answer.content).split())
    f = report.figures
    assert report.checkpoint is not None
    assert f"Registered to leave {f.registered}" in text
    assert f"Registered, not boarded {f.not_boarded}" in text
    assert f"Seats registered {f.seats_registered}" in text
    assert f"checkpoint of {size} log entries" in text
    assert report.checkpoint.root in text.replace(" ", "")
    assert "between 1 and 4 people" in text
    assert "Russian authorities" in text
    assert "safepassage checkpoint verify checkpoint.txt --keys public-keys.json" in text
    again = site.client.get(f"{PAGE}/sitrep.pdf")
    assert again.content == answer.content  # the same checkpoint: rendered once
