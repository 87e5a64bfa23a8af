"""Small-cell suppression of published counts of people. Pure: no I/O.

A count of 1 to 4 people can point at someone, so a public figure shows it as ``<5`` (primary
suppression). Counts are published beside their totals, from which a hidden count could be
worked out by subtraction; so further counts are withheld and shown ``x`` (complementary
suppression), the smallest that will do, until no hidden count can be pinned down. Zero is
always shown.

What the audit assumes a reader knows: every published count exactly; that ``<5`` is 1 to 4;
that ``x`` is at least 1 (zero is never hidden) with no upper bound; and every sum linking the
counts (a breakdown adds up to its total, a table's rows and columns to their margins). A hidden
count is *protected* when all of that still leaves it at least two possible values.

Counts linked by sums are handled as a flow network: each count is an edge from one node to
another, and at every node what flows in equals what flows out. A breakdown with its total, a
table with its margins, and tables that share a margin are all such networks. A hidden count can
change while everything published stays as it is exactly when it lies on a cycle of hidden
counts that can each move by one within what the reader knows of them (a unit change around a
cycle keeps every node balanced, and by conformal decomposition any consistent change contains
such a cycle through it); so the audit is a graph search, not a search of all tables.

Suppression always succeeds: were every non-zero count withheld (``x``, unbounded above), each
would lie on a cycle of non-zero counts (a non-negative flow decomposes into cycles) and could
grow along it. This module never sees people, names or sites: only counts and how they add up.
"""

from __future__ import annotations

import heapq
from collections import defaultdict, deque
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Generic, Literal, TypeVar

from safepassage.errors import FormatError

__all__ = [
    "SMALL",
    "SMALLEST_SHOWN",
    "WITHHELD",
    "Breakdown",
    "Marker",
    "Shown",
    "Table",
    "reader_range",
    "suppress",
    "suppress_breakdown",
    "suppress_count",
    "suppress_table",
    "unprotected",
]

SMALL: Final = "<5"
"""Shown for a count of 1 to 4 people."""
WITHHELD: Final = "x"
"""Shown for a count withheld so that a small one beside it cannot be worked out: at least 1."""
SMALLEST_SHOWN: Final = 5
"""The smallest count of people shown as it is (zero aside)."""

Marker = Literal["<5", "x"]
Shown = int | Marker
"""A published count: the number itself, or a marker in its place."""

K = TypeVar("K", bound=Hashable)
R = TypeVar("R", bound=Hashable)
C = TypeVar("C", bound=Hashable)
Edge = tuple[Hashable, Hashable]
"""A count flows from the first node to the second."""


def reader_range(shown: Shown) -> tuple[int, int | None]:
    """What a reader knows of a count from what is shown: (least, most); most None: unbounded."""
    if isinstance(shown, int):
        return shown, shown
    if shown == SMALL:
        return 1, SMALLEST_SHOWN - 1
    return 1, None


def suppress_count(count: int) -> Shown:
    """A count published on its own, linked by no sum to another published count."""
    _check_counts([count])
    return SMALL if 0 < count < SMALLEST_SHOWN else count


@dataclass(frozen=True)
class Breakdown(Generic[K]):
    """A breakdown as published: its parts, and their total."""

    cells: dict[K, Shown]
    total: Shown


def suppress_breakdown(counts: Mapping[K, int]) -> Breakdown[K]:
    """Suppress a breakdown published with its total (the sum of its parts)."""
    keys = list(counts)
    values = [counts[k] for k in keys]
    shown = suppress(
        [*values, sum(values)], [("parts", "total")] * len(keys) + [("total", "parts")]
    )
    return Breakdown(dict(zip(keys, shown[:-1], strict=True)), shown[-1])


@dataclass(frozen=True)
class Table(Generic[R, C]):
    """A two-way table as published: its cells, row totals, column totals and grand total."""

    cells: dict[tuple[R, C], Shown]
    rows: dict[R, Shown]
    columns: dict[C, Shown]
    total: Shown


