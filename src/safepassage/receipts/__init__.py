"""Evacuee receipts: one person's registration or arrival, provable offline, and nothing else.

``format`` holds the receipt and its text and QR payload, ``keys`` the operation's public-keys
bundle, ``verify`` the offline check (all pure); ``render`` writes and reads the PDF and PNG.
"""

from __future__ import annotations

from safepassage.receipts.format import KINDS, Receipt, Stage, parse_receipt
from safepassage.receipts.keys import Party, PublicKeys
from safepassage.receipts.verify import VerifiedReceipt, verify_receipt

__all__ = [
    "KINDS",
    "Party",
    "PublicKeys",
    "Receipt",
    "Stage",
    "VerifiedReceipt",
    "parse_receipt",
    "verify_receipt",
]
