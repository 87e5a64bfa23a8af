"""Crash loop: append continuously in a child process, SIGKILL it at random, check the log.

After each kill: every index the child reported as confirmed holds exactly the bytes it
appended, the whole log verifies (``audit``), and the checkpoint the log signs now is
consistent with the last checkpoint a witness saw before the kill. ``make test`` runs ~100
cycles; ``make bench`` runs 1,000.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from safepassage.ledger import merkle
from safepassage.ledger.audit import audit
from safepassage.ledger.checkpoint import Checkpoint
from safepassage.ledger.log import Log

CHILD = Path(__file__).with_name("crash_child.py")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    return env


def _run_child(directory: Path, tag: str, rng: random.Random) -> list[str]:
    """Start the child, let it append for a random while, SIGKILL it; return its whole lines."""
    with subprocess.Popen(
        [sys.executable, str(CHILD), str(directory), tag],
        stdout=subprocess.PIPE,
        env=_env(),
    ) as proc:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        if ready != b"READY\n":
            proc.kill()
            raise AssertionError(f"crash child did not start: {ready!r}")
        time.sleep(rng.uniform(0.0, 0.25))
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()
    lines = rest.decode().split("\n")
    return lines[:-1]  # the last piece has no newline: a line the child never finished


def _check_since(log: Log, witnessed: Checkpoint, now: Checkpoint) -> None:
    """Verify what changed since the witnessed checkpoint, in O(new entries + log n).

    The consistency proof shows the stored prefix still hashes to the witnessed root; the new
    entries, rehashed onto the witnessed right edge, must rebuild the new root.
    """
    assert now.size >= witnessed.size, "the log shrank"
    if witnessed.size:
        merkle.verify_consistency(
            witnessed.size,
            now.size,
            log.store.consistency_proof(witnessed.size, now.size),
            witnessed.root,
            now.root,
        )
    edge = log.store.frontier(witnessed.size)
    assert edge.root() == witnessed.root, "the stored right edge does not match the witness"
    for index, data in log.store.iter_entries(witnessed.size, now.size):
        assert index == edge.size, f"entry {edge.size} is missing"
        edge.append(merkle.leaf_hash(data))
    assert edge.size == now.size
    assert edge.root() == now.root, "the new entries do not rebuild the signed root"


def run_cycles(
    workdir: Path, cycles: int, seed: int, *, full_audit_every: int = 1
) -> dict[str, int]:
    """Run ``cycles`` kill-and-check rounds on one log in ``workdir``; return what was checked.

    Every cycle checks each confirmed entry and everything appended since the last checkpoint
    a witness saw; a full ``audit`` runs every ``full_audit_every`` cycles and after the last.
    """
    rng = random.Random(seed)
    directory = workdir / "crash-log"
    Log.create(directory, "crash.example/log").close()
    witnessed = Checkpoint("crash.example/log", 0, merkle.EMPTY_ROOT)
    confirmed_total = checkpoints_seen = audits = 0
    for cycle in range(cycles):
        lines = _run_child(directory, f"c{cycle}", rng)
        confirmed = [line.split(" ") for line in lines if line.startswith("A ")]
        checkpoints_seen += sum(1 for line in lines if line.startswith("C "))
        confirmed_total += len(confirmed)
        with Log.open(directory) as log:
            for _, index, data in confirmed:
                got = log.store.entry(int(index))
                assert got == bytes.fromhex(data), f"cycle {cycle}: entry {index} lost or changed"
            now = log.open_checkpoint(log.checkpoint())
            _check_since(log, witnessed, now)
            if (cycle + 1) % full_audit_every == 0 or cycle == cycles - 1:
                audit(log.store, log.verifier)
                audits += 1
            witnessed = now
    return {
        "cycles": cycles,
        "confirmed_appends": confirmed_total,
        "checkpoints_by_child": checkpoints_seen,
        "entries": witnessed.size,
        "full_audits": audits,
    }
