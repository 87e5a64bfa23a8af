"""The Markdown report of one benchmark run, rendered from ``run.py``'s results.

Every number in ``docs/benchmarks.md`` is formatted here from what the run measured; the
prose around the numbers only states how they were measured. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from markdown import X, measured_sizes, met, rate, size_name, table, times, us
from report_proofs import proofs_section, verify_section

DURABLE_TARGET = 20.0  # durable appends: at least 20x pymerkle's one-transaction-per-append rate
COLD_TARGET = 10.0  # cold proof p99: at least 10x better than pymerkle's at 100k entries
SCALING_TARGET = 2.0  # cold proof p99 at the largest size within 2x of itself at 100k
TARGET_SIZE = 100_000
# --------------------------------------------------------------------------- targets


def appender_rows(d: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every concurrent safepassage configuration as (label, figures)."""
    rows = [(f"{c['threads']} appender threads", c) for c in d["concurrent"]]
    rows += [(f"{c['tasks']} asyncio tasks", c) for c in d.get("concurrent_async", [])]
    return rows


def targets(results: dict[str, Any]) -> list[str]:
    d = results["durable"]
    base = d["peer"]["rate"]
    name = (
        f"Durable appends ≥ {DURABLE_TARGET:.0f}{X} pymerkle's one-transaction-per-append "
        f"rate ({rate(base)}/s)"
    )
    shown = [("8 appender threads", "8 appender threads")]
    shown += [("8 asyncio tasks", "8 asyncio tasks (`append_async`)")]
    by_label = dict(appender_rows(d))
    rows = []
    for key, label in shown:
        if key in by_label:
            r = by_label[key]["rate"]
            rows.append([name if not rows else "″", f"{label}: {rate(r)}/s = {times(r / base)}"])
            rows[-1].append(met(r / base >= DURABLE_TARGET))
    one = d["ours"]["rate"]
    rows.append(["″", f"one at a time: {rate(one)}/s = {times(one / base)}"])
    rows[-1].append(met(one / base >= DURABLE_TARGET))
    label, best = max(appender_rows(d), key=lambda lc: lc[1]["rate"])
    rows.append(
        [
            "″ (extra: more appenders)",
            f"{label} (best measured): {rate(best['rate'])}/s = {times(best['rate'] / base)}",
            met(best["rate"] / base >= DURABLE_TARGET),
        ]
    )
    rows += proof_targets(results)
    skipped = [s for s in results["sizes"] if "skipped" in s]
    out = [
        (
            "Cold means a fresh store per proof with the file in the OS page cache, the state "
            "pymerkle's cold figures are taken in; the rows marked *OS page cache dropped* hold "
            "safepassage to the harder state (pymerkle's figure unchanged). Definitions are under "
            "*Inclusion and consistency proofs*."
        ),
        "",
        *table(["Target", "Measured in this run", "Status"], rows),
    ]
    if skipped:
        out.append(
            "Sizes not measured: "
            + "; ".join(f"{size_name(s['n'])} ({s['skipped']})" for s in skipped)
            + "."
        )
        out.append("")
    return out


def proof_targets(results: dict[str, Any]) -> list[list[str]]:
    """Both proof targets, judged on cold (OS page cache warm, as pymerkle's cold is) and,
    as separate rows, on cold after dropping the OS page cache."""
    rows: list[list[str]] = []
    sizes = measured_sizes(results)
    at_target = next((s for s in sizes if s["n"] == TARGET_SIZE), None)
    top = sizes[-1] if sizes else None
    for kind in ("inclusion", "consistency"):
        for state, how in (("cold", ""), ("cold_os", ", OS page cache dropped")):
            name = (
                f"Cold {kind} proof p99{how} ≥ {COLD_TARGET:.0f}{X} better than pymerkle's at 100k"
            )
            if at_target is None or state not in at_target["proofs"][kind]["ours"]:
                rows.append([name, "not measured in this run", "n/a"])
                continue
            ours_p99 = at_target["proofs"][kind]["ours"][state]["p99_us"]
            peer_p99 = at_target["proofs"][kind]["peer"]["cold"]["p99_us"]
            rows.append(
                [
                    name,
                    f"{us(ours_p99)} µs vs {us(peer_p99)} µs = {times(peer_p99 / ours_p99)}",
                    met(peer_p99 / ours_p99 >= COLD_TARGET),
                ]
            )
    for kind in ("inclusion", "consistency"):
        for state, how in (("cold", ""), ("cold_os", ", OS page cache dropped")):
            name = (
                f"Cold {kind} proof p99{how} within {SCALING_TARGET:.0f}{X} of itself from "
                "100k to the largest size"
            )
            if (
                at_target is None
                or top is None
                or top["n"] == TARGET_SIZE
                or state not in at_target["proofs"][kind]["ours"]
            ):
                rows.append([name, "needs 100k and a larger size in one run", "n/a"])
                continue
            lo = at_target["proofs"][kind]["ours"][state]["p99_us"]
            hi = top["proofs"][kind]["ours"][state]["p99_us"]
            rows.append(
                [
                    name,
                    f"{size_name(top['n'])}: {us(hi)} µs vs 100k: {us(lo)} µs = {hi / lo:.2f}{X}",
                    met(hi / lo <= SCALING_TARGET),
                ]
            )
    return rows


