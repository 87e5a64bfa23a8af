"""The application layer on a real log: submit, refuse, replay, cosign, report."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from safepassage.app.keys import public_key_b64
from safepassage.app.operation import Operation
from safepassage.errors import FormatError, RuleError
from safepassage.events.catalogue import parse_body
from safepassage.events.envelope import sign_event

COORD = "un-ocha/coordinator"
T0 = datetime(2022, 4, 29, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def opened(tmp_path: Path) -> tuple[Operation, Clock]:
    op = Operation.create(tmp_path / "op", "test-op")
    op.keys.mark_demo()
    clock = Clock()
    key = {"actor": COORD, "public_key": public_key_b64(op.keys.new_actor(COORD))}
    op.submit(
        COORD,
        "operation.opened",
        {
            "operation": "test-op",
            "name": "Test",
            "coordinator": "un-ocha",
            "coordinator_name": "UN OCHA",
            "key": key,
            "witness": op.keys.new_witness("un-ocha").verifier().key_string(),
        },
        clock(),
    )
    for party, role in [
        ("icrc", "facilitator"),
        ("ukraine", "party-to-conflict"),
        ("russia", "party-to-conflict"),
    ]:
        actor = f"{party}/liaison"
        op.submit(
            COORD,
            "party.joined",
            {
                "party": party,
                "name": party,
                "role": role,
                "key": {"actor": actor, "public_key": public_key_b64(op.keys.new_actor(actor))},
                "witness": op.keys.new_witness(party).verifier().key_string(),
            },
            clock(),
        )
    op.submit(
        COORD,
        "site.declared",
        {"site": "plant", "name": "Plant", "site_kind": "pickup", "lat": 47.1, "lon": 37.6},
        clock(),
    )
    return op, clock


def size_of(op: Operation) -> int:
    return op.log.size()


def test_a_command_becomes_a_signed_entry_and_is_folded(tmp_path: Path) -> None:
    op, clock = opened(tmp_path)
    receipt = op.submit(
        COORD,
        "site.declared",
        {"site": "zap", "name": "Zaporizhzhia", "site_kind": "reception", "lat": 47.8, "lon": 35.1},
        clock(),
    )
    assert receipt.index == size_of(op) - 1
    assert op.state.sites["zap"].name == "Zaporizhzhia"
    assert op.log.store.entry(receipt.index).startswith(b'{"actor":"un-ocha/coordinator"')
    op.close()


@pytest.mark.parametrize(
    ("actor", "kind", "body", "error", "field"),
    [
        (
            COORD,
            "site.declared",
            {"site": "plant", "name": "x", "site_kind": "pickup", "lat": 1.0, "lon": 1.0},
            RuleError,
            "body.site",
        ),
        (
            COORD,
            "site.declared",
            {"site": "x", "name": "x", "site_kind": "pickup", "lat": 100.0, "lon": 1.0},
            FormatError,
            "body.lat",
        ),
        (
            "russia/liaison",
            "site.declared",
            {"site": "x", "name": "x", "site_kind": "pickup", "lat": 1.0, "lon": 1.0},
            RuleError,
            "actor",
        ),
        (
            COORD,
            "route.declared",
            {"route": "r", "name": "R", "sites": ["plant", "nowhere"]},
            RuleError,
            "body.sites.1",
        ),
    ],
)
def test_a_refused_command_writes_nothing(
    tmp_path: Path, actor: str, kind: str, body: dict[str, Any], error: type, field: str
) -> None:
    op, clock = opened(tmp_path)
    before = size_of(op)
    with pytest.raises(error) as err:
        op.submit(actor, kind, body, clock())
    assert err.value.field == field
    assert size_of(op) == before
    op.close()
    with Operation.open(tmp_path / "op") as again:
        assert again.log.size() == before


def test_the_same_event_submitted_twice_is_one_entry(tmp_path: Path) -> None:
    op, clock = opened(tmp_path)
    event = sign_event(
        operation="test-op",
        at=clock(),
        actor="russia/liaison",
        body=parse_body(
            "incident.reported",
            {
                "incident": "i1",
                "incident_kind": "delay",
                "occurred_at": "2022-04-29T09:00:00Z",
                "description": "held",
            },
        ),
        key=op.keys.actor("russia/liaison"),
    )
    first = op.submit_event(event)
    again = op.submit_event(event)
    assert (again.index, again.id, again.duplicate) == (first.index, first.id, True)
    assert size_of(op) == first.index + 1
    op.close()


def test_reopening_folds_the_same_state(tmp_path: Path) -> None:
    op, _ = opened(tmp_path)
    report = op.report().model_dump_json()
    op.close()
    with Operation.open(tmp_path / "op") as again:
        assert again.report().model_dump_json() == report


def test_every_party_cosigns_and_the_report_names_them(tmp_path: Path) -> None:
    op, _ = opened(tmp_path)
    for party in ("un-ocha", "icrc", "ukraine", "russia"):
        op.cosign(party, timestamp=1651300000)
    report = op.report()
    assert report.checkpoint is not None
    assert report.checkpoint.size == size_of(op)
    assert sorted(report.checkpoint.cosigners) == ["icrc", "russia", "ukraine", "un-ocha"]
    op.close()


def test_a_witness_refuses_a_rewritten_or_shrunk_history(tmp_path: Path) -> None:
    op, clock = opened(tmp_path)
    op.cosign("ukraine", timestamp=1651300000)
    cosigned = size_of(op)
    op.submit(
        COORD,
        "site.declared",
        {"site": "zap", "name": "Zap", "site_kind": "reception", "lat": 47.8, "lon": 35.1},
        clock(),
    )
    op.cosign("ukraine", timestamp=1651300100)  # an extension: fine
    op.close()
    # someone rewrites an entry that the witness already cosigned, hashes and all
    db = sqlite3.connect(tmp_path / "op" / "log" / "log.db")
    with db:
        db.execute("DELETE FROM checkpoints")
        db.execute(
            "DELETE FROM nodes WHERE idx >= 0 AND level >= 0 AND (idx << level) >= ?",
            (cosigned - 1,),
        )
        db.execute("DELETE FROM entries WHERE idx >= ?", (cosigned - 1,))
    db.close()
    with Operation.open(tmp_path / "op") as shrunk, pytest.raises(RuleError, match="shrank"):
        shrunk.cosign("ukraine")
