"""The demo operation as the server tests use it: built once per session, copied per test."""

from __future__ import annotations

import shutil
from pathlib import Path

from safepassage.app.demo import DEMO_VAULT_KEY
from safepassage.server.service import Service

__all__ = ["unlocked_copy"]


def unlocked_copy(template: Path, directory: Path) -> Service:
    """A copy of the operation at ``template`` in ``directory``, opened for serving with its
    vault unlocked (the demo's key file), as ``safepassage serve --key-file`` opens it."""
    shutil.copytree(template, directory)
    service = Service.open(directory)
    try:
        assert service.vault is not None
        service.data_key = service.vault.unlock(key_file=(directory / DEMO_VAULT_KEY).read_bytes())
    except BaseException:
        service.close()
        raise
    return service
