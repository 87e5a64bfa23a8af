"""A real PostgreSQL server for the test run, and a fresh database for each test that asks.

The server starts once per session, when a test first needs it, from Debian's ``postgresql``
package (the highest version under ``/usr/lib/postgresql``): its data and socket in a new
temporary folder, listening on 127.0.0.1 only, on a free port, with ``fsync`` on; it is stopped
and deleted at the end of the session. PostgreSQL refuses to run as root, so as root (CI)
``initdb`` and ``pg_ctl`` run as the ``postgres`` user the package creates. No PostgreSQL is an
error that says to run ``make test`` (which installs it), never a skipped test.

Fixtures (``tests/conftest.py`` makes them available everywhere):

* ``postgres_server``: the server (session scope);
* ``postgres_url``: a new, empty database for this test, as a ``postgresql://`` URL;
* ``backend``: ``"sqlite"`` or ``"postgresql"``: a test that takes it runs once with each;
* ``database``: what ``Operation.create(..., database=)`` takes: ``None`` (SQLite files) or a
  new PostgreSQL database's URL, following ``backend``;
* ``make_database``: makes another database of the same backend (``None`` for SQLite).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

__all__ = [
    "PostgresServer",
    "backend",
    "database",
    "make_database",
    "postgres_server",
    "postgres_url",
]

INSTALL_HINT = (
    "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): "
    "run `make test`, which installs it"
)


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


POSTGRES_ROOT = Path("/usr/lib/postgresql")  # where Debian's packages put each version


def postgres_bin() -> Path:
    """The ``bin`` folder of the highest PostgreSQL version installed; fails the test if none."""
    found = sorted(
        POSTGRES_ROOT.glob("*/bin/postgres"),
        key=lambda p: _version(p.parent.parent.name),
    )
    if not found:
        pytest.fail(INSTALL_HINT, pytrace=False)
    return found[-1].parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One throwaway PostgreSQL cluster: ``start``, make databases, ``stop``."""

    def __init__(self, root: Path, bindir: Path, port: int) -> None:
        self.root = root
        self.bindir = bindir
        self.port = port
        self.data = root / "data"
        self._admin: psycopg.Connection[Any] | None = None

    # --- running it ---------------------------------------------------------------------------

    @staticmethod
    def _as_owner() -> dict[str, Any]:
        """How to run the server's programs: as ``postgres`` when we are root."""
        if os.geteuid() != 0:
            return {}
        try:
            import pwd  # noqa: PLC0415 - POSIX only, needed only as root

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail(f"running as root and there is no postgres user: {INSTALL_HINT}")
        return {"user": "postgres", "group": "postgres", "extra_groups": []}

    def _run(self, *args: str) -> None:
        done = subprocess.run(  # noqa: PLW1510 - the output is reported below
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            cwd=self.root,
            timeout=120,
            **self._as_owner(),
        )
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(
                f"{args[0]} failed ({done.returncode}): {done.stdout}{done.stderr}{tail}",
                pytrace=False,
            )

    @classmethod
    def start(cls) -> PostgresServer:
        bindir = postgres_bin()
        root = Path(tempfile.mkdtemp(prefix="safepassage-pg-"))
        owner = cls._as_owner()
        if owner:
            shutil.chown(root, owner["user"], owner["group"])
        server = cls(root, bindir, _free_port())
        server._run(
            "initdb", "-D", str(server.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(server.port),
            "unix_socket_directories": f"'{root}'",
            "fsync": "on",  # what users run: the durability tests rely on it
            "synchronous_commit": "on",
            "max_connections": "300",
            "shared_buffers": "64MB",
            "wal_level": "minimal",
            "max_wal_senders": "0",
            "max_wal_size": "1GB",
            "checkpoint_timeout": "30min",
            "log_min_messages": "warning",
        }
        with (server.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
        server._run(
            "pg_ctl", "-D", str(server.data), "-l", str(root / "server.log"), "-w", "-t", "60",
            "start",
        )  # fmt: skip
        return server

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
        with contextlib.suppress(BaseException):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    # --- databases ----------------------------------------------------------------------------

    def url(self, name: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def admin(self) -> psycopg.Connection[Any]:
        """A superuser connection to the ``postgres`` database, in autocommit mode."""
        if self._admin is None or self._admin.closed:
            self._admin = psycopg.connect(self.url(), autocommit=True)
        return self._admin

    def create_database(self, template: str | None = None) -> str:
        """A new database (empty, or a copy of ``template``); returns its name."""
        name = "t_" + uuid.uuid4().hex[:16]
        copy = f' TEMPLATE "{template}"' if template else ""
        self.admin().execute(f'CREATE DATABASE "{name}"{copy}')
        return name

    def drop_database(self, name: str) -> None:
        self.admin().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database(backend: str, request: pytest.FixtureRequest) -> str | None:
    if backend == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def make_database(
    backend: str, request: pytest.FixtureRequest
) -> Iterator[Callable[[], str | None]]:
    if backend == "sqlite":
        yield lambda: None
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    made: list[str] = []

    def make() -> str:
        made.append(server.create_database())
        return server.url(made[-1])

    yield make
    for name in made:
        server.drop_database(name)
