"""Schemathesis against the served OpenAPI document, at bench scale (``bench/run.py --only fuzz``).

The same harness as ``tests/server/test_fuzz.py`` (``tests/server/fuzz.py``): a fresh demo
operation served in-process, every operation fuzzed with ``--fuzz-examples`` generated cases
(1,000 by default; ``make test`` runs 100) plus schemathesis' explicit and coverage cases, and
every operation that takes a body sent the hostile bodies. Prints one summary line, e.g.

    fuzz: 42 operations, 32,914 cases (1,000 generated per operation), 0 server errors,
    0 schema violations, 1 invalid accepted, 0 auth failures, 843 s

and writes every operation's figures (answers by status, failures with a curl command to replay
them) to ``<workdir>/fuzz.json``. It exits 1 when anything failed.

    .venv/bin/python bench/fuzz.py --examples 1000 [--workdir bench-out]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import machine

if str(machine.REPO) not in sys.path:
    sys.path.insert(0, str(machine.REPO))

from tests.server.fuzz import (
    Tally,
    fuzz_operation,
    fuzzed_demo,
    hostile_bodies,
    operations,
    takes_body,
)

from safepassage.app.demo import run_demo

KINDS = ("server error", "schema violation", "invalid data accepted", "auth failure")


def run(
    workdir: Path,
    examples: int,
    *,
    only: list[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Fuzz every operation (or those whose label contains one of ``only``); the figures."""
    start = time.perf_counter()
    wd = workdir / "fuzz"
    shutil.rmtree(wd, ignore_errors=True)
    run_demo(wd / "template").close()
    tallies: list[Tally] = []
    with fuzzed_demo(wd / "template", wd / "served") as fuzzed:
        for method, path in operations(fuzzed.schema):
            label = f"{method} {path}"
            if only and not any(part in label for part in only):
                continue
            tallies.append(fuzz_operation(fuzzed, method, path, examples))
            log(tallies[-1].line())
            if takes_body(fuzzed, method, path):
                tallies.append(hostile_bodies(fuzzed, method, path))
    failures: Counter[str] = Counter()
    for tally in tallies:
        failures.update(tally.failures)
    result = {
        "examples_per_operation": examples,
        "operations": len({t.label.removesuffix(" (hostile bodies)") for t in tallies}),
        "cases": sum(t.examples for t in tallies),
        "failures": {kind: failures.get(kind, 0) for kind in KINDS}
        | {k: n for k, n in failures.items() if k not in KINDS},
        "seconds": time.perf_counter() - start,
        "per_operation": [
            {"label": t.label, "cases": t.examples, "seconds": t.seconds,
             "statuses": {str(s): n for s, n in sorted(t.statuses.items())},
             "failures": dict(t.failures), "first_failures": t.messages}
            for t in tallies
        ],
    }  # fmt: skip
    shutil.rmtree(wd, ignore_errors=True)
    return result


def summary(result: dict[str, Any]) -> str:
    f = result["failures"]
    return (
        f"fuzz: {result['operations']} operations, {result['cases']:,} cases "
        f"({result['examples_per_operation']:,} generated per operation), "
        f"{f['server error']} server errors, {f['schema violation']} schema violations, "
        f"{f['invalid data accepted']} invalid accepted, {f['auth failure']} auth failures, "
        f"{result['seconds']:,.0f} s"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=1000, help="generated cases per operation")
    p.add_argument("--workdir", type=Path, default=machine.REPO / "bench-out")
    p.add_argument("--only", nargs="+", help="operations whose label contains one of these")
    args = p.parse_args(argv)
    result = run(args.workdir, args.examples, only=args.only)
    (args.workdir / "fuzz.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(summary(result))
    return 1 if any(result["failures"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
