"""The printed receipt: PDF and PNG written, read back, scanned, and showing no one else."""

from __future__ import annotations

import dataclasses
import shutil
import zlib
from io import BytesIO
from pathlib import Path

import pytest
import segno
import zxingcpp
from fpdf import FPDF
from PIL import Image
from pypdf import PdfReader

from safepassage.app.receipts import issue_receipt, site_names
from safepassage.errors import FormatError
from safepassage.receipts import Receipt, render, verify_receipt
from safepassage.receipts.render import PNG_KEYWORD, read_receipt_file, write_receipt
from tests.receipts.demo import SALT, Demo


@pytest.fixture(scope="module")
def written(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> tuple[Receipt, Path, Path]:
    receipt = issue_receipt(demo.op, demo.arrived, "arrival", SALT)
    out = tmp_path_factory.mktemp("out")
    pdf, png = write_receipt(receipt, out, site_names=site_names(demo.op))
    return receipt, pdf, png


def test_both_files_hold_the_receipt_and_nothing_else_is_left(
    written: tuple[Receipt, Path, Path], demo: Demo
) -> None:
    receipt, pdf, png = written
    assert sorted(p.name for p in pdf.parent.iterdir()) == [
        f"receipt-{demo.arrived}-arrival.pdf",
        f"receipt-{demo.arrived}-arrival.png",
    ]
    assert read_receipt_file(pdf) == receipt
    assert read_receipt_file(png) == receipt
    verify_receipt(read_receipt_file(pdf), demo.keys)


QR = zxingcpp.BarcodeFormat.QRCode


def test_the_qr_code_scans_to_the_payload(written: tuple[Receipt, Path, Path]) -> None:
    receipt, pdf, png = written
    # QR codes only: one run found a second barcode, of some other format, in this image
    [code] = zxingcpp.read_barcodes(Image.open(png), formats=QR)
    assert code.text == receipt.to_payload()
    # the QR code printed on the page too
    [image] = PdfReader(pdf).pages[0].images
    [printed] = zxingcpp.read_barcodes(image.image, formats=QR)
    assert printed.text == receipt.to_payload()


def test_a_payload_file_and_a_text_file_are_read_too(
    written: tuple[Receipt, Path, Path], tmp_path: Path
) -> None:
    receipt = written[0]
    (tmp_path / "scan.txt").write_text(receipt.to_payload() + "\n")
    (tmp_path / "receipt.txt").write_text(receipt.to_text())
    assert read_receipt_file(tmp_path / "scan.txt") == receipt
    assert read_receipt_file(tmp_path / "receipt.txt") == receipt


def test_the_page_shows_this_person_and_no_one_else(
    written: tuple[Receipt, Path, Path], demo: Demo
) -> None:
    receipt, pdf, _ = written
    reader = PdfReader(pdf)
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    for shown in (demo.arrived, "Zaporizhzhia reception centre", demo.keys.name, "2022-05-03"):
        assert shown in text
    assert "receipt verify" in text
    raw = pdf.read_bytes()
    for other in demo.op.state.persons:
        if other != demo.arrived:
            assert other not in text
            assert other.encode() not in raw
            assert other not in receipt.to_text()


def test_a_name_outside_latin_1_is_printed(demo: Demo, tmp_path: Path) -> None:
    receipt = issue_receipt(demo.op, demo.committed, "registration", SALT)
    named = dataclasses.replace(receipt, operation_name="Евакуація з Азовсталі")
    pdf, _ = write_receipt(named, tmp_path)
    text = PdfReader(pdf).pages[0].extract_text()
    if render._UNICODE_FONTS[0].is_file():  # the system font this machine has
        assert "Евакуація з Азовсталі" in text
    assert read_receipt_file(pdf) == named


def test_a_failed_write_leaves_nothing(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    receipt = issue_receipt(demo.op, demo.arrived, "arrival", SALT)
    real = render._write_new

    def failing(path: Path, data: bytes) -> Path:
        if path.suffix == ".png":
            raise OSError(28, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(render, "_write_new", failing)
    with pytest.raises(OSError, match="No space"):
        write_receipt(receipt, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def _png_without_text() -> bytes:
    out = BytesIO()
    segno.make("SPR1:AB").save(out, kind="png")
    return out.getvalue()


def _pdf_without_attachment() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica")
    pdf.cell(text="a receipt, honest")
    return bytes(pdf.output())


def _broken(png: bytes) -> bytes:
    data = bytearray(png)
    data[40] ^= 1  # inside the text chunk: its CRC no longer holds
    return bytes(data)


@pytest.mark.parametrize(
    ("name", "make", "why"),
    [
        ("empty.txt", lambda r: b"", "is empty"),
        ("noise.bin", lambda r: bytes(range(256)), "not UTF-8"),
        ("note.txt", lambda r: b"hello", "does not start with"),
        ("scan.txt", lambda r: r.to_payload()[:-3].encode(), "payload"),
        ("cut.png", lambda r: render.png_bytes(r)[:200], "png"),
        ("crc.png", lambda r: _broken(render.png_bytes(r)), "CRC"),
        ("plain.png", lambda r: _png_without_text(), PNG_KEYWORD),
        ("plain.pdf", lambda r: _pdf_without_attachment(), "attachment"),
        ("cut.pdf", lambda r: render.pdf_bytes(r)[:300], "pdf"),
        ("zip.txt", lambda r: zlib.compress(r.to_text().encode()), "UTF-8"),
    ],
)
def test_a_malformed_file_names_the_file(
    written: tuple[Receipt, Path, Path], tmp_path: Path, name: str, make: object, why: str
) -> None:
    path = tmp_path / name
    path.write_bytes(make(written[0]))  # type: ignore[operator]
    before = sorted(tmp_path.iterdir())
    with pytest.raises(FormatError, match=why) as err:
        read_receipt_file(path)
    assert err.value.field == str(path)
    assert sorted(tmp_path.iterdir()) == before


def test_the_extension_does_not_matter(written: tuple[Receipt, Path, Path], tmp_path: Path) -> None:
    receipt, pdf, png = written
    shutil.copy(pdf, tmp_path / "receipt.png")
    shutil.copy(png, tmp_path / "receipt")
    assert read_receipt_file(tmp_path / "receipt.png") == receipt
    assert read_receipt_file(tmp_path / "receipt") == receipt
