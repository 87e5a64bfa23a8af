"""Small-cell suppression: every 1-4 hidden, and no hidden count recoverable from what is shown.

The recovery check is a brute force, independent of the module's graph search: for each hidden
count, look for a whole table that agrees with everything published (published counts and
totals exactly, ``<5`` as 1 to 4, ``x`` as at least 1, zero as zero, every row, column and
total adding up) in which that count has another value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safepassage.errors import FormatError
from safepassage.operation.disclosure import (
    SMALL,
    WITHHELD,
    Shown,
    reader_range,
    suppress,
    suppress_breakdown,
    suppress_count,
    suppress_table,
    unprotected,
)

# --- the brute force ----------------------------------------------------------------------------


@dataclass
class Published:
    """A table as a reader sees it: cells, and lines (sets of cells) with their shown sums."""

    truth: list[int]
    cells: list[Shown]
    lines: list[tuple[list[int], Shown]]
    line_truth: list[int]


def _ranges(p: Published, cap: int) -> tuple[list[tuple[int, int]], list[tuple[int, int | None]]]:
    """What a reader knows of each cell (capped: a change by one never needs more) and line."""
    cells = [(lo, cap if hi is None else hi) for lo, hi in map(reader_range, p.cells)]
    return cells, [reader_range(shown) for _, shown in p.lines]


class _Search:
    """Whether some table has its cells in ``cells`` and its lines' sums in ``lines``:
    depth-first, nearest the truth first, pruned by each line's range."""

    def __init__(
        self, p: Published, cells: list[tuple[int, int]], lines: list[tuple[int, int | None]]
    ) -> None:
        self.p, self.cells, self.lines = p, cells, lines
        n = len(p.cells)
        self.members = [[j for j, (line, _) in enumerate(p.lines) if i in line] for i in range(n)]
        self.last = {j: max(line) for j, (line, _) in enumerate(p.lines)}
        self.rest_min = [[0] * len(p.lines) for _ in range(n + 1)]  # least the cells after i add
        for i in range(n - 1, -1, -1):
            self.rest_min[i] = list(self.rest_min[i + 1])
            for j in self.members[i]:
                self.rest_min[i][j] += cells[i][0]
        self.sums = [0] * len(p.lines)

    def fits(self, i: int, v: int) -> bool:
        for j in self.members[i]:
            lo, hi = self.lines[j]
            if hi is not None and self.sums[j] + v + self.rest_min[i + 1][j] > hi:
                return False
            if self.last[j] == i and self.sums[j] + v < lo:
                return False
        return True

    def found(self, i: int = 0) -> bool:
        if i == len(self.cells):
            return True
        lo, hi = self.cells[i]
        for v in sorted(range(lo, hi + 1), key=lambda v: abs(v - self.p.truth[i])):
            if not self.fits(i, v):
                continue
            for j in self.members[i]:
                self.sums[j] += v
            done = self.found(i + 1)
            for j in self.members[i]:
                self.sums[j] -= v
            if done:
                return True
        return False


def _feasible(
    p: Published, cells: list[tuple[int, int]], lines: list[tuple[int, int | None]]
) -> bool:
    return _Search(p, cells, lines).found()


def recoverable(p: Published) -> list[str]:
    """Every hidden count (cell or total) that has one possible value only."""
    cap = max([*p.truth, *p.line_truth]) + 1
    cells, lines = _ranges(p, cap)
    pinned = []
    for i, shown in enumerate(p.cells):
        if isinstance(shown, int):
            continue
        others = sorted(
            (v for v in range(cells[i][0], cells[i][1] + 1) if v != p.truth[i]),
            key=lambda v: abs(v - p.truth[i]),
        )
        if not any(_feasible(p, [*cells[:i], (v, v), *cells[i + 1 :]], lines) for v in others):
            pinned.append(f"cell {i}")
    for j, (_, shown) in enumerate(p.lines):
        if isinstance(shown, int):
            continue
        lo, hi = lines[j]
        # nearest first, and a change by one is all the suppression promises
        others = [v for v in (p.line_truth[j] - 1, p.line_truth[j] + 1) if lo <= v <= (hi or v)]
        if not any(_feasible(p, cells, [*lines[:j], (v, v), *lines[j + 1 :]]) for v in others):
            pinned.append(f"line {j}")
    return pinned


