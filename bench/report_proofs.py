"""The proof and verification sections of the report, rendered from ``run.py``'s results.

Pure: no I/O. Every number comes from the results; the prose only says how it was measured.
"""

from __future__ import annotations

from typing import Any

from markdown import X, measured_sizes, measuring, rate, size_name, table, times, us

STATES = {
    "cold_os": "cold, OS page cache dropped",
    "cold": "cold",
    "cold_connected": "cold, read connection open",
    "warm": "warm",
}
PEER_STATE = {"cold_os": "cold", "cold": "cold", "cold_connected": "cold", "warm": "warm"}


def proofs_section(results: dict[str, Any]) -> list[str]:
    meta = results["meta"]
    dropped = results.get("drop_caches")
    out = [
        (
            f"Random indices (seeded); safepassage {meta['proofs']} proofs per series. "
            "Latencies in µs, nearest-rank percentiles. A size after the first is measured only "
            "when measuring it (the cached builds aside) is estimated, from the size before, to "
            f"fit in {meta['size_budget'] / 60:.0f} minutes. States:"
        ),
        "",
        (
            "- **cold** (safepassage): a fresh `SqliteLogStore.open` per proof (new connections, "
            "empty SQLite page cache), file in the OS page cache; only the proof call is timed. "
            "The store opens its read connection on first use, so that cost is inside the call."
        ),
        (
            "- **cold, read connection open**: as cold, but `store.size()` runs before the timer, "
            "so the figure is the proof's own reads."
        ),
        "- **cold, OS page cache dropped**: as cold, after `sync; echo 3 > "
        "/proc/sys/vm/drop_caches` once before the series"
        + (
            "."
            if dropped == "ok"
            else f" — not measured: {dropped}."
            if dropped
            else " (no size measured)."
        ),
        "- **warm** (safepassage): one open store, the same proofs run once unmeasured first.",
        (
            "- pymerkle **cold**: `clear_caches` (its subroot LRU cache and SQLite page "
            "cache) before every proof, OS page cache warm: a fresh pymerkle process over an "
            "existing file. A cold proof rehashes about n leaves, so where one takes long fewer "
            f"are sampled: as many as fit in {meta['peer_cold_budget']:.0f} s per series, "
            f"at least {meta['peer_cold_min']} "
            "(the n column says how many; with fewer than 100 samples p99 is the maximum)."
        ),
        (
            "- pymerkle **warm**: the same proofs run once unmeasured, so every subroot of "
            "width ≥ 128 on their paths is in its LRU cache. That first pass is slow at large "
            f"sizes, so as many proofs are warmed as fit in {meta['peer_warm_budget']:.0f} s "
            f"(at least {meta['peer_warm_min']}, at most 200)."
        ),
        "",
    ]
    for s in results["sizes"]:
        out.append(f"### {size_name(s['n'])} entries")
        out.append("")
        if "skipped" in s:
            out += [f"Not measured: {s['skipped']}.", ""]
            continue
        ob, pb = s["ours_build_s"], s["peer_build_s"]
        out.append(
            f"Root (both implementations): `{s['root']}`; the first inclusion proofs are "
            f"byte-identical: {'yes' if s['proofs_match'] else 'NO'}. Build: safepassage "
            + (f"{ob:.1f} s ({rate(s['n'] / ob)}/s)" if ob else "reused from the work dir")
            + ", pymerkle "
            + (f"{pb:.1f} s ({rate(s['n'] / pb)}/s)" if pb else "reused from the work dir")
            + f". Section time {s['elapsed_s']:.0f} s, of which measuring took "
            + f"{measuring(s):.0f} s"
            + (f" (estimated beforehand: {s['estimate_s']:.0f} s)." if s.get("estimate_s") else ".")
        )
        out.append("")
        rows = []
        for kind in ("inclusion", "consistency"):
            p = s["proofs"][kind]
            for state, label in STATES.items():
                if state not in p["ours"]:
                    continue
                o, q = p["ours"][state], p["peer"][PEER_STATE[state]]
                rows.append(
                    [
                        kind,
                        label,
                        us(o["p50_us"]),
                        us(o["p99_us"]),
                        str(o["n"]),
                        f"{us(q['p50_us'])} ({PEER_STATE[state]})",
                        us(q["p99_us"]),
                        str(q["n"]),
                        times(q["p99_us"] / o["p99_us"]),
                    ]
                )
        head = [
            "Proof",
            "safepassage state",
            "p50",
            "p99",
            "n",
            "pymerkle p50",
            "p99",
            "n",
            "pymerkle p99 ÷ ours",
        ]
        out += table(head, rows)
    out += scaling(results)
    return out


def scaling(results: dict[str, Any]) -> list[str]:
    sizes = measured_sizes(results)
    if len(sizes) < 2:
        return []
    first = sizes[0]
    out = [f"### safepassage cold p99 against {size_name(first['n'])} entries", ""]
    rows = []
    for kind in ("inclusion", "consistency"):
        for state in ("cold", "cold_os", "cold_connected"):
            if state not in first["proofs"][kind]["ours"]:
                continue
            base = first["proofs"][kind]["ours"][state]["p99_us"]
            cells = [
                f"{us(s['proofs'][kind]['ours'][state]['p99_us'])} µs "
                f"({s['proofs'][kind]['ours'][state]['p99_us'] / base:.2f}{X})"
                for s in sizes
            ]
            rows.append([kind, STATES[state], *cells])
    return [*out, *table(["Proof", "State", *(size_name(s["n"]) for s in sizes)], rows)]


def verify_section(results: dict[str, Any]) -> list[str]:
    sizes = measured_sizes(results)
    out = [
        (
            "safepassage: `audit(store, verifier)` on a freshly opened log: rehash every entry, "
            "rebuild every stored subtree hash from the level below, open each kept signed "
            "checkpoint (two per log) and check consistency between them. pymerkle: "
            "`peer_pymerkle.verify_all` with caches cleared (rehash every entry against its stored "
            "leaf hash, then a cold `get_root`); pymerkle has no signed checkpoints."
        ),
        "",
    ]
    rows = [
        [
            size_name(s["n"]),
            f"{rate(s['verify']['ours']['rate'])} ({s['verify']['ours']['seconds']:.1f} s)",
            f"{rate(s['verify']['peer']['rate'])} ({s['verify']['peer']['seconds']:.1f} s)",
            times(s["verify"]["ours"]["rate"] / s["verify"]["peer"]["rate"]),
        ]
        for s in sizes
    ]
    out += table(
        ["Entries", "safepassage audit entries/s", "pymerkle verify_all entries/s", "÷ pymerkle"],
        rows,
    )
    out += ["Client-side proof verification (extra; µs per proof, proofs fetched beforehand):", ""]
    rows = []
    for s in sizes:
        for kind in ("inclusion", "consistency"):
            c = s["client"][kind]
            rows.append(
                [
                    size_name(s["n"]),
                    kind,
                    f"{us(c['ours']['p50_us'])} / {us(c['ours']['p99_us'])}",
                    f"{us(c['peer']['p50_us'])} / {us(c['peer']['p99_us'])}",
                    str(c["ours"]["n"]),
                ]
            )
    head = ["Entries", "Proof", "safepassage p50 / p99", "pymerkle p50 / p99", "n"]
    return out + table(head, rows)
