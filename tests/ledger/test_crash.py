"""Nothing confirmed is lost when the appending process is killed at a random moment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.ledger.crash import run_cycles

CYCLES = int(os.environ.get("SAFEPASSAGE_CRASH_CYCLES", "100"))


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_confirmed(tmp_path: Path) -> None:
    result = run_cycles(tmp_path, cycles=CYCLES, seed=20220501)
    assert result["cycles"] == CYCLES
    assert result["confirmed_appends"] > CYCLES  # the child really appended between kills
    assert result["entries"] >= result["confirmed_appends"]