# --------------------------------------------------------------------------- sections


def machine_section(results: dict[str, Any]) -> list[str]:
    m, meta = results["machine"], results["meta"]
    rows = [
        ["CPU", m["cpu"]],
        ["Cores", m["cores"]],
        ["RAM", m["ram"]],
        ["Disk (work dir)", m["disk"]],
        ["Work dir", f"`{m['workdir']}`"],
        ["OS", m["os"]],
        ["Python", m["python"]],
        ["SQLite", m["sqlite"]],
        ["safepassage", m["safepassage"]],
        ["pymerkle (peer)", m["pymerkle"]],
        ["Command", f"`{meta['command']}`"],
        ["Date", meta["date"]],
        ["Run time", f"{meta['seconds'] / 60:.1f} min"],
        [
            "Other load",
            (
                f"{results['load'].get('whole run', 0):.0%} of the CPU capacity was used by other "
                "processes during the run (see the last section)"
            ),
        ],
    ]
    return table(["", ""], rows)


def durable_section(results: dict[str, Any]) -> list[str]:
    d = results["durable"]
    om, pm = d["ours_modes"], d["peer_modes"]
    base = d["peer"]["rate"]
    total = d["concurrent"][0]["threads"] * d["concurrent"][0]["per_thread"]
    out = [
        (
            "Every append returns only once it is durable. safepassage: "
            f"`SqliteLogStore.append`, journal `{om['journal_mode']}`, synchronous "
            f"`{om['synchronous']}`, one writer thread that group-commits whatever appenders "
            "have queued. pymerkle: `SqliteTree.append_entry` as shipped, one transaction per "
            f"append, journal `{pm['journal_mode']}`, synchronous `{pm['synchronous']}`. "
            f"Median of {d['repeats']} interleaved runs; safepassage {d['ours_n']:,} entries "
            f"one at a time and about {total:,} per concurrent run, pymerkle {d['peer_n']:,} "
            "in each run. Entries per commit is entries ÷ transactions (`store.commits`)."
        ),
        "",
    ]
    rows = [
        [
            "1 (one at a time)",
            rate(d["ours"]["rate"]),
            f"{d['ours']['entries_per_commit']:.1f}",
            rate(base),
            times(d["ours"]["rate"] / base),
        ]
    ]
    peer8 = d["peer_8"]["rate"]
    for label, c in appender_rows(d):
        eight = label == "8 appender threads"
        rows.append(
            [
                label + (" (target row)" if eight else ""),
                rate(c["rate"]),
                f"{c['entries_per_commit']:.1f}",
                f"{rate(peer8)} (8 threads)" if eight else "—",
                times(c["rate"] / base),
            ]
        )
    rows.append(
        [
            "1, pymerkle in WAL mode (extra, not as shipped)",
            "—",
            "—",
            rate(d["peer_wal"]["rate"]),
            "—",
        ]
    )
    head = [
        "Appenders",
        "safepassage entries/s",
        "entries per commit",
        "pymerkle entries/s",
        "safepassage ÷ pymerkle one at a time",
    ]
    out += table(head, rows)
    out.append(
        f"pymerkle with 8 threads is {times(peer8 / base)} its own one-at-a-time rate: it has "
        "no group commit, so its threads only queue on its lock. safepassage with 8 appender "
        f"threads is {times(dict(appender_rows(d))['8 appender threads']['rate'] / peer8)} "
        "pymerkle with 8 threads. Asyncio tasks call `append_async` on one event loop: no "
        "thread is woken per answer. One at a time, every durable append costs at least one "
        "fsync in any design: safepassage one at a time is "
        f"{times(d['ours']['rate'] / d['peer_wal']['rate'])} pymerkle in WAL mode (one fsync per "
        "commit too), so only commits shared between appenders can go far beyond the "
        "one-at-a-time ratio."
    )
    out.append("")
    return out


