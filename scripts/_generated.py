"""Shared by the scripts that generate checked documents: write, or check with --check."""

from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(out: Path, text: str, script: str) -> int:
    """Write ``text`` to ``out``; with ``--check``, return 1 if ``out`` differs instead."""
    if "--check" in sys.argv:
        if not out.exists() or out.read_text(encoding="utf-8") != text:
            print(f"{out.name} is stale: run python scripts/{script}")
            return 1
        return 0
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    return 0
