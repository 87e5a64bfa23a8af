"""The demo: replay the Azovstal-like scenario through the application layer, no back door.

Every event is submitted exactly as a user's command would be (``Operation.submit``): signed
as its actor, checked against the rules, appended, folded. People are registered as a
registrar would (``app.persons.register_people``): made-up names and birth dates sealed in the
operation's vault, only references and commitments in the log. Then each party's witness
cosigns the final checkpoint. The keys of every actor and witness, and the vault's key file
(``DIR/keys/vault.key``), live in ``DIR/keys``, marked demo-only: in a real operation each party
holds its own, and the coordinator keeps the vault's key apart from the operation's folder.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from safepassage.app.keys import public_key_b64
from safepassage.app.operation import Operation
from safepassage.app.persons import NewPerson, register_people
from safepassage.errors import StoreError
from safepassage.scenario.plan import commands, load_scenario
from safepassage.vault.store import PersonalData, Vault

__all__ = ["DEMO_VAULT_KEY", "run_demo"]

DEMO_VAULT_KEY = "keys/vault.key"
"""The demo vault's key file, relative to the demo's folder (demo-only, like every key there)."""

_GIVEN = {
    "female": ["Olena", "Nadiia", "Iryna", "Tetiana", "Oksana", "Daria", "Halyna", "Sofiia"],
    "male": ["Mykola", "Ivan", "Petro", "Andrii", "Serhii", "Oleksandr", "Yurii", "Taras"],
}
_FAMILY = ["Kovalenko", "Melnyk", "Shevchenko", "Bondarenko", "Tkachenko", "Kravchenko", "Boiko"]
_YEARS = {"0-4": (0, 4), "5-11": (5, 11), "12-17": (12, 17), "18-59": (18, 59), "60+": (60, 90)}

Progress = Callable[[int, int], None]


def run_demo(  # noqa: PLR0913 - each a keyword with a default
    directory: Path,
    *,
    discrepancy: bool = False,
    vault: bool = True,
    seed: int = 2022,
    progress: Progress | None = None,
    database: str | None = None,
) -> Operation:
    """Build the demo operation in ``directory`` (which must not hold one) and return it open."""
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise StoreError("already exists and is not empty; choose a new folder", field="DIR")
    scenario = load_scenario()
    op = Operation.create(directory, scenario.operation, database)
    try:
        op.keys.mark_demo()
        made: dict[str, str] = {}

        def public_key(actor: str) -> str:
            if actor not in made:
                made[actor] = public_key_b64(op.keys.new_actor(actor))
            return made[actor]

        plan = commands(scenario, public_key, seed=seed, discrepancy=discrepancy)
        people_vault = _demo_vault(directory, scenario.operation) if vault else None
        names = random.Random(seed)  # noqa: S311 - made-up names, reproducible, not secrets
        witnesses: list[str] = []
        for n, cmd in enumerate(plan):
            body = _with_witness(op, cmd.kind, dict(cmd.body), witnesses)
            if cmd.kind == "person.registered" and people_vault is not None:
                _register(op, people_vault, actor=cmd.actor, body=body, at=cmd.at, names=names)
            else:
                op.submit(cmd.actor, cmd.kind, body, cmd.at)
            if progress is not None:
                progress(n + 1, len(plan))
        last = int(plan[-1].at.timestamp())
        for k, party in enumerate(witnesses):
            op.cosign(party, timestamp=last + 60 * (k + 1))
        if people_vault is not None:
            people_vault.close()
    except BaseException:
        op.close()
        raise
    return op


def _with_witness(
    op: Operation, kind: str, body: dict[str, Any], witnesses: list[str]
) -> dict[str, Any]:
    """A party joins (or opens the operation) with a new witness key for cosigning."""
    if kind in ("operation.opened", "party.joined"):
        party = body["coordinator"] if kind == "operation.opened" else body["party"]
        body["witness"] = op.keys.new_witness(party).verifier().key_string()
        witnesses.append(party)
    return body


def _demo_vault(directory: Path, operation: str) -> Vault:
    """The demo's vault, locked by a key file kept (demo only) with the other keys."""
    key_file = directory / DEMO_VAULT_KEY
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # its owner's only
    with os.fdopen(fd, "wb") as f:
        f.write(os.urandom(32))
    return Vault.create(directory, operation, key_file=key_file.read_bytes())


def _register(  # noqa: PLR0913 - one planned command, its vault and made-up names
    op: Operation,
    vault: Vault,
    *,
    actor: str,
    body: dict[str, Any],
    at: datetime,
    names: random.Random,
) -> None:
    """Register a planned person through the vault, with made-up personal data."""
    sex = body["sex"] if body["sex"] in _GIVEN else names.choice(["female", "male"])
    low, high = _YEARS[body["age_band"]]
    years = names.randint(low, high)
    born = at.date() - timedelta(days=int(years * 365.25) + names.randint(1, 300))
    data = PersonalData(
        names.choice(_GIVEN[sex]),
        names.choice(_FAMILY),
        born.isoformat(),
        f"DEMO-{names.randrange(10**8):08d}",
        None,
    )
    person = NewPerson(
        household=body["household"],
        site=body["site"],
        age_band=body["age_band"],
        sex=body["sex"],
        destination=body["destination"],
        data=data,
        needs=tuple(body.get("needs") or ()),
        ref=body["person"],
    )
    [answer] = register_people(op, vault, [person], actor=actor, at=at)
    if isinstance(answer, Exception):
        raise answer
