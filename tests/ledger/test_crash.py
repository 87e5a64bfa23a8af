"""Nothing confirmed is lost when the appending process is killed at a random moment."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from safepassage.ledger.log import DB_FILE, Log
from tests.ledger.crash import _check_since, run_cycles

CYCLES = int(os.environ.get("SAFEPASSAGE_CRASH_CYCLES", "100"))


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_confirmed(tmp_path: Path) -> None:
    result = run_cycles(tmp_path, cycles=CYCLES, seed=20220501)
    assert result["cycles"] == CYCLES
    assert result["full_audits"] == CYCLES
    assert result["confirmed_appends"] > CYCLES  # the child really appended between kills
    assert result["entries"] >= result["confirmed_appends"]


def test_the_per_cycle_check_catches_a_changed_or_missing_new_entry(tmp_path: Path) -> None:
    directory = tmp_path / "log"
    with Log.create(directory, "crash.example/log") as log:
        log.append_batch([b"%d" % i for i in range(10)])
        witnessed = log.open_checkpoint(log.checkpoint())
        log.append_batch([b"%d" % i for i in range(10, 17)])
        now = log.open_checkpoint(log.checkpoint())
        _check_since(log, witnessed, now)  # sound
    db = sqlite3.connect(directory / DB_FILE)
    with db:
        db.execute("UPDATE entries SET data = x'00' WHERE idx = 12")
    db.close()
    with Log.open(directory) as log, pytest.raises(AssertionError, match="rebuild the signed root"):
        _check_since(log, witnessed, now)
    db = sqlite3.connect(directory / DB_FILE)
    with db:
        db.execute("DELETE FROM entries WHERE idx = 13")
    db.close()
    with Log.open(directory) as log, pytest.raises(AssertionError, match="entry 13 is missing"):
        _check_since(log, witnessed, now)
