"""The test server's own rules: the highest version wins, and none installed is a failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import postgres


def test_the_highest_installed_version_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for version in ("9.6", "15", "13"):
        (tmp_path / version / "bin").mkdir(parents=True)
        (tmp_path / version / "bin" / "postgres").touch()
    monkeypatch.setattr(postgres, "POSTGRES_ROOT", tmp_path)
    assert postgres.postgres_bin() == tmp_path / "15" / "bin"


def test_no_postgresql_fails_with_one_line_saying_to_run_make_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "POSTGRES_ROOT", tmp_path)
    with pytest.raises(pytest.fail.Exception) as failed:  # a failure, never a skip
        postgres.postgres_bin()
    assert "\n" not in str(failed.value)
    assert "run `make test`" in str(failed.value)
