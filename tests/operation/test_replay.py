"""Replaying with every check catches what hashes alone cannot: an event no valid actor made."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from safepassage.app.demo import run_demo
from safepassage.cli import main
from safepassage.errors import VerificationError
from safepassage.events.catalogue import parse_body
from safepassage.events.envelope import sign_event
from safepassage.ledger.log import Log
from safepassage.operation.replay import replay_checked
from tests.operation.builder import small_operation


def test_a_valid_history_replays_to_the_same_state() -> None:
    b = small_operation()
    state = replay_checked((i, e.raw) for i, e in enumerate(b.events))
    assert state == b.state


def test_an_event_signed_by_an_unregistered_key_is_named() -> None:
    b = small_operation()
    forged = sign_event(
        operation=b.operation,
        at=datetime(2022, 4, 30, 12, tzinfo=UTC),
        actor="russia/liaison",
        body=parse_body("movement.acknowledged", {"movement": "m1"}),
        key=Ed25519PrivateKey.generate(),
    )
    entries = [(i, e.raw) for i, e in enumerate(b.events)] + [(len(b.events), forged.raw)]
    with pytest.raises(VerificationError) as err:
        replay_checked(entries)
    assert err.value.index == len(b.events)
    assert "not a valid event" in str(err.value)


def test_verify_names_an_event_the_log_operator_slipped_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "op"
    run_demo(directory).close()
    with Log.open(directory / "log") as log:
        size = log.size()
        # The operator holds the log's key: the bytes, the hashes and a fresh checkpoint are
        # all consistent; only the event itself is not one any registered actor made.
        forged = sign_event(
            operation="azovstal-2022",
            at=datetime(2022, 5, 3, 20, tzinfo=UTC),
            actor="russia/liaison",
            body=parse_body(
                "incident.reported",
                {
                    "incident": "forged",
                    "incident_kind": "shelling",
                    "occurred_at": "2022-05-03T19:00:00Z",
                    "description": "never happened",
                },
            ),
            key=Ed25519PrivateKey.generate(),
        )
        log.append(forged.raw)
        log.checkpoint()
    capsys.readouterr()
    assert main(["verify", str(directory)]) == 1
    err = capsys.readouterr().err
    assert f"entry {size} is not a valid event" in err
    assert "signature" in err
