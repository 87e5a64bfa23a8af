"""The public report: the exact report's shape, small counts of people suppressed.

Besides hand-made cases, a reader's attack on small random operations: enumerate every
population of people (how many chose each destination, how many had each outcome) that agrees
with what the public report shows, and check each hidden count could still be two numbers.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safepassage.errors import FormatError
from safepassage.operation.disclosure import SMALL, WITHHELD, Shown, reader_range
from safepassage.operation.public import public_report
from safepassage.operation.report import (
    AlertOut,
    Count,
    Figures,
    OperationOut,
    OriginFigures,
    Report,
    build_report,
    to_markdown,
)
from tests.operation.builder import Builder, small_operation

COORD, ICRC = "un-ocha/coordinator", "icrc/liaison"
ZAP, BEZ = "Zap", "Bezimenne"


def operation(people: list[tuple[str, str]]) -> Builder:
    """People registered at Plant, each (destination, outcome); at most five board."""
    b = small_operation()
    for i, (destination, _) in enumerate(people):
        b.emit(
            ICRC,
            "person.registered",
            person=f"person-{i}",
            household=f"house-{i}",
            site="plant",
            age_band="18-59",
            sex="female",
            destination=destination,
            consent=True,
        )
    aboard = sorted(
        (i for i, (_, outcome) in enumerate(people) if outcome != "register"),
        key=lambda i: people[i][1] == "lost",  # the lost ones on bus-2, which reaches the end
    )[:5]
    for k, i in enumerate(aboard):
        vehicle = "bus-1" if k < 3 else "bus-2"
        b.emit(ICRC, "person.boarded", person=f"person-{i}", movement="m1", vehicle=vehicle)
    if not aboard:
        return b
    for party in ("ukraine", "russia"):
        b.emit(f"{party}/liaison", "movement.acknowledged", movement="m1")
    b.emit(COORD, "movement.departed", movement="m1")
    for i in aboard:
        if people[i][1] == "arrive":
            b.emit(ICRC, "person.arrived", person=f"person-{i}", movement="m1", site="zap")
        elif people[i][1] == "leave":
            b.emit(
                ICRC, "person.left-convoy", person=f"person-{i}", movement="m1", site="bezimenne"
            )
    if any(people[i][1] == "lost" for i in aboard[3:]):
        on_bus_2 = [i for i in aboard[3:] if people[i][1] not in {"arrive", "leave"}]
        b.emit(
            ICRC,
            "checkpoint.passed",
            movement="m1",
            vehicle="bus-2",
            site="zap",
            headcount=len(on_bus_2),
        )
    return b


def reports(people: list[tuple[str, str]]) -> tuple[Report, Report]:
    exact = build_report(operation(people).state, None)
    return exact, public_report(exact)


# --- what a reader can work out -----------------------------------------------------------------


def fits(shown: Shown, value: int) -> bool:
    lo, hi = reader_range(shown)
    return lo <= value and (hi is None or value <= hi)


def compositions(total: int, parts: int) -> Iterator[tuple[int, ...]]:
    """Every way to split ``total`` into ``parts`` counts of at least 1."""
    if parts == 0:
        if total == 0:
            yield ()
        return
    for cut in itertools.combinations(range(1, total), parts - 1):
        bounds = (0, *cut, total)
        yield tuple(bounds[k + 1] - bounds[k] for k in range(parts))


def flat(f: Figures) -> dict[str, Count]:
    """The people figures of a one-site operation, named."""
    [o] = f.by_origin
    out: dict[str, Count] = {
        "registered": f.registered,
        "boarded": f.boarded,
        "not_boarded": f.not_boarded,
        "in_transit": f.in_transit,
        "unaccounted": f.unaccounted,
    }
    out |= {f"chosen {d}": n for d, n in f.chosen.items()}
    out |= {f"arrived {d}": n for d, n in f.arrived.items()}
    out |= {f"left {d}": n for d, n in f.left_convoy.items()}
    out |= {f"origin chosen {d}": n for d, n in o.chosen.items()}
    out |= {f"origin reached {d}": n for d, n in o.reached.items()}
    out |= {
        "origin registered": o.registered,
        "origin not_boarded": o.not_boarded,
        "origin in_transit": o.in_transit,
        "origin unaccounted": o.unaccounted,
    }
    return out


def by_choice(public: Figures, n: int) -> list[dict[str, int]]:
    """Every split of ``n`` people over the destinations shown that agrees with them."""
    shown, out = flat(public), []
    for parts in compositions(n, len(public.chosen)):
        values = {"registered": n, "origin registered": n}
        for d, k in zip(public.chosen, parts, strict=True):
            values[f"chosen {d}"] = values[f"origin chosen {d}"] = k
        if all(fits(shown[name], v) for name, v in values.items()):
            out.append(values)
    return out


def by_outcome(public: Figures, n: int) -> list[dict[str, int]]:
    """Every split of ``n`` people over the outcomes shown that agrees with them."""
    shown, out = flat(public), []
    totals = ("not_boarded", "in_transit", "unaccounted")
    outcomes = [k for k in totals if shown[k] != 0]
    outcomes += [f"arrived {d}" for d in public.arrived]
    outcomes += [f"left {d}" for d in public.left_convoy]
    for parts in compositions(n, len(outcomes)):
        values = dict.fromkeys(totals, 0) | dict(zip(outcomes, parts, strict=True))
        values["boarded"] = n - values["not_boarded"]
        values |= {f"origin {k}": values[k] for k in totals}
        for d in {*public.arrived, *public.left_convoy}:
            values[f"origin reached {d}"] = values.get(f"arrived {d}", 0) + values.get(
                f"left {d}", 0
            )
        if all(fits(shown[name], v) for name, v in values.items()):
            out.append(values)
    return out


def possible_values(public: Figures, most_people: int) -> dict[str, set[int]]:
    """Every value each people figure takes in some population that agrees with ``public``:
    nothing links the choices to the outcomes but the number of people."""
    seen: dict[str, set[int]] = {name: set() for name in flat(public)}
    for n in range(1, most_people + 1):
        choices, outcomes = by_choice(public, n), by_outcome(public, n)
        if choices and outcomes:
            for values in (*choices, *outcomes):
                for name, v in values.items():
                    seen[name].add(v)
    return seen


OUTCOME = st.sampled_from(["register", "transit", "arrive", "leave", "lost"])
PERSON = st.tuples(st.sampled_from(["zap", "bezimenne"]), OUTCOME)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PERSON, min_size=1, max_size=9))
def test_no_hidden_count_of_people_can_be_worked_out(people: list[tuple[str, str]]) -> None:
    exact, public = reports(people)
    truth, shown = flat(exact.figures), flat(public.figures)
    assert truth.keys() == shown.keys()
    for name, value in truth.items():
        assert isinstance(value, int)
        if isinstance(shown[name], int):
            assert shown[name] == value, name
        else:
            assert value >= 1, name  # zero is shown
            assert shown[name] == WITHHELD or value <= 4, name
        if 1 <= value <= 4:
            assert not isinstance(shown[name], int), name
    assert isinstance(exact.figures.registered, int)
    possible = possible_values(public.figures, exact.figures.registered + 1)
    for name, value in truth.items():
        assert value in possible[name], name  # the truth is among what the reader considers
        if not isinstance(shown[name], int):
            assert len(possible[name]) >= 2, (name, possible[name])


# --- hand-made cases ----------------------------------------------------------------------------


def test_the_report_stays_exact_and_its_public_version_says_what_it_is() -> None:
    exact, public = reports([("zap", "arrive")] * 4 + [("bezimenne", "register")] * 7)
    assert exact.disclosure == "exact"
    assert exact.figures.arrived == {ZAP: 4}
    assert public.disclosure == "public"
    assert public.figures.arrived == {ZAP: SMALL}
    assert "Public version: a count of 1 to 4 people is shown as <5" in to_markdown(public)
    assert "Public version" not in to_markdown(exact)
    assert public_report(public) is public


def test_a_destination_chosen_by_few_is_hidden_with_a_complement() -> None:
    exact, public = reports([("zap", "register")] * 9 + [("bezimenne", "register")] * 3)
    f = public.figures
    assert exact.figures.chosen == {BEZ: 3, ZAP: 9}
    assert f.chosen == {BEZ: SMALL, ZAP: WITHHELD}  # else 12 - 9 = 3
    assert f.by_origin[0].chosen == {BEZ: SMALL, ZAP: WITHHELD}
    assert (f.registered, f.not_boarded, f.boarded) == (12, 12, 0)


def test_nothing_small_nothing_suppressed() -> None:
    people = [("zap", "register")] * 6 + [("bezimenne", "register")] * 5
    exact, public = reports(people)
    assert public.figures == exact.figures
    assert public.alerts == exact.alerts


def test_alerts_about_single_people_become_one_count_without_references() -> None:
    exact, public = reports([("zap", "lost")] * 2 + [("zap", "arrive")] * 3)
    assert [a.kind for a in exact.alerts].count("unaccounted") == 2
    [alert] = [a for a in public.alerts if a.kind == "unaccounted"]
    assert alert.message.startswith("Fewer than 5 people boarded and were not recorded")
    assert alert.events == []
    text = public.model_dump_json()
    assert "person-" not in text
    for a in exact.alerts:
        for event in a.events:
            assert event not in text


def test_a_headcount_alert_loses_its_numbers_and_the_boardings_behind_it() -> None:
    b = operation([("zap", "transit")] * 3)
    b.emit(
        "russia/liaison",
        "headcount.attested",
        movement="m1",
        vehicle="bus-1",
        site="manhush",
        headcount=2,
    )
    exact = build_report(b.state, None)
    [before] = exact.alerts
    [after] = public_report(exact).alerts
    assert before.message.endswith("russia's observer counted 2, the manifest has 3 on board")
    assert after.message == (
        "bus-1 of m1 at Manhush: russia's observer counted a number that differs from the manifest"
    )
    assert after.events == before.events[:1]


def test_a_headcount_message_of_another_form_is_not_published() -> None:
    exact = hand_made(alerts=[AlertOut(kind="headcount-mismatch", message="7 and 8", events=[])])
    [alert] = public_report(exact).alerts
    assert alert.message == "a headcount differs from the manifest"


def hand_made(
    boarded: int = 12, seats_used: int = 12, alerts: list[AlertOut] | None = None
) -> Report:
    registered = 20
    origin = OriginFigures(
        site="Plant",
        registered=registered,
        chosen={ZAP: registered},
        reached={ZAP: boarded},
        not_boarded=registered - boarded,
        in_transit=0,
        unaccounted=0,
    )
    figures = Figures(
        registered=registered,
        boarded=boarded,
        not_boarded=registered - boarded,
        chosen={ZAP: registered},
        arrived={ZAP: boarded},
        left_convoy={},
        in_transit=0,
        unaccounted=0,
        destination_changes=0,
        vehicles_registered=3,
        seats_registered=30,
        vehicles_dispatched=2,
        trips_dispatched=2,
        seats_dispatched=20,
        seats_used=seats_used,
        incidents={"injury": 1},
        by_origin=[origin],
    )
    return Report(
        operation=OperationOut(id="op", name="Op"),
        checkpoint=None,
        figures=figures,
        notifications=[],
        alerts=alerts or [],
    )


def test_seats_used_is_withheld_when_it_would_give_away_people_not_yet_departed() -> None:
    assert public_report(hand_made(seats_used=12)).figures.seats_used == 12
    assert public_report(hand_made(seats_used=9)).figures.seats_used == WITHHELD  # 12 - 9 = 3
    assert public_report(hand_made(seats_used=7)).figures.seats_used == 7  # 12 - 7 = 5
    assert public_report(hand_made(seats_used=3)).figures.seats_used == SMALL
    assert public_report(hand_made(seats_used=0)).figures.seats_used == 0


def test_counts_that_are_not_about_people_are_exact() -> None:
    f = public_report(hand_made()).figures
    assert (f.vehicles_registered, f.seats_registered, f.seats_dispatched) == (3, 30, 20)
    assert f.incidents == {"injury": 1}  # reported by the parties; an event, not a head count


def test_the_public_report_round_trips_through_its_json() -> None:
    _, public = reports([("zap", "arrive")] * 2 + [("bezimenne", "leave")] * 3)
    text = public.model_dump_json()
    assert Report.model_validate_json(text) == public
    assert json.loads(text)["figures"]["arrived"] == {ZAP: SMALL}


def test_an_alert_of_an_unknown_kind_shows_its_kind_only() -> None:
    alert = AlertOut(kind="something-new", message="person p-1 did x", events=["e1"])
    [shown] = public_report(hand_made(alerts=[alert])).alerts
    assert shown == AlertOut(
        kind="something-new", message="withheld in the public version", events=[]
    )


def test_an_exact_report_with_markers_is_refused() -> None:
    exact = hand_made()
    broken = exact.model_copy(update={"figures": exact.figures.model_copy(update={"boarded": "x"})})
    with pytest.raises(FormatError) as caught:
        public_report(broken)
    assert str(caught.value) == "figures: an exact report has whole numbers of people, not 'x'"
