"""The city-size operation: about a million events through the application layer.

The operation is ``safepassage.scenario.city`` (140,000 people, 3,000 movements by default).
Its events are signed once, on both cores, and cached in the work directory; then:

* **batched submission**: the bytes each device sent go through ``parse_event`` (strict: the
  canonical form is checked) and ``Operation.submit_events`` in batches (a device syncing its
  queue): signature and rules checked, one durable commit and one projection transaction each;
* **one at a time**: ``Operation.submit_event`` with its own durable commit, on the first
  entries of the same log (a coordinator's commands);
* **open**: ``Operation.open`` folds the whole log and checks the projections;
* **rebuild**: ``safepassage rebuild`` (a new file: migrate, fold, write every row, rename it
  over the old one; a helper process writes the ``events`` table meanwhile), median of three
  runs; compared with the same rebuild in one process, and with the strict fold
  (``parse_event`` per entry) to show what the fast read buys;
* **report**: the report computed from the whole log, and at half its size.
"""

from __future__ import annotations

import multiprocessing
import resource
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from safepassage.app.operation import Operation, Receipt
from safepassage.events.catalogue import parse_body
from safepassage.events.envelope import parse_event, sign_event
from safepassage.operation.state import OperationState
from safepassage.scenario.city import City, city_commands
from safepassage.scenario.plan import Command

Tick = Callable[[int], None]


def _key(actor: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(("bench:" + actor).encode().ljust(32, b".")[:32])


_KEYS: dict[str, Ed25519PrivateKey] = {}


def _public(actor: str) -> str:
    import base64  # noqa: PLC0415

    raw = (
        _key(actor)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.b64encode(raw).decode()


def _sign(cmd: Command) -> bytes:
    key = _KEYS.get(cmd.actor) or _KEYS.setdefault(cmd.actor, _key(cmd.actor))
    body = parse_body(cmd.kind, cmd.body)
    return sign_event(operation="city-2022", at=cmd.at, actor=cmd.actor, body=body, key=key).raw


def _write(path: Path, entries: Iterator[bytes]) -> int:
    n = 0
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        for raw in entries:
            f.write(struct.pack(">I", len(raw)))
            f.write(raw)
            n += 1
    tmp.replace(path)
    return n


def read_entries(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while head := f.read(4):
            (length,) = struct.unpack(">I", head)
            yield f.read(length)


def signed_events(city: City, wd: Path, tick: Tick) -> tuple[Path, int, float | None]:
    """The operation's signed events in a cache file; (path, count, seconds spent signing)."""
    path = wd / f"events-{city.people}-{city.movements}-{city.seed}.bin"
    if path.exists():
        return path, sum(1 for _ in read_entries(path)), None
    wd.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(2) as pool:

        def signed() -> Iterator[bytes]:
            for raw in pool.imap(_sign, city_commands(city, _public), chunksize=2_000):
                tick(1)
                yield raw

        n = _write(path, signed())
    return path, n, time.perf_counter() - start


def measure(
    city: City,
    wd: Path,
    *,
    batch: int,
    single: int,
    task: Callable[[str, int | None], Tick],
) -> dict[str, Any]:
    out: dict[str, Any] = {"city": city.__dict__, "batch": batch}
    path, n, signing = signed_events(city, wd, task("city: signing the events (cached)", None))
    out["events"], out["signing_seconds"] = n, signing

    # batched submission through the application layer
    opdir = wd / "op"
    if opdir.exists():
        import shutil  # noqa: PLC0415

        shutil.rmtree(opdir)
    tick = task("city: submitting in batches", n)
    parse_s = 0.0
    start = time.perf_counter()
    with Operation.create(opdir, "city-2022") as op:
        pending: list[bytes] = []

        def flush() -> None:
            nonlocal parse_s
            t = time.perf_counter()
            events = [parse_event(raw) for raw in pending]
            parse_s += time.perf_counter() - t
            answers = op.submit_events(events)
            refused = [a for a in answers if not isinstance(a, Receipt)]
            if refused:
                raise RuntimeError(f"the city operation was refused: {refused[0]}")
            tick(len(pending))
            pending.clear()

        for raw in read_entries(path):
            pending.append(raw)
            if len(pending) >= batch:
                flush()
        if pending:
            flush()
        commits = op.log.store.commits
    seconds = time.perf_counter() - start
    out["batched"] = {
        "seconds": seconds,
        "rate": n / seconds,
        "parse_seconds": parse_s,
        "commits": commits,
    }

    # one at a time, each with its own durable commit
    one = wd / "one"
    if one.exists():
        import shutil  # noqa: PLC0415

        shutil.rmtree(one)
    tick = task("city: submitting one at a time", single)
    start = time.perf_counter()
    with Operation.create(one, "city-2022") as op:
        for k, raw in enumerate(read_entries(path)):
            if k >= single:
                break
            op.submit_event(parse_event(raw))
            tick(1)
    seconds = time.perf_counter() - start
    out["single"] = {"n": single, "seconds": seconds, "rate": single / seconds}

    # open, rebuild, report
    task("city: open, rebuild, report", None)
    start = time.perf_counter()
    with Operation.open(opdir) as op:
        out["open_seconds"] = time.perf_counter() - start
        runs = []
        for _ in range(3):  # the median of three: a run varies by about 5% on this machine
            t = time.perf_counter()
            op.rebuild()
            runs.append(time.perf_counter() - t)
        median = sorted(runs)[1]
        out["rebuild"] = {"seconds": median, "runs": runs, "rate": n / median}
        # the same rebuild in this process alone (no helper process for the events table)
        from safepassage.projections import store  # noqa: PLC0415

        parallel_from, store.PARALLEL_FROM = store.PARALLEL_FROM, n + 1
        try:
            t = time.perf_counter()
            op.rebuild()
            alone = time.perf_counter() - t
        finally:
            store.PARALLEL_FROM = parallel_from
        out["rebuild_one_process"] = {"seconds": alone, "rate": n / alone}
        rows = op.projections.dump()
        out["rows"] = {table: len(r) for table, r in rows.items()}
        del rows
        t = time.perf_counter()
        report = op.report()
        out["report_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        op.report(n // 2)
        out["report_half_seconds"] = time.perf_counter() - t
        f = report.figures
        out["figures"] = {
            "registered": f.registered,
            "boarded": f.boarded,
            "arrived": f.arrived,
            "in_transit": f.in_transit,
            "unaccounted": f.unaccounted,
            "destination_changes": f.destination_changes,
            "trips_dispatched": f.trips_dispatched,
            "seats_dispatched": f.seats_dispatched,
            "seats_used": f.seats_used,
            "alerts": len(report.alerts),
        }
        # the strict path, for comparison: parse (canonical form re-checked) and fold
        t = time.perf_counter()
        state = OperationState()
        for _, raw in op.log.store.iter_entries():
            state.apply(parse_event(raw))
        out["strict_fold"] = {"seconds": time.perf_counter() - t}
        out["strict_fold"]["rate"] = n / out["strict_fold"]["seconds"]
    out["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["log_bytes"] = sum(p.stat().st_size for p in (opdir / "log").iterdir())
    out["projection_bytes"] = sum(
        p.stat().st_size for p in opdir.iterdir() if p.name.startswith("projections.db")
    )
    return out
