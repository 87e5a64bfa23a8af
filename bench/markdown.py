"""Formatting shared by the report modules: numbers, ratios, sizes and Markdown tables.

Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

X = "\N{MULTIPLICATION SIGN}"


def rate(x: float) -> str:
    return f"{x:,.0f}"


def us(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def times(x: float) -> str:
    return f"{x:,.1f}{X}" if x < 100 else f"{x:,.0f}{X}"


def met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def size_name(n: int) -> str:
    for unit, div in (("M", 1_000_000), ("k", 1_000)):
        if n >= div and n % div == 0:
            return f"{n // div:,}{unit}"
    return f"{n:,}"


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return [*out, ""]


def measuring(s: dict[str, Any]) -> float:
    """Seconds a size section spent on everything but the (cacheable) builds."""
    return s["elapsed_s"] - sum(v for k, v in s["timings"].items() if k.endswith("build"))


def measured_sizes(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in results["sizes"] if "skipped" not in s]
