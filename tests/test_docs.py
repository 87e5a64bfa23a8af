"""Docs that cannot drift: docs/cli.md is what the generator writes, and the README's tour runs.

docs/cli.md is generated from each command's ``--help`` by scripts/gen_cli_docs.py; every
command the app registers must be in it and in the README's tour, and every line of that tour
must run as written, in a scratch directory, through ``safepassage.cli.main``.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import typer.main

from safepassage.cli import app, main
from safepassage.ledger.note import Verifier

ROOT = Path(__file__).resolve().parent.parent
CLI_MD = ROOT / "docs" / "cli.md"
README = ROOT / "README.md"
GENERATOR = ROOT / "scripts" / "gen_cli_docs.py"
REGENERATE = "run `python scripts/gen_cli_docs.py` (with .venv/bin/python) and commit docs/cli.md"


def app_commands() -> set[str]:
    """Every command a user can run, as words after ``safepassage``: {"log init", "verify", …}."""
    found: set[str] = set()

    def walk(command: object, path: list[str]) -> None:
        subs = getattr(command, "commands", {})
        if not subs:
            found.add(" ".join(path))
        for name, sub in subs.items():
            if not getattr(sub, "hidden", False):
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def readme_tour() -> list[str]:
    """The lines of the ```sh block under the README's "A tour of the CLI" heading."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## A tour of the CLI\n(.*?)(?=^## )", text, re.DOTALL | re.MULTILINE)
    assert match, "README.md has no '## A tour of the CLI' section"
    block = re.search(r"^```sh\n(.*?)^```", match.group(1), re.DOTALL | re.MULTILINE)
    assert block, "the README's tour has no ```sh block"
    lines = [line for line in block.group(1).splitlines() if line.strip()]
    assert lines, "the README's tour is empty"
    return lines


def command_of(argv: list[str]) -> str:
    """The command a tour line runs: the longest run of words after ``safepassage`` that is one."""
    assert argv[0] == "safepassage", argv
    commands = app_commands()
    for end in range(len(argv), 1, -1):
        if " ".join(argv[1:end]) in commands:
            return " ".join(argv[1:end])
    pytest.fail(f"the README's tour runs {shlex.join(argv)!r}, which is no command of the app")


# --- (a) docs/cli.md is what the generator writes ----------------------------------------------


