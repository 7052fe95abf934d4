"""Options shared by the `ledger-gw` command groups."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

BACKENDS = ("embedded", "fabric")

directory_option = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/demo"),
    show_default=True,
    envvar="LEDGER_GW_DIR",
    help="Consortium directory made by `init`.",
)
ledger_option = click.option(
    "--ledger",
    "ledger_url",
    envvar="LEDGER_GW_LEDGER_URL",
    help="SQLAlchemy URL of the embedded ledger (default: ledger.db in the directory).",
)


def log_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--backend, --profile and --as: which ledger's verifiable log to read."""
    for option in reversed(
        (
            click.option(
                "--backend",
                type=click.Choice(BACKENDS),
                default="embedded",
                show_default=True,
                help="fabric: read the channel's blocks through a member's peer.",
            ),
            click.option(
                "--profile",
                type=click.Path(dir_okay=False, exists=True, path_type=Path),
                help="Fabric profile.json (default: LEDGER_GW_FABRIC_PROFILE or network/.state).",
            ),
            click.option(
                "--as",
                "as_org",
                help="Fabric: the member whose identity and peer read the ledger "
                "(default: the consortium's first auditor).",
            ),
        )
    ):
        command = option(command)
    return command
