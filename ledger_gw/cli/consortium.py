"""`ledger-gw init` and `ledger-gw demo`: a consortium from its definition; the demo."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
from rich.console import Console

from ledger_gw.cli.options import directory_option
from ledger_gw.consortium import Definition
from ledger_gw.workspace import Workspace

console = Console()


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--definition",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help='The members\' agreement, JSON: {"name", "members": [{"id", "role"}], '
    '"programmes": [...]}. Without it: the demo consortium (three agencies, an auditor, '
    "a donor).",
)
def init(directory: Path, definition: Path | None) -> None:
    """Create a consortium from its definition, with every member's keys."""
    if definition is None:
        from ledger_gw.demo.consortium import DEMO

        agreed = DEMO
    else:
        agreed = Definition.load(definition)
    ws = Workspace.create(directory, agreed)
    console.print(f"[green]Consortium {agreed.name!r} created in {directory}[/]")
    for org in ws.consortium.organisations.values():
        console.print(f"  {org.org_id:<10} {org.role}")


@click.command()
@directory_option
@click.option("--fresh", is_flag=True, help="Start from a new consortium and an empty ledger.")
@click.option(
    "--backend",
    type=click.Choice(["embedded", "fabric"]),
    default="embedded",
    show_default=True,
    help="fabric: the network `network/network.sh up` started (LEDGER_GW_FABRIC_PROFILE).",
)
def demo(directory: Path, fresh: bool, backend: str) -> None:
    """Fatima's journey across three service points, end to end."""
    from ledger_gw.demo.consortium import DEMO
    from ledger_gw.demo.fabric import run_fabric_demo
    from ledger_gw.demo.journey import run_demo

    if backend == "fabric":
        run_fabric_demo(console)
        return
    if fresh and directory.exists():
        shutil.rmtree(directory)
    ws = Workspace.load(directory) if directory.exists() else Workspace.create(directory, DEMO)
    run_demo(ws, console)
