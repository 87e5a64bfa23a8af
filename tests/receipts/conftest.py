"""Fixtures of the receipt tests: the demo operation with receipts to issue (see ``demo``)."""

from __future__ import annotations

from tests.receipts.demo import demo

__all__ = ["demo"]
