"""`ledger-gw`: set up a consortium, run the demo, verify, prove, checkpoint, audit, serve.

Expected errors reach the user once, as one line, with exit status 1.
"""

from __future__ import annotations

import sys

import click
from rich.console import Console

from ledger_gw.bootstrap import storage_faults
from ledger_gw.cli import audit as audit_commands
from ledger_gw.cli import consortium as consortium_commands
from ledger_gw.cli import credential as credential_commands
from ledger_gw.cli import gateway as gateway_commands
from ledger_gw.cli import log as log_commands
from ledger_gw.cli import members as member_commands
from ledger_gw.cli import node as node_commands
from ledger_gw.cli import witness as witness_commands
from ledger_gw.errors import LedgerError

errors = Console(stderr=True)


@click.group()
@click.version_option(package_name="referral-ledger", prog_name="ledger-gw")
def cli() -> None:
    """Referral and entitlement audit ledger: personal data stays with the agency."""


cli.add_command(consortium_commands.init)
cli.add_command(consortium_commands.consortium)
cli.add_command(consortium_commands.demo)
cli.add_command(member_commands.member)
cli.add_command(member_commands.key)
cli.add_command(log_commands.verify)
cli.add_command(log_commands.prove)
cli.add_command(log_commands.checkpoint)
cli.add_command(witness_commands.witness)
cli.add_command(node_commands.log)
cli.add_command(gateway_commands.token)
cli.add_command(gateway_commands.serve)
cli.add_command(audit_commands.audit)
cli.add_command(audit_commands.report)
cli.add_command(credential_commands.credential)


def main() -> None:
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
        errors.print(f"[red]error[/] {exc.diagnostics()}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