def test_cli_reference_is_what_the_generator_writes() -> None:
    # A fresh process: Typer reads part of its terminal settings when it is imported.
    done = subprocess.run(
        [sys.executable, GENERATOR, "--stdout"],
        cwd=ROOT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    generated = done.stdout.decode("utf-8")
    assert CLI_MD.exists(), f"docs/cli.md is missing: {REGENERATE}"
    committed = CLI_MD.read_text(encoding="utf-8")
    if generated != committed:
        diff = difflib.unified_diff(
            committed.splitlines(), generated.splitlines(), "docs/cli.md", "generated", lineterm=""
        )
        pytest.fail(f"docs/cli.md is out of date: {REGENERATE}\n" + "\n".join(list(diff)[:60]))


# --- (b) every command is documented and toured -------------------------------------------------


def test_the_app_has_the_commands_the_issue_asks_for() -> None:
    # Guards the walk below: a walk that found nothing would make the next tests pass vacuously.
    assert app_commands() >= {
        "log init",
        "log vkey",
        "log append",
        "log checkpoint",
        "log prove",
        "log verify-proof",
        "verify",
    }


@pytest.mark.parametrize("command", sorted(app_commands()))
def test_every_command_is_in_the_cli_reference(command: str) -> None:
    text = CLI_MD.read_text(encoding="utf-8")
    assert f"\n## `safepassage {command}`\n" in text, f"{command} is not in docs/cli.md"
    assert re.search(rf"^ ?Usage: safepassage {re.escape(command)} ", text, re.MULTILINE), (
        f"docs/cli.md has no help for {command}: {REGENERATE}"
    )


def test_every_command_is_in_the_readme_tour() -> None:
    toured = {command_of(shlex.split(line, comments=True)) for line in readme_tour()}
    missing = app_commands() - toured
    assert not missing, f"the README's tour shows no {sorted(missing)}"


# --- (c) the README's tour runs -----------------------------------------------------------------


class Tour:
    """Runs the README's tour lines in order, standing in for the reader where it must.

    Substituted, as a reader would: KEY is the verifier key the tour's ``log init`` printed;
    the entry files the tour appends are written first; and the proof file its
    ``log verify-proof`` reads is what its ``log prove`` printed (or where a ``> FILE`` on the
    prove line sends it); REF is the reference its ``person register`` printed.
    """

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.key: str | None = None
        self.proof: str | None = None
        self.ref: str | None = None
        self.account: str | None = None
        self.ran: list[str] = []

    def prepare(self, line: str, argv: list[str], command: str) -> list[str]:
        if "KEY" in argv:
            assert self.key is not None, f"{line!r} needs KEY before 'log init' printed one"
            argv = [self.key if word == "KEY" else word for word in argv]
        if "ACCOUNT" in argv:
            assert self.account is not None, f"{line!r} needs ACCOUNT before 'account create'"
            argv = [self.account if word == "ACCOUNT" else word for word in argv]
        if "REF" in argv:
            assert self.ref is not None, f"{line!r} needs REF before 'person register' printed one"
            argv = [self.ref if word == "REF" else word for word in argv]
        if command == "import registrations" and not Path(argv[4]).exists():
            Path(argv[4]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / argv[4], argv[4])  # the example file the repository ships
        if command == "log append":
            for name in argv[4:]:
                if name != "-" and not Path(name).exists():
                    Path(name).write_text(f'{{"kind":"tour","file":"{name}"}}\n', encoding="utf-8")
        if command == "log verify-proof" and not Path(argv[3]).exists():
            assert self.proof is not None, f"{line!r} reads a proof no earlier line printed"
            Path(argv[3]).write_text(self.proof, encoding="utf-8")
        return argv

    def run(self, line: str) -> None:
        argv = shlex.split(line, comments=True)
        redirect = None
        if len(argv) > 2 and argv[-2] == ">":
            argv, redirect = argv[:-2], argv[-1]
        command = command_of(argv)
        argv = self.prepare(line, argv, command)
        if command == "serve":
            self.serve(argv)
            self.ran.append(command)
            return
        self.capsys.readouterr()
        code = main(argv[1:])
        out, err = self.capsys.readouterr()
        assert code == 0, f"README tour line {line!r} exited {code}: {err.strip()}"
        assert err == "", f"README tour line {line!r} wrote to stderr: {err}"
        if redirect:
            Path(redirect).write_text(out, encoding="utf-8")
        self.check(command, out)
        self.ran.append(command)

    def check(self, command: str, out: str) -> None:
        if command == "log init":
            self.key = out.strip()
            Verifier.from_key_string(self.key)
        elif command == "log vkey":
            assert out.strip() == self.key
        elif command == "log prove":
            self.proof = out
        elif command == "person register":
            self.ref = out.strip().splitlines()[-1]
        elif command == "account create":
            self.account = out.split()[2].rstrip(":")
            assert out.strip().splitlines()[-1].startswith("spt_")
        elif command in {"log verify-proof", "verify"}:
            assert out.startswith("ok: "), out

    @staticmethod
    def serve(argv: list[str]) -> None:
        """``serve`` runs until interrupted: start it, see it answer, interrupt it."""
        port = argv[argv.index("--port") + 1]
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "safepassage"), *argv[1:]],
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    url = f"http://127.0.0.1:{port}/api/v1/public/report"
                    with urllib.request.urlopen(url, timeout=5) as response:
                        assert response.status == 200
                    break
                except OSError:
                    assert server.poll() is None, "the tour's serve line exited"
                    assert time.monotonic() < deadline, "the tour's serve line never answered"
                    time.sleep(0.1)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
        assert server.returncode == 0


def test_the_readme_tour_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    tour = Tour(capsys)
    for line in readme_tour():
        tour.run(line)
    assert set(tour.ran) == app_commands()
