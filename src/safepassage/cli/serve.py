"""``safepassage serve`` and ``safepassage account``: the server and who may use it."""

from __future__ import annotations

import gc
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from safepassage.app.operation import Operation
from safepassage.cli.person import KeyFile, PassphraseFile, unlock
from safepassage.errors import RuleError, StoreError
from safepassage.ledger.durability import unsafe
from safepassage.server.accounts import Accounts, Role, check_role

__all__ = ["account_app", "serve"]

DirArg = typer.Argument(..., metavar="DIR", help="The operation's folder.", show_default=False)
DbOption = typer.Option(
    None,
    "--db",
    help="The operation's database URL (postgresql://…); default: SQLite files in DIR.",
)


def serve(
    directory: Path = DirArg,
    database: str | None = DbOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
    vault_key_file: Path | None = KeyFile,
    vault_passphrase_file: Path | None = PassphraseFile,
    public_url: str | None = typer.Option(
        None,
        "--public-url",
        help="The address the public reaches this server at (https://…), named in the PDF "
        "sitrep's commands (default: the word SERVER).",
    ),
    unlock_vault: bool = typer.Option(
        False,  # noqa: FBT003 - Typer takes the default positionally
        "--unlock-vault",
        help="Unlock the vault at start so that staff can open and erase records "
        "(registering needs no unlock).",
    ),
) -> None:
    """Serve the operation's API (OpenAPI at /openapi.json) until interrupted.

    Refuses to start on a database that could lose recorded events (SQLite synchronous below
    FULL, PostgreSQL fsync or synchronous_commit off). There is no default account: make them
    with `safepassage account create`."""
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from safepassage.server.app import create_app  # noqa: PLC0415
    from safepassage.server.service import Service  # noqa: PLC0415

    service = Service.open(directory, database=database)
    try:
        unsafe_settings = unsafe(service.op.log.store)
        if unsafe_settings:
            raise StoreError("refusing to serve: " + "; ".join(unsafe_settings), field="durability")
        if unlock_vault or vault_key_file is not None or vault_passphrase_file is not None:
            if service.vault is None:
                raise RuleError("this operation has no vault to unlock", field="--unlock-vault")
            service.data_key = unlock(service.vault, vault_passphrase_file, vault_key_file)
        if public_url is not None and not public_url.startswith(("https://", "http://")):
            raise StoreError("must start with https:// or http://", field="--public-url")
        app = create_app(service, public_url=public_url)
        gc.freeze()  # the folded state is long-lived: collections need not walk it again
        base = f"http://{host}:{port}"
        typer.echo(f"serving {service.op.state.operation} on {base}/ : staff pages {base}/login, "
                   f"public report {base}/public, API docs {base}/docs", err=True)  # fmt: skip
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        service.close()


account_app = typer.Typer(help="Who may use the server: accounts and their tokens.",
                          no_args_is_help=True)  # fmt: skip


@account_app.command("create")
def create(
    directory: Path = DirArg,
    role: Role = typer.Option(..., "--role", help="What the account may do."),
    party: str | None = typer.Option(
        None, "--party", help="The party it belongs to (default for a coordinator: theirs)."
    ),
    name: str = typer.Option(..., "--name", help="Who holds it (shown in the account list)."),
    actor: str | None = typer.Option(
        None,
        "--actor",
        help="The actor (party/name) whose registered key it acts with (default: the party's "
        "only actor whose key this server holds).",
    ),
    database: str | None = DbOption,
) -> None:
    """Make an account; its token is printed once, as the last line, and never stored."""
    with Operation.open(directory) as op:
        state = op.state
        if party is None:
            if role is not Role.coordinator or state.coordinator is None:
                raise RuleError("which party does this account belong to?", field="--party")
            party = state.coordinator
        check_role(state, role=role, party=party)
        if actor is None:
            held = [
                a.id
                for a in state.actors.values()
                if a.party == party and not a.revoked and op.keys.holds(a.id)
            ]
            if len(held) != 1:
                choices = ", ".join(sorted(held)) or "none"
                raise RuleError(
                    f"choose the actor it acts as (this server holds keys of: {choices})",
                    field="--actor",
                )
            actor = held[0]
        elif not op.keys.holds(actor):
            raise RuleError(f"this server holds no key for {actor}", field="--actor")
        with Accounts.open(directory, database) as accounts:
            account, token = accounts.create(state, role=role, party=party, name=name, actor=actor)
    typer.echo(f"created account {account.id}: {name}, {role.value} of {party}, acting as {actor}")
    typer.echo("its token (shown once; send it as `Authorization: Bearer <token>`):")
    typer.echo(token)


@account_app.command("list")
def list_accounts(directory: Path = DirArg, database: str | None = DbOption) -> None:
    """The accounts, live and revoked (never their tokens)."""
    with Accounts.open(directory, database) as accounts:
        rows = accounts.list()
    table = Table("id", "name", "role", "party", "actor", "created", "revoked")
    for a in rows:
        table.add_row(a.id, a.name, a.role.value, a.party, a.actor,
                      a.created_at.strftime("%Y-%m-%d %H:%M"),
                      a.revoked_at.strftime("%Y-%m-%d %H:%M") if a.revoked_at else "")  # fmt: skip
    Console(highlight=False, width=200).print(table)


@account_app.command("revoke")
def revoke(
    directory: Path = DirArg,
    account_id: str = typer.Argument(..., metavar="ACCOUNT", help="The account's id."),
    database: str | None = DbOption,
) -> None:
    """Revoke an account: its token is refused from the next request on."""
    with Accounts.open(directory, database) as accounts:
        account = accounts.revoke(account_id)
    typer.echo(f"revoked {account.id} ({account.name})")
