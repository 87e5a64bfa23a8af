"""32 clients x 1,000 registrations against the running server (a real socket, uvicorn): every
confirmed registration is in the log exactly once, the log's indexes are contiguous, and the
report counts exactly the people registered."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from safepassage.app.demo import run_demo
from safepassage.app.operation import Operation
from safepassage.server.accounts import Role
from safepassage.server.app import create_app
from safepassage.server.run import serving
from safepassage.server.service import Service
from tests.server.load import register_many

CLIENTS = 32
EACH = int(os.environ.get("SAFEPASSAGE_LOAD_EACH", "1000"))


def test_32_clients_register_concurrently(
    demo_template: Path, tmp_path: Path, database: str | None
) -> None:
    directory = tmp_path / "azovstal"
    if database is None:
        shutil.copytree(demo_template, directory)
    else:
        run_demo(directory, database=database).close()
    with Service.open(directory) as service:
        before = service.op.log.size()
        registered_before = service.op.report().figures.registered
        _, token = service.accounts.create(
            service.state(),
            role=Role.registrar,
            party="icrc",
            name="load",
            actor="icrc/registrar-1",
        )
        with serving(create_app(service)) as url:
            results, _elapsed = register_many(url, token, CLIENTS, EACH)
        batches = service.writer.batches
    errors = [e for r in results for e in r.errors]
    assert errors == []
    answers = [a for r in results for a in r.answers]
    assert len(answers) == CLIENTS * EACH
    assert batches < CLIENTS * EACH  # requests shared commits
    indexes = sorted(a["index"] for a in answers)
    assert indexes == list(range(before, before + CLIENTS * EACH))  # once each, no gaps
    with Operation.open(directory) as op:
        assert op.log.size() == before + CLIENTS * EACH
        stored = list(op.log.store.iter_entries(before))
        assert [i for i, _ in stored] == indexes
        ids = {i: hashlib.sha256(raw).hexdigest() for i, raw in stored}
        assert all(ids[a["index"]] == a["id"] for a in answers)
        assert len({a["person"] for a in answers}) == CLIENTS * EACH
        assert op.report().figures.registered == registered_before + CLIENTS * EACH
        assert len(op.state.persons) == registered_before + CLIENTS * EACH
