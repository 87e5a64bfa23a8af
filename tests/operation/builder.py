"""Build an operation event by event, signing as its actors and checking every rule."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from safepassage.events.catalogue import parse_body
from safepassage.events.envelope import Event, sign_event
from safepassage.operation import rules
from safepassage.operation.state import OperationState

START = datetime(2022, 4, 30, 6, 0, tzinfo=UTC)


def public_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


class Builder:
    def __init__(self, operation: str = "azovstal-2022") -> None:
        self.operation = operation
        self.state = OperationState()
        self.keys: dict[str, Ed25519PrivateKey] = {}
        self.clock = START
        self.events: list[Event] = []

    def key(self, actor: str) -> dict[str, str]:
        seed = actor.encode().ljust(32, b".")[:32]  # deterministic keys: tests repeat exactly
        self.keys[actor] = Ed25519PrivateKey.from_private_bytes(seed)
        return {"actor": actor, "public_key": public_b64(self.keys[actor])}

    def sign(self, actor: str, kind: str, body: dict[str, Any]) -> Event:
        self.clock += timedelta(minutes=1)
        return sign_event(
            operation=self.operation,
            at=self.clock,
            actor=actor,
            body=parse_body(kind, body),
            key=self.keys[actor],
        )

    def emit(self, actor: str, kind: str, /, **body: Any) -> Event:
        event = self.sign(actor, kind, body)
        rules.check(self.state, event)
        self.state.apply(event)
        self.events.append(event)
        return event


def small_operation(*, policy_waits: bool = True) -> Builder:
    """Two parties to the conflict, one route of three sites, two small buses, a movement."""
    b = Builder()
    b.emit(
        "un-ocha/coordinator",
        "operation.opened",
        operation=b.operation,
        name="Test operation",
        coordinator="un-ocha",
        coordinator_name="UN OCHA",
        key=b.key("un-ocha/coordinator"),
        policy={"departure_waits_for_acknowledgements": policy_waits},
    )
    for party, role in [
        ("icrc", "facilitator"),
        ("ukraine", "party-to-conflict"),
        ("russia", "party-to-conflict"),
        ("osce", "observer"),
    ]:
        b.emit(
            "un-ocha/coordinator",
            "party.joined",
            party=party,
            name=party.upper(),
            role=role,
            key=b.key(f"{party}/liaison"),
        )
    for site, kind, ctrl in [
        ("plant", "pickup", None),
        ("manhush", "checkpoint", "russia"),
        ("bezimenne", "reception", "russia"),
        ("zap", "reception", "ukraine"),
    ]:
        b.emit(
            "un-ocha/coordinator",
            "site.declared",
            site=site,
            name=site.title(),
            site_kind=kind,
            lat=47.0,
            lon=37.0,
            controlled_by=ctrl,
        )
    b.emit(
        "un-ocha/coordinator",
        "route.declared",
        route="west",
        name="West",
        sites=["plant", "bezimenne", "manhush", "zap"],
    )
    for v, seats in [("bus-1", 3), ("bus-2", 2)]:
        b.emit(
            "un-ocha/coordinator",
            "vehicle.registered",
            vehicle=v,
            vehicle_kind="bus",
            seats=seats,
            stretchers=1,
            operated_by="un-ocha",
        )
    b.emit(
        "un-ocha/coordinator",
        "movement.notified",
        movement="m1",
        route="west",
        vehicles=["bus-1", "bus-2"],
        departs_at="2022-04-30T08:00:00Z",
        purpose="evacuation",
    )
    return b
