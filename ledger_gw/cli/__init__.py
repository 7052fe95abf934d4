"""`ledger-gw`: set up a consortium, run the demo, verify, prove, checkpoint, audit, serve.

Expected errors reach the user once, as one line, with exit status 1.
"""

from __future__ import annotations

import importlib
import sys

import click
from rich.console import Console
from rich.markup import escape

from ledger_gw.errors import LedgerError

errors = Console(stderr=True, emoji=False)  # a message may quote anything typed


# Each command by the module that defines it, imported when it is run: a process that
# verifies on a pool of processes has each of them import its main module, here the
# `ledger-gw` script, and a command's own imports (the server, the stores) would cost
# every worker more than half a second before its first check.
COMMANDS = {
    "init": "consortium",
    "consortium": "consortium",
    "demo": "consortium",
    "member": "members",
    "key": "members",
    "pseudonym-key": "members",
    "verify": "log",
    "prove": "log",
    "checkpoint": "log",
    "witness": "witness",
    "log": "node",
    "token": "gateway",
    "serve": "gateway",
    "audit": "audit",
    "report": "audit",
    "credential": "credential",
}


class Commands(click.Group):
    """The commands of `COMMANDS`, each imported from its module when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        command = getattr(
            importlib.import_module(f"ledger_gw.cli.{module}"), cmd_name.replace("-", "_")
        )
        assert isinstance(command, click.Command)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:  # "did you mean", from every name
            raise click.exceptions.NoSuchCommand(
                exc.command_name, possibilities=COMMANDS, ctx=ctx
            ) from None


@click.group(cls=Commands)
@click.version_option(package_name="referral-ledger", prog_name="ledger-gw")
def cli() -> None:
    """Referral and entitlement audit ledger: personal data stays with the agency."""


def main() -> None:
    from ledger_gw.bootstrap import storage_faults

    try:
        with storage_faults():
            cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        errors.print("aborted")
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except LedgerError as exc:
        said = escape(_printable(exc.diagnostics()))
        errors.print(f"[red]error[/] {said}", highlight=False, soft_wrap=True)
        sys.exit(1)


def _printable(text: str) -> str:
    """A message may quote a server's words or a file's: no control character of theirs
    (an escape sequence that clears the screen and prints a verdict) reaches a terminal."""
    return "".join(c if c.isprintable() or c in "\n\t" else f"\\u{ord(c):04x}" for c in text)


if __name__ == "__main__":
    main()
