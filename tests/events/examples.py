"""One valid body for every event kind: the fixtures the event tests start from."""

from __future__ import annotations

from typing import Any

KEY = {"actor": "un-ocha/coordinator", "public_key": "A" * 43 + "="}

EXAMPLES: dict[str, dict[str, Any]] = {
    "operation.opened": {
        "operation": "azovstal-2022",
        "name": "Azovstal safe passage",
        "coordinator": "un-ocha",
        "coordinator_name": "UN OCHA",
        "key": KEY,
    },
    "operation.closed": {"reason": "all movements completed"},
    "party.joined": {"party": "icrc", "name": "ICRC", "role": "facilitator", "key": KEY},
    "actor.key.registered": {"key": KEY},
    "actor.key.revoked": {"actor": "icrc/registrar-2", "reason": "laptop lost"},
    "site.declared": {
        "site": "azovstal",
        "name": "Azovstal plant",
        "site_kind": "pickup",
        "lat": 47.1,
        "lon": 37.61,
    },
    "route.declared": {"route": "r1", "name": "West", "sites": ["azovstal", "zaporizhzhia"]},
    "pause.agreed": {
        "pause": "p1",
        "route": "r1",
        "starts": "2022-04-30T06:00:00Z",
        "ends": "2022-04-30T18:00:00Z",
    },
    "vehicle.registered": {
        "vehicle": "bus-01",
        "vehicle_kind": "bus",
        "seats": 30,
        "operated_by": "un-ocha",
    },
    "movement.notified": {
        "movement": "convoy-1",
        "route": "r1",
        "vehicles": ["bus-01"],
        "departs_at": "2022-04-30T07:00:00Z",
        "purpose": "evacuate civilians",
    },
    "movement.amended": {
        "movement": "convoy-1",
        "departs_at": "2022-04-30T08:00:00Z",
        "reason": "delay",
    },
    "movement.cancelled": {"movement": "convoy-1", "reason": "shelling"},
    "movement.acknowledged": {"movement": "convoy-1"},
    "movement.objected": {"movement": "convoy-1", "reason": "route not agreed"},
    "movement.departed": {"movement": "convoy-1"},
    "checkpoint.passed": {
        "movement": "convoy-1",
        "vehicle": "bus-01",
        "site": "manhush",
        "headcount": 30,
    },
    "headcount.attested": {
        "movement": "convoy-1",
        "vehicle": "bus-01",
        "site": "manhush",
        "headcount": 30,
    },
    "person.registered": {
        "person": "p-000001",
        "household": "h-000001",
        "site": "azovstal",
        "age_band": "18-59",
        "sex": "female",
        "destination": "zaporizhzhia",
        "consent": True,
    },
    "person.destination.changed": {"person": "p-000001", "destination": "bezimenne"},
    "person.boarded": {"person": "p-000001", "movement": "convoy-1", "vehicle": "bus-01"},
    "person.left-convoy": {"person": "p-000001", "movement": "convoy-1", "site": "bezimenne"},
    "person.arrived": {"person": "p-000001", "movement": "convoy-1", "site": "zaporizhzhia"},
    "person.record.erased": {"person": "P-000001", "reason": "retention-ended"},
    "incident.reported": {
        "incident": "i1",
        "incident_kind": "delay",
        "occurred_at": "2022-04-30T09:00:00Z",
        "description": "convoy held at Manhush for two hours",
    },
    "checkpoint.cosigned": {"size": 12, "root": "A" * 43 + "=", "cosignature": "— icrc abc="},
}
