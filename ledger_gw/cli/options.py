"""Options shared by the `ledger-gw` command groups."""

from __future__ import annotations

from pathlib import Path

import click

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
