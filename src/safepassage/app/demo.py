"""The demo: replay the Azovstal-like scenario through the application layer, no back door.

Every event is submitted exactly as a user's command would be (``Operation.submit``): signed
as its actor, checked against the rules, appended, folded. Then each party's witness cosigns
the final checkpoint. The keys of every actor and witness live in ``DIR/keys``, marked
demo-only: in a real operation each party holds its own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from safepassage.app.keys import public_key_b64
from safepassage.app.operation import Operation
from safepassage.errors import StoreError
from safepassage.scenario.plan import commands, load_scenario

__all__ = ["run_demo"]

Progress = Callable[[int, int], None]


def run_demo(
    directory: Path,
    *,
    discrepancy: bool = False,
    seed: int = 2022,
    progress: Progress | None = None,
) -> Operation:
    """Build the demo operation in ``directory`` (which must not hold one) and return it open."""
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise StoreError("already exists and is not empty; choose a new folder", field="DIR")
    scenario = load_scenario()
    op = Operation.create(directory, scenario.operation)
    try:
        op.keys.mark_demo()
        made: dict[str, str] = {}

        def public_key(actor: str) -> str:
            if actor not in made:
                made[actor] = public_key_b64(op.keys.new_actor(actor))
            return made[actor]

        plan = commands(scenario, public_key, seed=seed, discrepancy=discrepancy)
        witnesses: list[str] = []
        for n, cmd in enumerate(plan):
            body = dict(cmd.body)
            if cmd.kind in ("operation.opened", "party.joined"):
                party = body["coordinator"] if cmd.kind == "operation.opened" else body["party"]
                body["witness"] = op.keys.new_witness(party).verifier().key_string()
                witnesses.append(party)
            op.submit(cmd.actor, cmd.kind, body, cmd.at)
            if progress is not None:
                progress(n + 1, len(plan))
        last = int(plan[-1].at.timestamp())
        for k, party in enumerate(witnesses):
            op.cosign(party, timestamp=last + 60 * (k + 1))
    except BaseException:
        op.close()
        raise
    return op
