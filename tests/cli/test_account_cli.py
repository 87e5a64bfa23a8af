"""``safepassage account create|list|revoke`` and ``safepassage serve`` as a user runs them."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from safepassage.app.demo import run_demo
from safepassage.cli import main
from safepassage.server.run import free_port


@pytest.fixture(scope="module")
def template(demo_template: Path) -> Path:
    return demo_template  # the session's demo operation: copy it, never change it


@pytest.fixture
def op_dir(template: Path, tmp_path: Path) -> Path:
    directory = tmp_path / "azovstal"
    shutil.copytree(template, directory)
    return directory


def create(op_dir: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["account", "create", str(op_dir), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_create_prints_the_token_last_and_stores_only_its_hash(
    op_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = create(op_dir, capsys, "--role", "coordinator", "--name", "Amina (HQ)",
                          "--actor", "un-ocha/coordinator")  # fmt: skip
    assert code == 0
    token = out.splitlines()[-1]
    assert token.startswith("spt_")
    assert len(token) >= 4 + 43  # 256 bits, base64url
    assert token.encode() not in (op_dir / "accounts.db").read_bytes()
    assert main(["account", "list", str(op_dir)]) == 0
    listed = capsys.readouterr().out
    assert "Amina (HQ)" in listed
    assert "coordinator" in listed
    assert token not in listed


def test_two_accounts_never_share_a_token(op_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tokens = set()
    for n in range(5):
        args = ["--role", "registrar", "--party", "icrc", "--actor", "icrc/registrar-1"]
        code, out, _ = create(op_dir, capsys, *args, "--name", f"registrar {n}")
        assert code == 0
        tokens.add(out.splitlines()[-1])
    assert len(tokens) == 5


@pytest.mark.parametrize(
    ("args", "field", "reason"),
    [
        (["--role", "registrar", "--party", "russia", "--actor", "russia/liaison"], "--role",
         "a registrar account must belong to a party of role coordinator or facilitator"),
        (["--role", "party-liaison", "--party", "icrc", "--actor", "icrc/convoy-lead"], "--role",
         "a party-liaison account must belong to a party of role observer or party-to-conflict"),
        (["--role", "observer", "--party", "nobody"], "--party", "no party 'nobody'"),
        (["--role", "party-liaison", "--party", "russia", "--actor", "ukraine/liaison"],
         "--actor", "acts for 'ukraine', not 'russia'"),
        (["--role", "facilitator", "--party", "icrc"], "--actor",
         ("choose the actor it acts as (this server holds keys of: icrc/convoy-lead, "
          "icrc/registrar-1, icrc/registrar-2)")),
        (["--role", "registrar"], "--party", "which party does this account belong to?"),
        (["--role", "coordinator", "--actor", "un-ocha/nobody"], "--actor",
         "this server holds no key for un-ocha/nobody"),
        (["--role", "boss", "--party", "icrc"], "--role", "'boss' is not one of"),
    ],
)  # fmt: skip
def test_refused_accounts_name_the_option_and_write_nothing(
    op_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], field: str, reason: str
) -> None:
    code, out, err = create(op_dir, capsys, *args, "--name", "someone")
    assert code == 2
    assert field in err
    assert reason in err
    assert "spt_" not in out + err
    assert main(["account", "list", str(op_dir)]) == 0
    assert "someone" not in capsys.readouterr().out


def test_revoke(op_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    create(op_dir, capsys, "--role", "observer", "--party", "ukraine", "--actor",
           "ukraine/liaison", "--name", "journalist desk")  # fmt: skip
    main(["account", "list", str(op_dir)])
    account = next(w for w in capsys.readouterr().out.split() if w.startswith("acct-"))
    assert main(["account", "revoke", str(op_dir), account]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["account", "revoke", str(op_dir), account]) == 2
    assert "already revoked" in capsys.readouterr().err
    assert main(["account", "revoke", str(op_dir), "acct-nope"]) == 2
    assert "ACCOUNT: no account 'acct-nope'" in capsys.readouterr().err


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serve_answers_until_interrupted(op_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = create(op_dir, capsys, "--role", "party-liaison", "--party", "russia",
                       "--actor", "russia/liaison", "--name", "RU liaison")  # fmt: skip
    token = out.splitlines()[-1]
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "safepassage"),
            "serve",
            str(op_dir),
            "--port",
            str(port),
        ],
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = _get(base + "/openapi.json")
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()  # type: ignore[union-attr]
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert status == 200
        assert json.loads(body)["openapi"].startswith("3.1")
        assert _get(base + "/api/v1/me")[0] == 401
        status, body = _get(base + "/api/v1/me", token)
        assert (status, json.loads(body)["party"]) == (200, "russia")
        assert _get(base + "/api/v1/public/report")[0] == 200
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        server.stderr.close()  # type: ignore[union-attr]
    assert server.returncode == 0


def test_serve_refuses_a_database_that_may_lose_commits(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sep = "&" if "?" in postgres_url else "?"
    url = postgres_url + sep + "options=-csynchronous_commit%3Doff"
    run_demo(tmp_path / "op", vault=False, database=url).close()
    code = main(["serve", str(tmp_path / "op"), "--port", str(free_port())])
    err = capsys.readouterr().err
    assert code == 2
    assert "durability: refusing to serve" in err
    assert "synchronous_commit=off" in err
