"""The public version of the report: the same shape, small counts of people suppressed. Pure.

Every party holds the log and can compute the exact report; what is published beyond them (to
the press, on a website, in an export) must not let a reader single out a person. So every count
of *people* goes through ``operation.disclosure``: 1 to 4 is shown ``<5``, and counts that would
give a small one away by subtraction are withheld as ``x``. Zero is shown.

The counts of people are linked by sums, and are suppressed together as one flow network, so no
combination of published figures recovers a hidden one::

    registered = not boarded + boarded
    boarded    = in transit + unaccounted + sum of arrived + sum of left the convoy
    arrived[d] + left the convoy[d] = sum over registration sites o of reached[o][d]
    registered[o] = not boarded[o] + in transit[o] + unaccounted[o] + sum of reached[o]
                  = sum of chosen[o]
    chosen[d]  = sum over o of chosen[o][d];   registered = sum of chosen

Counted on their own: destination changes, and people who got off elsewhere than they chose (an
alert). Seats used (people who boarded a departed movement) is at most ``boarded``: it is shown
exactly only when ``boarded`` is, and their difference (people aboard a movement not yet
departed) is 0 or at least 5; otherwise it is ``<5`` (1 to 4) or ``x``.

Not about people, so published exactly: vehicles and seats registered and dispatched, trips,
incidents (reported by the parties themselves), notifications and the parties' answers.

Alerts: those about movements are kept. A headcount that differs from the manifest keeps its
vehicle, movement and site but not the two numbers, and names only the headcount's event (the
boarding events behind it would count the people aboard). Alerts about single people
(unaccounted, off elsewhere than chosen) become one alert per kind, with a suppressed count and
no events. An alert of a kind not known here shows its kind only.

Not audited: inequalities between figures beyond ``seats used <= boarded`` (for instance that a
site's arrivals from one origin cannot exceed the people registered there).
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any

from safepassage.errors import FormatError
from safepassage.operation.disclosure import (
    SMALL,
    SMALLEST_SHOWN,
    WITHHELD,
    Edge,
    Shown,
    suppress,
    suppress_count,
)
from safepassage.operation.report import AlertOut, Count, Figures, Report

__all__ = ["public_report"]

_HEADCOUNT = re.compile(r"counted \d+, the manifest has \d+ on board$")
_ABOUT_MOVEMENTS = frozenset({"departed-without-acknowledgement", "departed-despite-objection"})
"""Alerts kept as they are: about movements and the parties' answers, not about people."""


class _Network:
    """Counts of people, each under a key, each an edge of the flow network."""

    def __init__(self) -> None:
        self.keys: list[Hashable] = []
        self.values: list[int] = []
        self.edges: list[Edge] = []

    def add(self, key: Hashable, count: Count, tail: Hashable, head: Hashable) -> None:
        self.keys.append(key)
        self.values.append(_exact(count))
        self.edges.append((tail, head))

    def suppress(self) -> dict[Hashable, Shown]:
        return dict(zip(self.keys, suppress(self.values, self.edges), strict=True))


def _people(f: Figures) -> dict[Hashable, Shown]:
    n = _Network()
    n.add("registered", f.registered, "chose", "all")
    n.add("not_boarded", f.not_boarded, "all", "not_boarded")
    n.add("boarded", f.boarded, "all", "boarded")
    n.add("in_transit", f.in_transit, "boarded", "in_transit")
    n.add("unaccounted", f.unaccounted, "boarded", "unaccounted")
    for d, count in f.arrived.items():
        n.add(("arrived", d), count, "boarded", ("off", d))
    for d, count in f.left_convoy.items():
        n.add(("left_convoy", d), count, "boarded", ("off", d))
    for i, o in enumerate(f.by_origin):
        n.add((i, "not_boarded"), o.not_boarded, "not_boarded", ("from", i))
        n.add((i, "in_transit"), o.in_transit, "in_transit", ("from", i))
        n.add((i, "unaccounted"), o.unaccounted, "unaccounted", ("from", i))
        for d, count in o.reached.items():
            n.add((i, "reached", d), count, ("off", d), ("from", i))
        n.add((i, "registered"), o.registered, ("from", i), ("chose from", i))
        for d, count in o.chosen.items():
            n.add((i, "chosen", d), count, ("chose from", i), ("chose", d))
    for d, count in f.chosen.items():
        n.add(("chosen", d), count, ("chose", d), "chose")
    return n.suppress()


