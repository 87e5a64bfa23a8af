"""The per-size part of a benchmark run: build or reuse both trees, check they are the same
tree, time inclusion and consistency proofs cold and warm, and time full verification.

``Sizes`` is mixed into ``run.Bench``, which supplies ``args``, ``wd``, ``results``, ``task``,
``finish``, ``log`` and ``section``.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import machine
import ours
import peer_pymerkle as peer

SEED = 9162
PEER_COLD_MIN = 5  # even where one cold pymerkle proof takes seconds, sample this many
PEER_COLD_MAX = 200
PEER_WARM_MIN = 10
KINDS = ("inclusion", "consistency")


def summary(seconds: list[float]) -> dict[str, float | int]:
    """Latency figures in microseconds (nearest-rank percentiles, as the peer module uses)."""
    return {
        "n": len(seconds),
        "p50_us": peer.percentile(seconds, 50) * 1e6,
        "p99_us": peer.percentile(seconds, 99) * 1e6,
        "mean_us": statistics.fmean(seconds) * 1e6,
        "max_us": max(seconds) * 1e6,
    }


class Sizes:
    """The size sections of a run (a mixin of ``run.Bench``)."""

    args: Any
    wd: Path
    results: dict[str, Any]
    task: Callable[..., Any]
    finish: Callable[[], None]
    log: Callable[[str], None]
    section: Callable[[str], Any]

    def timed_series(
        self, description: str, count: int, run: Callable[[Any], list[float]]
    ) -> dict[str, float | int]:
        return summary(run(self.task(description, count)))

    def peer_cold_count(self, seconds_per_proof: float) -> int:
        fit = int(self.args.peer_cold_budget / max(seconds_per_proof, 1e-9))
        return max(PEER_COLD_MIN, min(PEER_COLD_MAX, self.args.proofs, fit))

    def estimate(self, n: int, prev: dict[str, Any]) -> dict[str, float]:
        """Seconds each part of the section for ``n`` entries should take, from the last size.

        Builds are one-time work (the work dir caches them) and count only when not cached.
        """
        scale = n / prev["n"]
        ours_cached = (self.wd / f"ours_{n}" / "log.db").is_file()
        peer_cached = (self.wd / "pymerkle" / f"pymerkle_tree_{n}.db").is_file()
        build_rate = max(r["rate"] for r in self.results["bulk"]["ours"])
        t = prev["timings"]
        cold = [prev["proofs"][k]["peer"]["cold"]["p50_us"] / 1e6 * scale for k in KINDS]
        warm_cap = 2 * (self.args.peer_warm_budget + max(cold))
        return {
            "ours build": 0.0 if ours_cached else n / build_rate,
            "pymerkle build": 0.0 if peer_cached else n / self.results["bulk"]["peer"]["rate"],
            "root check": t["root check"] * scale,
            "our proofs": t["our proofs"] * 2,
            "pymerkle cold proofs": sum(c * self.peer_cold_count(c) for c in cold),
            "pymerkle warm proofs": min(warm_cap, t["pymerkle warm proofs"] * scale),
            "verification": (t["our verification"] + t["pymerkle verification"]) * scale,
        }

    def sizes(self) -> None:
        self.results["sizes"] = []
        self.results["drop_caches"] = None
        prev: dict[str, Any] | None = None
        for n in self.args.sizes:
            total = None
            if prev is not None:
                est = self.estimate(n, prev)
                total = sum(v for k, v in est.items() if not k.endswith("build"))
                if total > self.args.size_budget:
                    reason = (
                        f"skipped: measuring it was estimated at {total / 60:.1f} min "
                        f"({', '.join(f'{k} {v:.0f} s' for k, v in est.items())}), over the "
                        f"{self.args.size_budget / 60:.0f}-minute budget for one size"
                    )
                    self.results["sizes"].append({"n": n, "skipped": reason})
                    self.log(f"{n:,}: {reason}")
                    continue
            with self.section(f"{n} entries"):
                record = self.size(n)
            record["estimate_s"] = total
            self.results["sizes"].append(record)
            prev = record

    def size(self, n: int) -> dict[str, Any]:
        a = self.args
        start = time.perf_counter()
        timings: dict[str, float] = {}
        rec: dict[str, Any] = {"n": n, "timings": timings, "proofs": {}}

        def clock(part: str, t0: float) -> None:
            timings[part] = timings.get(part, 0.0) + time.perf_counter() - t0

        t0 = time.perf_counter()
        log, built = ours.build_log(self.wd, n, self.task(f"{n:,}: build our log", n))
        rec["ours_build_s"] = built
        clock("ours build", t0)
        t0 = time.perf_counter()
        self.task(f"{n:,}: build pymerkle tree", None)
        tree = peer.build_tree(self.wd / "pymerkle", n)
        rec["peer_build_s"] = tree.bench_build_seconds
        clock("pymerkle build", t0)

        t0 = time.perf_counter()
        ours_root, peer_root = log.store.root(n).hex(), peer.root_hex(tree, n)
        rec["root"], rec["peer_root"] = ours_root, peer_root
        clock("root check", t0)
        if ours_root != peer_root:
            raise SystemExit(f"{n:,}: our root {ours_root} != pymerkle's {peer_root}")
        path, log_dir = ours.db_path(log), log.directory
        log.close()  # cold proofs start from an idle file: no other connection holds it

        rng = random.Random(SEED + n)
        idx = [rng.randrange(n) for _ in range(a.proofs)]
        size1s = [rng.randint(1, n) for _ in range(a.proofs)]
        plans = {
            "inclusion": (ours.inclusion_calls(idx, n), idx),
            "consistency": (ours.consistency_calls(size1s, n), size1s),
        }
        t0 = time.perf_counter()
        for kind, (calls, _) in plans.items():
            rec["proofs"][kind] = {"ours": self.our_proofs(n, kind, path, calls)}
        clock("our proofs", t0)

        for kind, (_, args) in plans.items():
            rec["proofs"][kind]["peer"] = self.peer_proofs(n, kind, tree, args, timings)
        store = ours.SqliteLogStore.open(path)
        try:
            rec["proofs_match"] = all(
                store.inclusion_proof(i, n) == list(tree.prove_inclusion(i + 1, n).path[1:])
                for i in idx[:5]
            )
            if not rec["proofs_match"]:
                raise SystemExit(f"{n:,}: our inclusion proofs differ from pymerkle's")
            few_i, few_s = idx[: a.client_proofs], size1s[: a.client_proofs]
            rec["client"] = {
                "inclusion": {
                    "ours": summary(ours.verify_inclusion_latencies(store, n, few_i)),
                    "peer": summary(peer.verify_inclusion_latencies(tree, n, few_i)),
                },
                "consistency": {
                    "ours": summary(ours.verify_consistency_latencies(store, few_s, n)),
                    "peer": summary(peer.verify_consistency_latencies(tree, few_s, n)),
                },
            }
        finally:
            store.close()

        t0 = time.perf_counter()
        seconds, checkpoints = ours.audit_seconds(log_dir, n, self.task(f"{n:,}: audit", n))
        rec["verify"] = {"ours": {"seconds": seconds, "rate": n / seconds}}
        rec["verify"]["ours"]["checkpoints"] = checkpoints
        clock("our verification", t0)
        t0 = time.perf_counter()
        self.task(f"{n:,}: pymerkle verify_all", None)
        seconds = peer.verify_all(tree, n)
        rec["verify"]["peer"] = {"seconds": seconds, "rate": n / seconds}
        clock("pymerkle verification", t0)
        tree.close()
        rec["elapsed_s"] = time.perf_counter() - start
        self.finish()
        inc = rec["proofs"]["inclusion"]
        self.log(
            f"{n:,}: cold inclusion p99 ours {inc['ours']['cold']['p99_us']:.0f} us, "
            f"pymerkle {inc['peer']['cold']['p99_us']:.0f} us; audit "
            f"{rec['verify']['ours']['rate']:.0f}/s vs {rec['verify']['peer']['rate']:.0f}/s; "
            f"section {rec['elapsed_s']:.0f} s"
        )
        return rec

    def our_proofs(self, n: int, kind: str, path: Path, calls: list[ours.Call]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        count = len(calls)
        dropped = machine.drop_page_cache()
        if self.results["drop_caches"] is None:
            self.results["drop_caches"] = dropped or "ok"
        if dropped is None:
            out["cold_os"] = self.timed_series(
                f"{n:,}: {kind} cold, OS cache dropped",
                count,
                lambda tick: ours.cold_latencies(path, calls, tick=tick),
            )
        machine.prefetch(path)
        out["cold"] = self.timed_series(
            f"{n:,}: {kind} cold",
            count,
            lambda tick: ours.cold_latencies(path, calls, tick=tick),
        )
        out["cold_connected"] = self.timed_series(
            f"{n:,}: {kind} cold, reader connected",
            count,
            lambda tick: ours.cold_latencies(path, calls, connect_first=True, tick=tick),
        )
        store = ours.SqliteLogStore.open(path)
        try:
            out["warm"] = self.timed_series(
                f"{n:,}: {kind} warm",
                count,
                lambda tick: ours.warm_latencies(store, calls, tick=tick),
            )
        finally:
            store.close()
        return out

    def peer_proofs(
        self, n: int, kind: str, tree: Any, args: list[int], timings: dict[str, float]
    ) -> dict[str, Any]:
        """pymerkle's cold then warm series, each sized to its time budget (see ``--help``)."""

        def measure(xs: list[int], *, cold: bool) -> list[float]:
            if kind == "inclusion":
                return peer.inclusion_proofs(tree, n, xs, cold=cold)
            return peer.consistency_proofs(tree, xs, n, cold=cold)

        t0 = time.perf_counter()
        tick = self.task(f"{n:,}: pymerkle {kind} cold", None)
        cold = measure(args[:1], cold=True)
        tick()
        count = self.peer_cold_count(cold[0])
        tick.total(count, completed=1)
        for x in args[1:count]:
            cold += measure([x], cold=True)
            tick()
        t1 = time.perf_counter()
        timings["pymerkle cold proofs"] = timings.get("pymerkle cold proofs", 0.0) + t1 - t0
        # pymerkle warms up proof by proof (each first call fills its cache for that path), so
        # the unmeasured first pass is itself slow at large sizes: warm as many proofs as fit
        # in the budget, then hand exactly those to the peer module, which runs them once more
        # unmeasured and then measures them.
        want = args[: min(len(args), PEER_COLD_MAX)]
        tick = self.task(f"{n:,}: pymerkle {kind} warm", len(want))
        warmed: list[int] = []
        deadline = t1 + self.args.peer_warm_budget
        for x in want:
            if len(warmed) >= PEER_WARM_MIN and time.perf_counter() > deadline:
                break
            if kind == "inclusion":
                tree.prove_inclusion(x + 1, n)
            else:
                tree.prove_consistency(x, n)
            warmed.append(x)
            tick()
        warm = measure(warmed, cold=False)
        timings["pymerkle warm proofs"] = (
            timings.get("pymerkle warm proofs", 0.0) + time.perf_counter() - t1
        )
        return {"cold": summary(cold), "warm": summary(warm)}