def suppress_table(counts: Mapping[tuple[R, C], int]) -> Table[R, C]:
    """Suppress a table published with its margins; a cell not in ``counts`` is zero."""
    keys = list(counts)
    rows = list(dict.fromkeys(r for r, _ in keys))
    columns = list(dict.fromkeys(c for _, c in keys))
    row_sums = {r: sum(counts[k] for k in keys if k[0] == r) for r in rows}
    column_sums = {c: sum(counts[k] for k in keys if k[1] == c) for c in columns}
    # Every cell flows row -> column; the margins close the circuit through two more nodes.
    values = [counts[k] for k in keys]
    edges: list[Edge] = [(("row", r), ("column", c)) for r, c in keys]
    values += [row_sums[r] for r in rows]
    edges += [("rows", ("row", r)) for r in rows]
    values += [column_sums[c] for c in columns]
    edges += [(("column", c), "columns") for c in columns]
    values.append(sum(row_sums.values()))
    edges.append(("columns", "rows"))
    shown = iter(suppress(values, edges))
    return Table(
        cells={k: next(shown) for k in keys},
        rows={r: next(shown) for r in rows},
        columns={c: next(shown) for c in columns},
        total=next(shown),
    )


def suppress(values: Sequence[int], edges: Sequence[Edge]) -> list[Shown]:
    """What to publish for counts linked as a flow network (``values[i]`` flows along
    ``edges[i]``): 1 to 4 as ``<5``; then, while a hidden count is unprotected, the published
    counts of the cheapest cycle that would protect it are withheld as ``x`` (cheapest: the
    smallest sum). A ``<5`` is widened to ``x`` only where no cycle of published counts can do."""
    _check_network(values, edges)
    shown: list[Shown] = [SMALL if 0 < v < SMALLEST_SHOWN else v for v in values]
    while pending := unprotected(values, edges, shown):
        _protect(values, edges, shown, pending[0])
    return shown


def unprotected(values: Sequence[int], edges: Sequence[Edge], shown: Sequence[Shown]) -> list[int]:
    """The indices of hidden counts a reader could pin down to one value."""
    arcs = _arcs(values, edges, shown)
    return [
        i
        for i, s in enumerate(shown)
        if not isinstance(s, int) and not _protected(values, edges, shown, arcs, i)
    ]


# --- the audit and the choice of complements --------------------------------------------------

Arcs = dict[Hashable, list[tuple[Hashable, int]]]


def _moves(value: int, shown: Shown) -> tuple[bool, bool]:
    """Whether a hidden count could, as far as a reader knows, be one more and one less."""
    least, most = reader_range(shown)
    return most is None or value < most, value > least


def _arcs(values: Sequence[int], edges: Sequence[Edge], shown: Sequence[Shown]) -> Arcs:
    """The residual graph: raising a count moves along its edge, lowering it against."""
    arcs: Arcs = defaultdict(list)
    for i, s in enumerate(shown):
        if isinstance(s, int):
            continue
        up, down = _moves(values[i], s)
        tail, head = edges[i]
        if up:
            arcs[tail].append((head, i))
        if down:
            arcs[head].append((tail, i))
    return arcs


def _protected(
    values: Sequence[int], edges: Sequence[Edge], shown: Sequence[Shown], arcs: Arcs, i: int
) -> bool:
    up, down = _moves(values[i], shown[i])
    tail, head = edges[i]
    return (up and _reaches(arcs, head, tail, i)) or (down and _reaches(arcs, tail, head, i))


def _reaches(arcs: Arcs, start: Hashable, goal: Hashable, without: int) -> bool:
    seen, todo = {start}, deque([start])
    while todo:
        node = todo.popleft()
        if node == goal:
            return True
        for nxt, edge in arcs.get(node, ()):
            if edge != without and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


_WIDEN: Final = 1 << 40
"""The cost of widening a ``<5`` to ``x``: above withholding any published count."""