def _seats_used(f: Figures, boarded: Shown) -> Shown:
    seats = _exact(f.seats_used)
    shown = suppress_count(seats)
    if shown in (0, SMALL):
        return shown
    # at least 5: exact only beside an exact ``boarded`` that it does not come within 1-4 of
    if isinstance(boarded, int) and not 0 < boarded - seats < SMALLEST_SHOWN:
        return seats
    return WITHHELD


def _figures(f: Figures) -> Figures:
    shown = _people(f)
    origins = [
        {
            **o.model_dump(),
            **{
                k: shown[(i, k)] for k in ("registered", "not_boarded", "in_transit", "unaccounted")
            },
            "reached": {d: shown[(i, "reached", d)] for d in o.reached},
            "chosen": {d: shown[(i, "chosen", d)] for d in o.chosen},
        }
        for i, o in enumerate(f.by_origin)
    ]
    update: dict[str, Any] = {
        **{
            k: shown[k]
            for k in ("registered", "not_boarded", "boarded", "in_transit", "unaccounted")
        },
        "arrived": {d: shown[("arrived", d)] for d in f.arrived},
        "left_convoy": {d: shown[("left_convoy", d)] for d in f.left_convoy},
        "chosen": {d: shown[("chosen", d)] for d in f.chosen},
        "by_origin": origins,
        "destination_changes": suppress_count(_exact(f.destination_changes)),
        "seats_used": _seats_used(f, shown["boarded"]),
    }
    return Figures.model_validate({**f.model_dump(), **update})


def _exact(count: Count) -> int:
    if not isinstance(count, int):
        raise FormatError(
            f"an exact report has whole numbers of people, not {count!r}", field="figures"
        )
    return count


def _people_phrase(count: Shown) -> str:
    if count == SMALL:
        return "Fewer than 5 people"
    if count == WITHHELD:
        return "Some people (the number is withheld)"
    return f"{count} people"


def _alerts(report: Report, unaccounted: Shown) -> list[AlertOut]:
    elsewhere = sum(1 for a in report.alerts if a.kind == "elsewhere-than-chosen")
    summaries = {
        "unaccounted": AlertOut(
            kind="unaccounted",
            message=f"{_people_phrase(unaccounted)} boarded and were not recorded arriving or "
            "leaving the convoy before the end of its route or the close of the operation",
            events=[],
        ),
        "elsewhere-than-chosen": AlertOut(
            kind="elsewhere-than-chosen",
            message=f"{_people_phrase(suppress_count(elsewhere))} got off the convoy somewhere "
            "other than the destination they chose",
            events=[],
        ),
    }
    out, summarised = [], set()
    for a in report.alerts:
        if a.kind in summaries:
            if a.kind not in summarised:  # one summary, where the first of its kind was
                summarised.add(a.kind)
                out.append(summaries[a.kind])
        elif a.kind == "headcount-mismatch":
            message, found = _HEADCOUNT.subn(
                "counted a number that differs from the manifest", a.message
            )
            if not found:  # never publish a message whose numbers were not taken out
                message = "a headcount differs from the manifest"
            out.append(AlertOut(kind=a.kind, message=message, events=a.events[:1]))
        elif a.kind in _ABOUT_MOVEMENTS:
            out.append(a)
        else:  # a kind this module does not know: nothing of it is published but its kind
            out.append(AlertOut(kind=a.kind, message="withheld in the public version", events=[]))
    return out


def public_report(report: Report) -> Report:
    """The public version of an exact report (a public one is returned as it is)."""
    if report.disclosure == "public":
        return report
    figures = _figures(report.figures)
    unaccounted = figures.unaccounted
    return report.model_copy(
        update={
            "disclosure": "public",
            "figures": figures,
            "alerts": _alerts(report, unaccounted),
        }
    )