def published_breakdown(counts: list[int]) -> Published:
    b = suppress_breakdown(dict(enumerate(counts)))
    cells = [b.cells[i] for i in range(len(counts))]
    return Published(counts, cells, [(list(range(len(counts))), b.total)], [sum(counts)])


def published_table(grid: list[list[int]]) -> Published:
    rows, cols = len(grid), len(grid[0])
    t = suppress_table({(r, c): grid[r][c] for r in range(rows) for c in range(cols)})
    truth = [grid[r][c] for r in range(rows) for c in range(cols)]
    cells = [t.cells[r, c] for r in range(rows) for c in range(cols)]
    lines = [([r * cols + c for c in range(cols)], t.rows[r]) for r in range(rows)]
    lines += [([r * cols + c for r in range(rows)], t.columns[c]) for c in range(cols)]
    lines.append((list(range(rows * cols)), t.total))
    line_truth = [sum(grid[r]) for r in range(rows)]
    line_truth += [sum(grid[r][c] for r in range(rows)) for c in range(cols)]
    line_truth.append(sum(truth))
    return Published(truth, cells, lines, line_truth)


# --- properties ---------------------------------------------------------------------------------

COUNT = st.one_of(st.integers(0, 4), st.integers(5, 9), st.just(0))
BREAKDOWN = st.lists(COUNT, min_size=1, max_size=5)
GRID = st.integers(1, 3).flatmap(
    lambda cols: st.lists(st.lists(COUNT, min_size=cols, max_size=cols), min_size=1, max_size=3)
)


def everything(p: Published) -> list[tuple[int, Shown]]:
    return [
        *zip(p.truth, p.cells, strict=True),
        *zip(p.line_truth, (s for _, s in p.lines), strict=True),
    ]


def check_honest_and_small_hidden(p: Published) -> None:
    for value, shown in everything(p):
        if isinstance(shown, int):
            assert shown == value  # what is shown is true
        elif shown == SMALL:
            assert 1 <= value <= 4  # "<5" is never said of 0 or of 5 and more
        else:
            assert shown == WITHHELD
            assert value >= 1  # zero is always shown
        if 1 <= value <= 4:
            assert not isinstance(shown, int)  # (a) every 1-4 hidden


def check_only_complements_hidden(p: Published) -> None:
    # (c) a count of 5 or more is hidden only as a complement: never with no small count
    # anywhere, and always beside another hidden count in one of its lines
    hidden = [not isinstance(s, int) for s in p.cells]
    if not any(1 <= v <= 4 for v, _ in everything(p)):
        assert not any(hidden)
        assert all(isinstance(s, int) for _, s in p.lines)
    for i, (value, shown) in enumerate(zip(p.truth, p.cells, strict=True)):
        if value >= 5 and not isinstance(shown, int):
            lines = [(cells, s) for cells, s in p.lines if i in cells]
            assert any(
                not isinstance(s, int) or any(hidden[k] for k in cells if k != i)
                for cells, s in lines
            )


@settings(max_examples=300, deadline=None)
@given(BREAKDOWN)
def test_a_breakdown_hides_every_small_count_and_none_can_be_recovered(counts: list[int]) -> None:
    p = published_breakdown(counts)
    check_honest_and_small_hidden(p)
    check_only_complements_hidden(p)
    assert recoverable(p) == []  # (b)


@settings(max_examples=300, deadline=None)
@given(GRID)
def test_a_table_hides_every_small_count_and_none_can_be_recovered(grid: list[list[int]]) -> None:
    p = published_table(grid)
    check_honest_and_small_hidden(p)
    check_only_complements_hidden(p)
    assert recoverable(p) == []  # (b)


# --- the brute force itself finds what a naive rule leaves open ---------------------------------


def test_the_brute_force_finds_a_count_given_away_by_subtraction() -> None:
    # published as the one-hidden-cell-per-line rule would leave it: 6 = <5 + x, x at least 5
    p = Published([1, 5], [SMALL, 5], [([0, 1], 6)], [6])
    assert recoverable(p) == ["cell 0"]
    # and with "x" read as only "at least 1" the same line is safe
    p = Published([1, 5], [SMALL, WITHHELD], [([0, 1], 6)], [6])
    assert recoverable(p) == []


