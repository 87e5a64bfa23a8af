"""The printable receipt: a one-page PDF and a QR-code PNG, written and read back.

Both carry the receipt's payload whole, so a check never depends on decoding an image: the PNG
in a ``tEXt`` chunk (keyword ``safepassage-receipt``) beside the QR code of the same payload,
the PDF as an embedded file (``safepassage-receipt.txt``) beside the QR code and a
human-readable summary. The page shows this person's receipt and nothing else: no other
person's reference, no figure of the operation.

The QR code is made with error correction M (15% of the code may be damaged or folded away;
boosted to Q or H when that fits in the same size) and L only if M cannot hold the payload.
"""

from __future__ import annotations

import base64
import contextlib
import os
import struct
import zlib
from collections.abc import Mapping
from io import BytesIO
from pathlib import Path
from typing import Final

import segno
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from safepassage.errors import FormatError
from safepassage.events import catalogue as c
from safepassage.events.envelope import parse_event
from safepassage.ledger.note import signatures
from safepassage.receipts.format import Receipt, parse_receipt

__all__ = [
    "PDF_ATTACHMENT",
    "PNG_KEYWORD",
    "png_bytes",
    "qr_code",
    "read_receipt_file",
    "write_receipt",
]

PNG_KEYWORD: Final = "safepassage-receipt"
PDF_ATTACHMENT: Final = "safepassage-receipt.txt"
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_MAX_FILE_BYTES: Final = 10 * 1024 * 1024
_QR_SCALE: Final = 6  # pixels per module in the PNG: about 1,000 pixels wide
_QR_WIDTH_MM: Final = 100  # on paper: about 0.6 mm per module, easy for a phone camera
# Used only when a name is outside Latin-1 (e.g. Cyrillic) and the system has the font.
_UNICODE_FONTS: Final = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
    Path("/Library/Fonts/DejaVuSans.ttf"),
)


def qr_code(payload: str) -> segno.QRCode:
    """The QR code of a payload: alphanumeric mode, error correction M (L if M overflows)."""
    try:
        return segno.make(payload, error="m", mode="alphanumeric", micro=False)
    except segno.DataOverflowError:
        try:
            return segno.make(payload, error="l", mode="alphanumeric", micro=False)
        except segno.DataOverflowError as exc:
            reason = f"{len(payload)} characters do not fit in a QR code (version 40, L)"
            raise FormatError(reason, field="payload") from exc


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(receipt: Receipt) -> bytes:
    """The QR code as a PNG, the payload also in a ``tEXt`` chunk right after the header."""
    payload = receipt.to_payload()
    out = BytesIO()
    qr_code(payload).save(out, kind="png", scale=_QR_SCALE, border=4)
    png = out.getvalue()
    after_header = len(_PNG_SIGNATURE) + 8 + 13 + 4  # IHDR: length, type, 13 bytes, CRC
    text = _chunk(b"tEXt", PNG_KEYWORD.encode("latin-1") + b"\0" + payload.encode("ascii"))
    return png[:after_header] + text + png[after_header:]


# --- the PDF ---------------------------------------------------------------------------------


def _when(receipt: Receipt) -> tuple[str, list[tuple[str, str]]]:
    """The page's title and the facts it states, from the receipt's own event."""
    event = parse_event(receipt.event)
    at = event.at.strftime("%Y-%m-%d %H:%M UTC")
    body = event.body
    if isinstance(body, c.PersonRegistered):
        return "Evacuation receipt: registration", [
            ("Registered at", body.site),
            ("On", at),
            ("Destination chosen", body.destination),
        ]
    if isinstance(body, c.PersonArrived):
        return "Evacuation receipt: arrival", [("Arrived at", body.site), ("On", at)]
    raise FormatError(f"{event.kind} is not a registration or an arrival", field="event")