def bulk_section(results: dict[str, Any]) -> list[str]:
    b = results["bulk"]
    peer_rate = b["peer"]["rate"]
    rows = [
        [
            f"safepassage `append_batch`, {r['chunk']:,} entries per call (one transaction each)",
            rate(r["rate"]),
            times(r["rate"] / peer_rate),
        ]
        for r in b["ours"]
    ]
    rows.append(
        [
            "pymerkle `append_entries` (100,000-row `executemany` chunks, one transaction)",
            rate(peer_rate),
            f"1.0{X}",
        ]
    )
    out = [
        (
            f"{b['n']:,} entries of 64 bytes into a fresh file, entry generation included. "
            "safepassage also writes every perfect-subtree hash (about two rows per entry); "
            "pymerkle stores only leaves."
        ),
        "",
    ]
    return out + table(["Path", "entries/s", "÷ pymerkle"], rows)


def crash_section(results: dict[str, Any]) -> list[str]:
    c = results["crash"]
    if c["status"] != "run":
        line = f"Not run ({c['status'].removeprefix('not run: ')})."
        if c["status"].startswith("failed"):
            line = (
                f"**Failed.** `{c['module']}` was run with {c['cycles']:,} cycles and stopped "
                f"after {c['seconds']:.0f} s: {c['status'].removeprefix('failed: ')}. The "
                "traceback is in `results.json`; a crash child's own error is on the run's "
                "standard error."
            )
        return [line, ""]
    out = [
        (
            f"`run_cycles` from `{c['module']}`, {c['cycles']:,} cycles (an appending child "
            "process killed with SIGKILL at a random moment, then every confirmed entry and the "
            "consistency with the last witnessed checkpoint checked"
            + (
                f"; a full `audit` every {c['full_audit_every']:,} cycles and after the last"
                if "full_audit_every" in c
                else ""
            )
            + f"): {c['seconds']:.0f} s."
        ),
        "",
    ]
    return out + table(["", ""], [[str(k), f"{v:,}"] for k, v in c["result"].items()])


def timings_section(results: dict[str, Any]) -> list[str]:
    load = results["load"]

    def other(name: str) -> str:
        return f"{load[name]:.0%}" if name in load else "—"

    seconds = results.get("section_seconds", {})
    rows = [
        [name, f"{seconds[name]:.0f} s" if name in seconds else "", other(name), ""]
        for name in ("durable appends", "bulk appends")
    ]
    for s in measured_sizes(results):
        parts = ", ".join(f"{k} {v:.0f} s" for k, v in s["timings"].items())
        name = f"{s['n']} entries"
        rows.append([size_name(s["n"]), f"{s['elapsed_s']:.0f} s", other(name), parts])
    if "seconds" in results.get("crash", {}):
        rows.append(["crash loop", f"{results['crash']['seconds']:.0f} s", other("crash loop"), ""])
    rows.append(["whole run", f"{results['meta']['seconds']:.0f} s", other("whole run"), ""])
    out = [
        (
            "The CPU column is the share of the machine's CPU capacity that *other* processes used "
            "during the section (from `/proc/stat`, minus this process and its children): anything "
            "well above 0% means the figures were taken on a shared, busy machine."
        ),
        "",
    ]
    return out + table(["Section", "Time", "CPU used by others", "Parts"], rows)


