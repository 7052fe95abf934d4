"""`ledger-gw` imports a command's module only when that command runs: the script is the
main module of every process a verification starts on its pool, and each would import
the server and the stores before its first check."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from ledger_gw.cli import COMMANDS, cli

HEAVY = ("sqlalchemy", "flask", "gunicorn", "ledger_gw.bootstrap", "ledger_gw.cli.log")


def test_importing_the_command_line_imports_no_command() -> None:
    probe = f"import sys, ledger_gw.cli; print([m for m in {HEAVY!r} if m in sys.modules])"
    found = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    assert found.strip() == "[]"


def test_each_listed_command_is_found_under_its_name() -> None:
    ctx = click.Context(cli)
    names = cli.list_commands(ctx)
    assert names == sorted(COMMANDS)
    for name in names:
        command = cli.get_command(ctx, name)
        assert command is not None
        assert command.name == name


def test_help_lists_every_command_and_an_unknown_one_is_refused() -> None:
    runner = CliRunner()
    listed = runner.invoke(cli, ["--help"])
    assert listed.exit_code == 0
    for name in COMMANDS:
        assert f"\n  {name} " in listed.output
    unknown = runner.invoke(cli, ["verfy"])
    assert unknown.exit_code == 2
    assert "No such command 'verfy'. Did you mean 'verify'?" in unknown.output