class _Page:
    """One A4 page in a font that can write every text it is given."""

    def __init__(self, texts: list[str]) -> None:
        self.pdf = FPDF(format="A4", unit="mm")
        self.pdf.set_auto_page_break(auto=False)
        self.pdf.set_margins(20, 18, 20)
        self.pdf.set_creator("safepassage")
        self.pdf.add_page()
        self.family, self.latin1 = "helvetica", True
        if not all(_is_latin1(t) for t in texts):
            font = next((f for f in _UNICODE_FONTS if f.is_file()), None)
            if font is not None:
                self.pdf.add_font("dejavu", fname=font)
                self.family, self.latin1 = "dejavu", False

    def text(self, text: str, size: float, *, bold: bool = False, height: float = 6) -> None:
        style = "B" if bold and self.family == "helvetica" else ""
        self.pdf.set_font(self.family, style, size)
        if self.latin1:  # no Unicode font here: say what cannot be printed, never fail
            text = text.encode("latin-1", "replace").decode("latin-1")
        self.pdf.multi_cell(0, height, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def mono(self, text: str, size: float) -> None:
        self.pdf.set_font("courier", "B", size)
        self.pdf.multi_cell(0, size * 0.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _is_latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def pdf_bytes(receipt: Receipt, site_names: Mapping[str, str] | None = None) -> bytes:
    """The one-page printable receipt, with the payload as an embedded file."""
    names = site_names or {}
    title, facts = _when(receipt)
    facts = [(label, value if label == "On" else _site(value, names)) for label, value in facts]
    head = receipt.head()
    page = _Page([receipt.operation_name, *(value for _, value in facts)])
    page.text(title, 18, bold=True, height=9)
    page.text(f"{receipt.operation_name} (operation {receipt.operation})", 11)
    page.pdf.ln(4)
    page.text("Reference", 10)
    page.mono(receipt.ref, 20)
    page.pdf.ln(2)
    for label, value in facts:
        page.text(f"{label}: {value}", 12, height=7)
    page.pdf.ln(3)
    x = (page.pdf.w - _QR_WIDTH_MM) / 2
    page.pdf.image(BytesIO(png_bytes(receipt)), x=x, w=_QR_WIDTH_MM)
    page.pdf.ln(3)
    root = base64.b64encode(head.root).decode()
    cosignatures = len(signatures(receipt.checkpoint)) - 1  # all but the log's own
    page.text(
        f"Log entry {receipt.index} of {head.size}; checkpoint root {root[:16]}... ; "
        f"signed by the log and cosigned by {cosignatures} witnesses.",
        9,
        height=5,
    )
    page.pdf.ln(2)
    page.text(
        "How to check it, offline: safepassage receipt verify <this file or a scan of the "
        "QR code> --keys <the operation's public keys, from safepassage receipt keys>.",
        9,
        height=5,
    )
    page.text(
        f"This receipt proves your own {receipt.stage} and says nothing about anyone else. "
        "The QR code holds the whole receipt, including the secret that ties it to your "
        "personal record: keep it private.",
        9,
        height=5,
    )
    page.pdf.embed_file(
        bytes=receipt.to_payload().encode("ascii"),
        basename=PDF_ATTACHMENT,
        desc="The receipt's payload, as in the QR code",
    )
    return bytes(page.pdf.output())


def _site(slug: str, names: Mapping[str, str]) -> str:
    name = names.get(slug)
    return f"{name} ({slug})" if name else slug


# --- files -----------------------------------------------------------------------------------


def _write_new(path: Path, data: bytes) -> Path:
    """``data`` in a temporary file beside ``path``, on disk; returns the temporary path."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return tmp


def write_receipt(
    receipt: Receipt, out_dir: Path, *, site_names: Mapping[str, str] | None = None
) -> tuple[Path, Path]:
    """Write ``receipt-<ref>-<stage>.pdf`` and ``.png`` in ``out_dir``; returns their paths.

    Both are made in memory and on disk beside their names before either is renamed into
    place, so a failure leaves neither file, nor a half-written one. ``site_names`` (slug to
    name) is for the page only; the payload holds what was logged.
    """
    out_dir = Path(out_dir)
    pdf, png = pdf_bytes(receipt, site_names), png_bytes(receipt)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"receipt-{receipt.ref}-{receipt.stage}"
    paths = (out_dir / f"{stem}.pdf", out_dir / f"{stem}.png")
    made: list[Path] = []
    try:
        for path, data in zip(paths, (pdf, png), strict=True):
            made.append(_write_new(path, data))
        for tmp, path in zip(made, paths, strict=True):
            tmp.replace(path)
    finally:
        for tmp in made:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return paths


def _png_payload(data: bytes) -> str:
    found: list[bytes] = []
    pos = len(_PNG_SIGNATURE)
    while True:
        if pos + 8 > len(data):
            raise FormatError("the PNG ends before its IEND chunk", field="png")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        if len(body) != length or len(crc) != 4:
            raise FormatError(f"the PNG's {kind!r} chunk is cut short", field="png")
        if struct.unpack(">I", crc)[0] != zlib.crc32(kind + body):
            raise FormatError(f"the PNG's {kind!r} chunk fails its CRC", field="png")
        if kind == b"tEXt" and body.startswith(PNG_KEYWORD.encode() + b"\0"):
            found.append(body[len(PNG_KEYWORD) + 1 :])
        if kind == b"IEND":
            break
        pos += 12 + length
    if len(found) != 1:
        reason = f"the PNG holds {len(found)} '{PNG_KEYWORD}' text chunks, not one"
        raise FormatError(reason, field="png")
    return found[0].decode("latin-1")


def _pdf_payload(data: bytes) -> bytes:
    from pypdf import PdfReader  # noqa: PLC0415 - only reading a PDF needs it

    try:
        attachments = PdfReader(BytesIO(data)).attachments
        found = attachments.get(PDF_ATTACHMENT)
    except Exception as exc:  # pypdf raises many kinds of error on a damaged file
        raise FormatError(f"is not a readable PDF ({type(exc).__name__})", field="pdf") from exc
    if not found or len(found) != 1:
        raise FormatError(f"the PDF has no single '{PDF_ATTACHMENT}' attachment", field="pdf")
    return found[0]


def _parse_file(data: bytes) -> Receipt:
    if data.startswith(b"%PDF-"):
        return parse_receipt(_pdf_payload(data))
    if data.startswith(_PNG_SIGNATURE):
        return parse_receipt(_png_payload(data))
    if not data.strip():
        raise FormatError("is empty", field="file")
    return parse_receipt(data)


def read_receipt_file(path: Path) -> Receipt:
    """The receipt in a PDF, a PNG (its text chunk) or a payload or text file, told apart by
    their first bytes. A malformed file raises ``FormatError`` whose field is the file."""
    path = Path(path)
    if path.stat().st_size > _MAX_FILE_BYTES:
        raise FormatError(f"is larger than {_MAX_FILE_BYTES} bytes", field=str(path))
    try:
        return _parse_file(path.read_bytes())
    except FormatError as exc:
        raise FormatError(str(exc), field=str(path)) from exc