def city_section(results: dict[str, Any]) -> list[str]:
    c = results.get("city")
    if c is None:
        return ["Not measured in this run.", ""]
    size = c["city"]
    b, one, rb, strict = c["batched"], c["single"], c["rebuild"], c["strict_fold"]
    f = c["figures"]
    goal = 50_000
    signing = f"{c['signing_seconds']:.0f} s" if c["signing_seconds"] else "from the cache"
    return [
        (
            f"Measured {c['date']} with safepassage {c['commit']} (other processes used "
            f"{c['load']:.0%} of the CPU meanwhile). The operation is generated by "
            f"`safepassage.scenario.city`: {size['people']:,} people, {size['movements']:,} "
            f"movements of {size['vehicles_per_movement']} minibuses ({size['seats']} seats) from "
            f"{size['pickups']} pickup points, a fleet of {size['fleet']}; every vehicle counted "
            "at three checkpoints and on arrival by the ICRC and attested by both parties and an "
            f"observer mission: **{c['events']:,} events** "
            f"({c['log_bytes'] / 2**20:,.0f} MiB of log, {c['projection_bytes'] / 2**20:,.0f} MiB "
            "of projections)."
        ),
        "",
        (
            "There is no peer for this workload (no other system records these events), so the "
            "figures are set against the goal the issue fixed and against our own strict path."
        ),
        "",
        "| what | time | events/s | against |",
        "|---|---|---|---|",
        (
            f"| submit in batches of {c['batch']:,} (parse strictly, check signature and rules, "
            f"one durable commit + one projection transaction per batch) | {b['seconds']:.0f} s "
            f"| {b['rate']:,.0f} | parsing alone took {b['parse_seconds']:.0f} s of it |"
        ),
        (
            f"| submit one at a time (first {one['n']:,} events, a durable commit each) | "
            f"{one['seconds']:.1f} s | {one['rate']:,.0f} | |"
        ),
        (
            f"| **rebuild the projections** (`safepassage rebuild`; median of "
            f"{', '.join(f'{r:.1f}' for r in rb.get('runs', [rb['seconds']]))} s) | "
            f"{rb['seconds']:.1f} s | **{rb['rate']:,.0f}** | goal {goal:,}/s: "
            f"{'**met**' if rb['rate'] >= goal else '**not met**'} "
            f"({rb['rate'] / goal:.2f} times the goal) |"
        ),
        *(
            [
                (
                    f"| the same rebuild in one process (no helper for the `events` table) | "
                    f"{alone['seconds']:.1f} s | {alone['rate']:,.0f} | the helper makes it "
                    f"{rb['rate'] / alone['rate']:.2f} times faster |"
                )
            ]
            if (alone := c.get("rebuild_one_process"))
            else []
        ),
        (
            f"| strict fold (`parse_event` per entry, no tables) | {strict['seconds']:.1f} s | "
            f"{strict['rate']:,.0f} | the rebuild is {rb['rate'] / strict['rate']:.1f} times "
            "faster |"
        ),
        (
            f"| open the operation (fold the log, check the tables) | {c['open_seconds']:.1f} s "
            f"| {c['events'] / c['open_seconds']:,.0f} | |"
        ),
        f"| report from the whole log | {c['report_seconds']:.1f} s | | |",
        f"| report at half the log (`--at`) | {c['report_half_seconds']:.1f} s | | |",
        "",
        (
            f"The report's figures, computed from the log: {f['registered']:,} registered, "
            f"{f['boarded']:,} boarded, arrived {f['arrived']}, {f['in_transit']} in transit, "
            f"{f['unaccounted']} unaccounted, {f['destination_changes']:,} destination changes, "
            f"{f['trips_dispatched']:,} vehicle trips offering {f['seats_dispatched']:,} seats "
            f"for {f['seats_used']:,} people, {f['alerts']} alerts. Peak memory "
            f"{c['max_rss_mib']:,.0f} MiB. Signing the events (two processes, cached for "
            f"later runs): {signing}."
        ),
        "",
    ]


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        "# Benchmarks",
        "",
        (
            "Generated by `bench/run.py` (`make bench`) from one run against the peer, pymerkle; "
            "do not edit by hand. Raw figures: `results.json` in the work dir."
        ),
        "",
    ]
    if meta["quick"]:
        lines += ["**Quick smoke run (`--quick`): small sizes, not results.**", ""]
    lines += ["## Machine and command", "", *machine_section(results)]
    lines += ["## Targets", "", *targets(results)]
    lines += ["## Durable appends", "", *durable_section(results)]
    lines += ["## Bulk appends", "", *bulk_section(results)]
    lines += ["## Inclusion and consistency proofs", "", *proofs_section(results)]
    lines += ["## Verification", "", *verify_section(results)]
    lines += ["## A city-size operation", "", *city_section(results)]
    lines += ["## Crash loop", "", *crash_section(results)]
    lines += ["## Where the time went", "", *timings_section(results)]
    return "\n".join(lines).rstrip() + "\n"
