"""``make bench``: measure the safepassage log against pymerkle in one run; write the report.

Runs, in this order and in one process: durable appends (one at a time, then from concurrent
appenders), bulk appends, then for each tree size a build (cached under the work directory),
a root cross-check against pymerkle, inclusion and consistency proofs cold and warm, and full
verification; last the crash loop of ``tests/ledger/crash.py`` when it exists. Every figure in
the report comes from this run; the raw figures also go to ``<workdir>/results.json``.
``--only fuzz`` runs schemathesis against the served API instead (``bench/fuzz.py``; not part of
a full run, and not in the report).

    .venv/bin/python bench/run.py --out docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import inspect
import json
import os
import shlex
import shutil
import statistics
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

import city
import machine
import ours
import peer_pymerkle as peer
import report
from safepassage.scenario.city import City
from sizes import PEER_COLD_MIN, PEER_WARM_MIN, SEED, Sizes

SYNC_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def median_run(runs: list[ours.AppendRun | float]) -> dict[str, Any]:
    rates = [r.rate if isinstance(r, ours.AppendRun) else r for r in runs]
    out: dict[str, Any] = {"runs": rates, "rate": statistics.median(rates)}
    counted = [r for r in runs if isinstance(r, ours.AppendRun)]
    if counted:
        out["entries_per_commit"] = statistics.median(r.entries / r.commits for r in counted)
    return out


class Ticker:
    """Advances one progress bar; callable as the ``tick`` the measuring functions take."""

    def __init__(self, progress: Progress, task_id: TaskID, description: str) -> None:
        self.progress = progress
        self.task_id = task_id
        self.description = description
        self.start = time.perf_counter()

    def __call__(self, k: int = 1) -> None:
        self.progress.advance(self.task_id, k)

    def total(self, total: int, completed: int) -> None:
        self.progress.update(self.task_id, total=total, completed=completed)


class Bench(Sizes):
    """One benchmark run: the options, the progress display and the results gathered so far."""

    def __init__(self, args: argparse.Namespace, progress: Progress) -> None:
        self.args = args
        self.progress = progress
        self.wd: Path = args.workdir
        self.results: dict[str, Any] = {}
        self.current: Ticker | None = None
        self.load: dict[str, float] = {}  # section -> share of CPU other processes used
        self.seconds: dict[str, float] = {}  # section -> wall-clock seconds

    @contextlib.contextmanager
    def section(self, name: str) -> Iterator[None]:
        before = machine.cpu_snapshot()
        start = time.perf_counter()
        yield
        self.load[name] = machine.others_share(before, machine.cpu_snapshot())
        self.seconds[name] = time.perf_counter() - start

    def log(self, message: str) -> None:
        self.progress.console.log(message)

    def task(self, description: str, total: float | None) -> Ticker:
        """A progress bar for the next step; the previous step's bar becomes a log line."""
        self.finish()
        self.current = Ticker(
            self.progress, self.progress.add_task(description, total=total), description
        )
        return self.current

    def finish(self) -> None:
        if self.current is not None:
            done, self.current = self.current, None
            self.progress.remove_task(done.task_id)
            self.log(f"{done.description}: {time.perf_counter() - done.start:.1f} s")

    # --- appends -----------------------------------------------------------------------------

    def appends(self) -> None:
        a, wd = self.args, self.wd / "appends"
        steps = a.repeats * (4 + len(a.appenders) + len(a.async_appenders))
        tick = self.task("durable appends", steps)
        runs: dict[str, list[Any]] = {"ours": [], "peer": [], "peer_wal": [], "peer_8": []}
        conc: dict[int, list[ours.AppendRun]] = {t: [] for t in a.appenders}
        conc_async: dict[int, list[ours.AppendRun]] = {t: [] for t in a.async_appenders}
        per8 = max(1, a.peer_durable_n // 8)
        for _ in range(a.repeats):  # interleaved, so a slow spell of the disk hits every row
            runs["ours"].append(ours.durable_appends_one_at_a_time(wd, a.durable_n))
            tick()
            runs["peer"].append(peer.durable_appends_one_at_a_time(wd, a.peer_durable_n))
            tick()
            runs["peer_wal"].append(
                peer.durable_appends_one_at_a_time(wd, a.peer_durable_n, journal_mode="WAL")
            )
            tick()
            runs["peer_8"].append(peer.concurrent_appends(wd, 8, per8))
            tick()
            for t in a.appenders:
                conc[t].append(ours.concurrent_appends(wd, t, max(1, a.concurrent_total // t)))
                tick()
            for t in a.async_appenders:
                per = max(1, a.concurrent_total // t)
                conc_async[t].append(ours.concurrent_appends_async(wd, t, per))
                tick()
        probe = peer._fresh(wd, "pymerkle_probe.db")  # noqa: SLF001 - the peer's own opener
        journal, sync = peer.sqlite_modes(probe)
        probe.close()
        self.results["durable"] = {
            "repeats": a.repeats,
            "ours_n": a.durable_n,
            "peer_n": a.peer_durable_n,
            "ours_modes": ours.durability(wd),
            "peer_modes": {"journal_mode": str(journal), "synchronous": SYNC_NAMES[int(sync)]},
            **{k: median_run(v) for k, v in runs.items()},
            "peer_8_threads": 8,
            "peer_8_per_thread": per8,
            "concurrent": [
                {"threads": t, "per_thread": max(1, a.concurrent_total // t), **median_run(conc[t])}
                for t in a.appenders
            ],
            "concurrent_async": [
                {"tasks": t, "per_task": max(1, a.concurrent_total // t), **median_run(v)}
                for t, v in conc_async.items()
            ],
        }
        shutil.rmtree(wd, ignore_errors=True)
        d = self.results["durable"]
        self.log(
            f"durable: ours {d['ours']['rate']:.0f}/s, pymerkle {d['peer']['rate']:.0f}/s, "
            + ", ".join(f"{c['threads']} threads {c['rate']:.0f}/s" for c in d["concurrent"])
            + ", "
            + ", ".join(f"{c['tasks']} tasks {c['rate']:.0f}/s" for c in d["concurrent_async"])
        )

    def bulk(self) -> None:
        a, wd = self.args, self.wd / "bulk"
        n = a.bulk_n
        rows = []
        for chunk in a.bulk_chunks:
            tick = self.task(f"bulk append_batch({chunk:,})", n)
            rows.append({"chunk": chunk, **median_run([ours.bulk_append(wd, n, chunk, tick)])})
        tick = self.task("bulk pymerkle append_entries", None)
        peer_rate = peer.bulk_append(wd, n)
        tick()
        self.results["bulk"] = {"n": n, "ours": rows, "peer": {"rate": peer_rate}}
        shutil.rmtree(wd, ignore_errors=True)  # bulk files are not reused; free the disk
        self.log(f"bulk {n:,}: " + ", ".join(f"{r['chunk']}: {r['rate']:.0f}/s" for r in rows))

    # --- crash loop ----------------------------------------------------------------------------

    def city(self) -> None:
        a = self.args
        size = City(people=a.city_people, movements=a.city_movements)
        started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        with self.section("city-size operation"):
            rec = city.measure(
                size,
                self.wd / "city",
                batch=1_000,
                single=a.city_single,
                task=self.task,
            )
        rec["date"], rec["commit"] = started, machine.describe(self.wd, None)["safepassage"]
        rec["load"] = self.load["city-size operation"]
        self.results["city"] = rec
        self.finish()

    def crash(self) -> None:
        a = self.args
        module = machine.REPO / "tests" / "ledger" / "crash.py"
        rec: dict[str, Any] = {"cycles": a.crash_cycles, "module": "tests/ledger/crash.py"}
        self.results["crash"] = rec
        if a.crash_cycles <= 0:
            rec["status"] = "not run: --crash-cycles 0"
            return
        if not module.is_file():
            rec["status"] = "not run: tests/ledger/crash.py does not exist yet"
            return
        if str(machine.REPO) not in sys.path:
            sys.path.insert(0, str(machine.REPO))
        workdir = self.wd / "crash"
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        self.task(f"crash loop, {a.crash_cycles:,} cycles", None)
        start = time.perf_counter()
        try:
            from tests.ledger.crash import run_cycles  # noqa: PLC0415 - optional, found at run time

            kwargs: dict[str, int] = {}
            if "full_audit_every" in inspect.signature(run_cycles).parameters:
                # a full audit of the growing log every cycle makes the loop quadratic; the
                # harness checks every cycle's new entries and consistency regardless
                kwargs["full_audit_every"] = a.crash_full_audit_every
                rec["full_audit_every"] = a.crash_full_audit_every
            rec["result"] = run_cycles(workdir, a.crash_cycles, SEED, **kwargs)
            rec["status"] = "run"
        except Exception as exc:  # noqa: BLE001 - the report says what went wrong
            rec["status"] = f"failed: {type(exc).__name__}: {exc}"
            rec["traceback"] = traceback.format_exc()
        rec["seconds"] = time.perf_counter() - start
        self.log(f"crash loop: {rec['status']} in {rec['seconds']:.0f} s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, help="write the Markdown report here (default: stdout)")
    p.add_argument(
        "--workdir", type=Path, default=machine.REPO / "bench-out", help="cached stores etc."
    )
    p.add_argument("--sizes", type=int, nargs="+", help="tree sizes (default 100k 1M 10M)")
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not results")
    p.add_argument("--proofs", type=int, help="proofs per series for ours (default 2000)")
    p.add_argument(
        "--size-budget",
        type=float,
        default=600.0,
        help="seconds measuring one size may take, builds aside (default 600)",
    )
    p.add_argument(
        "--peer-cold-budget",
        type=float,
        default=45.0,
        help="seconds for one series of cold pymerkle proofs (at least 5 proofs are taken)",
    )
    p.add_argument(
        "--peer-warm-budget",
        type=float,
        default=30.0,
        help="seconds for warming one series of pymerkle proofs (at least 10 are warmed)",
    )
    p.add_argument(
        "--only",
        choices=["city", "fuzz"],
        help="run one section; the other sections' figures are kept from the last results.json "
        "(fuzz: schemathesis against the served API, bench/fuzz.py; not part of a full run)",
    )
    p.add_argument(
        "--fuzz-examples",
        type=int,
        help="fuzz: generated cases per API operation (default 1000, --quick 100)",
    )
    p.add_argument("--city-people", type=int, help="city operation: people (default 140000)")
    p.add_argument("--city-movements", type=int, help="city operation: movements (default 3000)")
    p.add_argument("--crash-cycles", type=int, help="crash-loop cycles (default 1000)")
    p.add_argument(
        "--crash-full-audit-every",
        type=int,
        default=100,
        help="crash loop: full audit every N cycles and after the last (default 100)",
    )
    args = p.parse_args(argv)
    quick = args.quick
    args.sizes = args.sizes or ([1_000, 10_000] if quick else [100_000, 1_000_000, 10_000_000])
    args.sizes = sorted(set(args.sizes))
    args.proofs = args.proofs or (50 if quick else 2_000)
    if args.crash_cycles is None:
        args.crash_cycles = 10 if quick else 1000
    args.repeats = 1 if quick else 5
    args.durable_n = 200 if quick else 2_000
    args.peer_durable_n = 100 if quick else 1_000
    args.concurrent_total = 800 if quick else 8_000
    args.appenders = [8, 32, 64, 128, 256]
    args.async_appenders = [8, 64, 256]
    args.bulk_n = 20_000 if quick else 1_000_000
    args.bulk_chunks = [8_192, 100_000]
    args.client_proofs = 20 if quick else 50
    args.city_people = args.city_people or (4_700 if quick else 140_000)
    args.city_movements = args.city_movements or (100 if quick else 3_000)
    args.city_single = 2_000 if quick else 20_000
    args.fuzz_examples = args.fuzz_examples or (100 if quick else 1_000)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.only == "fuzz":
        return only_fuzz(args, Console(stderr=True))
    peer._require()  # noqa: SLF001 - fail at once, with the install hint, when pymerkle is absent
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    command = shlex.join([os.path.relpath(sys.executable), *sys.argv])
    if os.environ.get("MAKELEVEL"):
        command = f"make bench  # runs: {command}"
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    console = Console(stderr=True)
    if args.only == "city":
        return only_city(args, columns, console)
    with Progress(*columns, console=console, transient=False) as progress:
        bench = Bench(args, progress)
        bench.results["machine"] = machine.describe(args.workdir, peer.pymerkle_version())
        with bench.section("whole run"):
            with bench.section("durable appends"):
                bench.appends()
            with bench.section("bulk appends"):
                bench.bulk()
            bench.sizes()
            bench.city()
            with bench.section("crash loop"):
                bench.crash()
            bench.finish()
    results = bench.results
    results["load"] = bench.load
    results["section_seconds"] = bench.seconds
    results["meta"] = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "quick": args.quick,
        "seconds": time.perf_counter() - t0,
        "proofs": args.proofs,
        "peer_cold_budget": args.peer_cold_budget,
        "peer_cold_min": PEER_COLD_MIN,
        "peer_warm_budget": args.peer_warm_budget,
        "peer_warm_min": PEER_WARM_MIN,
        "size_budget": args.size_budget,
        "seed": SEED,
    }
    (args.workdir / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    text = report.render(results)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        console.print(f"wrote {args.out} in {results['meta']['seconds'] / 60:.1f} min")
    else:
        print(text)
    if results["crash"]["status"].startswith("failed"):
        console.print(f"[red]crash loop {results['crash']['status']}")
        return 1
    return 0


def only_city(args: argparse.Namespace, columns: tuple[Any, ...], console: Console) -> int:
    """Measure the city-size operation alone; keep every other figure of the last full run."""
    saved = args.workdir / "results.json"
    if not saved.is_file():
        console.print("--only city needs a full run's results.json in the work dir first")
        return 2
    results = json.loads(saved.read_text(encoding="utf-8"))
    if results["meta"]["quick"] != args.quick:
        console.print("--only city: the saved results are from a run of the other kind (--quick)")
        return 2
    with Progress(*columns, console=console, transient=False) as progress:
        bench = Bench(args, progress)
        bench.city()
    results["city"] = bench.results["city"]
    saved.write_text(json.dumps(results, indent=1), encoding="utf-8")
    text = report.render(results)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        console.print(f"wrote {args.out}")
    else:
        print(text)
    return 0


def only_fuzz(args: argparse.Namespace, console: Console) -> int:
    """Schemathesis against the served API (``bench/fuzz.py``); kept in ``results.json`` under
    ``fuzz`` when a full run's results are there, and in ``<workdir>/fuzz.json`` in full."""
    import fuzz  # noqa: PLC0415 - schemathesis and the test harness, for this section only

    args.workdir.mkdir(parents=True, exist_ok=True)
    result = fuzz.run(args.workdir, args.fuzz_examples, log=console.log)
    (args.workdir / "fuzz.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    saved = args.workdir / "results.json"
    if saved.is_file():
        results = json.loads(saved.read_text(encoding="utf-8"))
        results["fuzz"] = {k: v for k, v in result.items() if k != "per_operation"}
        saved.write_text(json.dumps(results, indent=1), encoding="utf-8")
    console.print(fuzz.summary(result))
    return 1 if any(result["failures"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
