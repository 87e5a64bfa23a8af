"""The demo operation, plus two registrations made for receipts: one cosigned by every party,
one cosigned by the coordinator alone. The ``demo`` fixture is module-scoped (see conftest)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from safepassage.app.demo import run_demo
from safepassage.app.operation import Operation
from safepassage.app.receipts import public_keys
from safepassage.receipts import PublicKeys
from safepassage.vault.crypto import commitment

SALT = bytes(range(16))  # made up: the vault would keep it sealed with the record
RECORD: dict[str, Any] = {
    "given_name": "Olena",
    "family_name": "Example",
    "birth_date": "1950-01-01",
    "documents": [{"kind": "passport", "number": "XX000000"}],
}
PARTIES = ("un-ocha", "icrc", "ukraine", "russia")


@dataclass
class Demo:
    directory: Path
    op: Operation
    keys: PublicKeys
    committed: str
    """Registered with a commitment to RECORD under SALT; all four parties cosigned after."""
    uncommitted: str
    """Registered without a commitment, then cosigned by all four parties."""
    uncosigned: str
    """Registered last; only the coordinator cosigned since."""
    arrived: str
    left: str
    cosigned_size: int


def _register(op: Operation, ref: str, at: datetime, commit: str | None) -> None:
    body = {
        "person": ref,
        "household": "h-receipts01",
        "site": "azovstal",
        "age_band": "60+",
        "sex": "female",
        "destination": "zaporizhzhia",
        "consent": True,
        "commitment": commit,
    }
    op.submit("icrc/registrar-1", "person.registered", body, at)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    directory = tmp_path_factory.mktemp("receipts") / "azovstal"
    op = run_demo(directory)
    try:
        committed, uncosigned = "p-receipt-cosigned", "p-receipt-uncosigned"
        at = datetime(2022, 5, 3, 12, 0, tzinfo=UTC)
        _register(op, committed, at, commitment(SALT, {"ref": committed, **RECORD}))
        _register(op, "p-receipt-uncommitted", at.replace(minute=1), None)
        stamp = int(at.timestamp())
        for k, party in enumerate(PARTIES):
            op.cosign(party, timestamp=stamp + k + 1)
        cosigned_size = op.log.size()
        _register(op, uncosigned, at.replace(minute=5), None)
        op.cosign("un-ocha", timestamp=stamp + 600)
        persons = op.state.persons.values()
        yield Demo(
            directory=directory,
            op=op,
            keys=PublicKeys.from_json(public_keys(op)),
            committed=committed,
            uncommitted="p-receipt-uncommitted",
            uncosigned=uncosigned,
            arrived=next(p.ref for p in persons if p.status == "arrived"),
            left=next(p.ref for p in persons if p.status == "left-convoy"),
            cosigned_size=cosigned_size,
        )
    finally:
        op.close()


def record_of(ref: str) -> dict[str, Any]:
    """The committed person's record as the vault would hold it (the reference included)."""
    return {"ref": ref, **RECORD}