# --- hand-written cases -------------------------------------------------------------------------


def test_nothing_small_nothing_hidden() -> None:
    b = suppress_breakdown({"zap": 69, "bezimenne": 32, "elsewhere": 0})
    assert b.cells == {"zap": 69, "bezimenne": 32, "elsewhere": 0}
    assert b.total == 101


def test_a_small_count_takes_the_smallest_other_as_its_complement() -> None:
    b = suppress_breakdown({"zap": 69, "bezimenne": 3, "manhush": 7, "elsewhere": 0})
    assert b.cells == {"zap": 69, "bezimenne": SMALL, "manhush": WITHHELD, "elsewhere": 0}
    assert b.total == 79


def test_two_small_counts_protect_each_other() -> None:
    b = suppress_breakdown({"zap": 69, "bezimenne": 3, "manhush": 2})
    assert b.cells == {"zap": 69, "bezimenne": SMALL, "manhush": SMALL}
    assert b.total == 74


def test_a_small_total_is_hidden_too() -> None:
    b = suppress_breakdown({"zap": 3, "bezimenne": 0})
    assert b.cells == {"zap": SMALL, "bezimenne": 0}
    assert b.total == SMALL


def test_four_ones_under_a_small_total_would_each_be_one_so_the_total_is_withheld() -> None:
    # "<5" for all five would pin each part to 1: four parts of at least 1 under a total below 5
    b = suppress_breakdown(dict.fromkeys("abcd", 1))
    assert list(b.cells.values()) == [SMALL] * 4
    assert b.total == WITHHELD
    assert recoverable(published_breakdown([1, 1, 1, 1])) == []


def test_a_small_total_that_cannot_rise_is_widened_itself() -> None:
    # the total first: 4 is the most "<5" allows, each part at least 1, so all would be pinned
    edges = [("total", "parts")] + [("parts", "total")] * 4
    assert suppress([4, 1, 1, 1, 1], edges) == [WITHHELD, SMALL, SMALL, SMALL, SMALL]


def test_a_table_with_one_destination_chosen_by_few() -> None:
    t = suppress_table(
        {
            ("azovstal", "zaporizhzhia"): 60,
            ("azovstal", "bezimenne"): 3,
            ("port", "zaporizhzhia"): 20,
            ("port", "bezimenne"): 9,
        }
    )
    assert t.cells["azovstal", "bezimenne"] == SMALL
    hidden = [k for k, s in t.cells.items() if not isinstance(s, int)]
    assert len(hidden) == 4  # a rectangle: each row and column keeps two hidden cells
    assert (t.rows, t.columns, t.total) == (
        {"azovstal": 63, "port": 29},
        {"zaporizhzhia": 80, "bezimenne": 12},
        92,
    )


def test_a_count_on_its_own() -> None:
    assert [suppress_count(n) for n in (0, 1, 4, 5, 101)] == [0, SMALL, SMALL, 5, 101]


def test_what_a_reader_knows_of_each_marker() -> None:
    assert reader_range(7) == (7, 7)
    assert reader_range(SMALL) == (1, 4)
    assert reader_range(WITHHELD) == (1, None)


def test_the_audit_names_a_count_left_alone_in_its_line() -> None:
    edges = [("parts", "total")] * 2 + [("total", "parts")]
    assert unprotected([3, 9, 12], edges, [SMALL, 9, 12]) == [0]
    assert unprotected([3, 9, 12], edges, [SMALL, WITHHELD, 12]) == []


@pytest.mark.parametrize(
    ("values", "edges", "reason"),
    [
        ([-1, -1], [("a", "b"), ("b", "a")], "counts: must be whole numbers of people, got -1"),
        ([2, 3], [("a", "b"), ("b", "a")], "counts: do not add up at 'a'"),
        ([2], [("a", "b"), ("b", "a")], "counts: 1 counts for 2 edges"),
    ],
)
def test_counts_that_are_not_a_network_are_refused(
    values: Sequence[int], edges: Sequence[tuple[str, str]], reason: str
) -> None:
    with pytest.raises(FormatError) as caught:
        suppress(values, edges)
    assert str(caught.value) == reason
