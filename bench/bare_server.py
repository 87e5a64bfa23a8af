"""The peer of the server benchmark: a bare FastAPI endpoint that inserts the same registration
row, with no log, no vault, no signature, no rules, no account: one durable INSERT per request.

    python bench/bare_server.py --sqlite PATH --port P
    python bench/bare_server.py --db postgresql://… --port P

Same request model as ``POST /api/v1/registrations`` (``safepassage.server.models``), same
uvicorn, same durability (SQLite WAL with synchronous=FULL; PostgreSQL's own commit).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from safepassage.server.models import RegistrationIn

COLUMNS = (
    "ref", "household", "site", "age_band", "sex", "destination", "needs", "given_name",
    "family_name", "birth_date", "document_number", "phone", "notes", "submission_id",
    "created_at",
)  # fmt: skip
TABLE = (
    f"CREATE TABLE IF NOT EXISTS registrations ({', '.join(c + ' text' for c in COLUMNS)}, "
    "UNIQUE (submission_id))"
)
INSERT_QMARK = f"INSERT INTO registrations VALUES ({', '.join('?' * len(COLUMNS))})"
INSERT_PCT = f"INSERT INTO registrations VALUES ({', '.join(['%s'] * len(COLUMNS))})"


class Out(BaseModel):
    person: str


def row(given: RegistrationIn) -> tuple[Any, ...]:
    return (
        "P-" + secrets.token_hex(6), given.household, given.site, given.age_band, given.sex,
        given.destination, json.dumps(given.needs), given.given_name, given.family_name,
        given.birth_date, given.document_number, given.phone, given.notes, given.submission_id,
        datetime.now(UTC).isoformat(),
    )  # fmt: skip


def sqlite_app(path: str) -> FastAPI:
    local = threading.local()

    def connection() -> sqlite3.Connection:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = sqlite3.connect(path, isolation_level=None, timeout=60,
                                                check_same_thread=False)  # fmt: skip
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        return conn

    connection().execute(TABLE)
    app = FastAPI()

    @app.post("/api/v1/registrations", status_code=201)
    def register(given: RegistrationIn) -> Out:
        values = row(given)
        connection().execute(INSERT_QMARK, values)  # autocommit: one durable commit
        return Out(person=values[0])

    return app


def postgres_app(url: str) -> FastAPI:
    import psycopg  # noqa: PLC0415

    local = threading.local()

    def connection() -> psycopg.Connection[Any]:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = psycopg.connect(url, autocommit=True)
        return conn

    connection().execute(TABLE)
    app = FastAPI()

    @app.post("/api/v1/registrations", status_code=201)
    def register(given: RegistrationIn) -> Out:
        values = row(given)
        connection().execute(INSERT_PCT, values)
        return Out(person=values[0])

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--sqlite")
    where.add_argument("--db")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = sqlite_app(args.sqlite) if args.sqlite else postgres_app(args.db)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