def _protect(values: Sequence[int], edges: Sequence[Edge], shown: list[Shown], target: int) -> None:
    """Withhold the counts of the cheapest cycle through ``target`` (cost: the sum of the counts
    it withholds, so the smallest are taken) along which every count could move by one."""
    up, down = _moves(values[target], shown[target])
    tail, head = edges[target]
    arcs = _priced_arcs(values, edges, shown, target)
    # (from, to, extra cost, counts withheld besides the path's): lowering the target closes a
    # cycle from its tail to its head; raising it, from its head to its tail, and a 4 shown
    # "<5" can only be raised once widened to "x"
    ways: list[tuple[Hashable, Hashable, int, list[int]]] = []
    if down:
        ways.append((tail, head, 0, []))
    if up:
        ways.append((head, tail, 0, []))
    elif shown[target] == SMALL:
        ways.append((head, tail, _WIDEN + values[target], [target]))
    options = []
    for start, goal, extra, own in ways:
        found = _cheapest_path(arcs, start, goal)
        if found is not None:
            options.append((found[0] + extra, [*found[1], *own]))
    # Some way exists: with every non-zero count withheld each lies on a cycle (see above).
    _, path = min(options)
    for i in path:
        shown[i] = WITHHELD


PricedArcs = dict[Hashable, list[tuple[Hashable, int, int]]]
"""node -> (next node, count, what moving it this way costs)."""


def _priced_arcs(
    values: Sequence[int], edges: Sequence[Edge], shown: Sequence[Shown], without: int
) -> PricedArcs:
    """A hidden count's possible moves are free; a published count (at least 5: it can move both
    ways once withheld) costs its value; raising a 4 shown ``<5`` costs widening it."""
    arcs: PricedArcs = defaultdict(list)
    for i, s in enumerate(shown):
        if i == without or s == 0:
            continue
        tail, head = edges[i]
        if isinstance(s, int):
            arcs[tail].append((head, i, s))
            arcs[head].append((tail, i, s))
            continue
        up, down = _moves(values[i], s)
        arcs[tail].append((head, i, 0 if up else _WIDEN + values[i]))
        if down:
            arcs[head].append((tail, i, 0))
    return arcs


def _cheapest_path(
    arcs: PricedArcs, start: Hashable, goal: Hashable
) -> tuple[int, list[int]] | None:
    """Dijkstra: (cost, the counts it withholds) of the cheapest path, if there is one."""
    best: dict[Hashable, int] = {start: 0}
    via: dict[Hashable, tuple[Hashable, int, int]] = {}
    heap: list[tuple[int, int, Hashable]] = [(0, 0, start)]
    pushed = 0  # ties go to the path found first: the same table always gives the same answer
    while heap:
        cost, _, node = heapq.heappop(heap)
        if node == goal:
            path, at = [], goal
            while at != start:
                at, i, step = via[at]
                if step:
                    path.append(i)
            return cost, path
        if cost > best[node]:
            continue
        for nxt, i, step in arcs.get(node, ()):
            if nxt not in best or cost + step < best[nxt]:
                best[nxt] = cost + step
                via[nxt] = (node, i, step)
                pushed += 1
                heapq.heappush(heap, (cost + step, pushed, nxt))
    return None


def _check_counts(values: Sequence[int]) -> None:
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise FormatError(f"must be whole numbers of people, got {v!r}", field="counts")


def _check_network(values: Sequence[int], edges: Sequence[Edge]) -> None:
    if len(values) != len(edges):
        raise FormatError(f"{len(values)} counts for {len(edges)} edges", field="counts")
    _check_counts(values)
    balance: dict[Hashable, int] = defaultdict(int)
    for v, (tail, head) in zip(values, edges, strict=True):
        balance[tail] -= v
        balance[head] += v
    off = [node for node, b in balance.items() if b]
    if off:
        raise FormatError(f"do not add up at {off[0]!r}", field="counts")
