"""`ledger-gw init`, `ledger-gw consortium add-witness` and `ledger-gw demo`: a
consortium from its definition, its witnesses listed, the demo."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
from rich.console import Console

from ledger_gw.cli.options import directory_option
from ledger_gw.consortium import Definition, add_witness
from ledger_gw.workspace import Workspace

console = Console()

#: Where the journey is replayed unless told otherwise: never the directory a gateway
#: serves (``var/demo``, or LEDGER_GW_DIR), which ``--fresh`` would delete; the same
#: directory as ``make demo``.
DEMO_DIR = Path("var/journey")


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--consortium",
    "--definition",
    "definition",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The members' agreement: a TOML consortium definition (members, programmes, "
    "P-codes, witnesses, endorsement policy, IATI references; see "
    "ledger_gw/demo/consortium.toml), or the older JSON form. "
    "Without it: the demo consortium (three agencies, an auditor, a donor).",
)
def init(directory: Path, definition: Path | None) -> None:
    """Create a consortium from its definition, each member's keys in its own directory."""
    if definition is None:
        from ledger_gw.demo.consortium import DEMO

        agreed = DEMO
    else:
        agreed = Definition.load(definition)
    ws = Workspace.create(directory, agreed)
    console.print(f"[green]Consortium {agreed.name!r} created in {directory}[/]")
    for org in ws.consortium.organisations.values():
        console.print(f"  {org.org_id:<10} {org.role}")


@click.group()
def consortium() -> None:
    """The consortium file: its members' witnesses."""


@consortium.command("add-witness")
@directory_option
@click.option("--org", "org_id", required=True, help="The member that runs the witness.")
@click.option(
    "--vkey", required=True, help="Its cosignature key, as `ledger-gw witness init` prints it."
)
@click.option("--url", required=True, help="Its base URL (where it serves /add-checkpoint).")
@click.option(
    "--quorum",
    type=click.IntRange(min=0),
    help="Set the consortium's witness quorum too (default: unchanged).",
)
def consortium_add_witness(
    directory: Path, org_id: str, vkey: str, url: str, quorum: int | None
) -> None:
    """List a member's witness in the consortium file (replacing an earlier one).

    The ledger's node pushes its checkpoints to the witnesses listed once it starts
    again; every member must be given the new file, which verifiers pin."""
    updated = add_witness(directory / "consortium.json", org_id, vkey, url, quorum)
    console.print(
        f"[green]{org_id}'s witness listed[/]: {len(updated.witness_keys())} witnesses, "
        f"quorum {updated.witness_quorum}"
    )


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEMO_DIR,
    show_default=True,
    help="Directory to replay the journey in (not LEDGER_GW_DIR: never the one served).",
)
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
    from ledger_gw.demo.fabric import run_fabric_demo
    from ledger_gw.demo.journey import run_demo
    from ledger_gw.demo.seed import create_demo
    from ledger_gw.demo.witnesses import running_witnesses

    if backend == "fabric":
        run_fabric_demo(console)
        return
    if fresh and directory.exists():
        shutil.rmtree(directory)
    create_demo(directory)
    with running_witnesses(directory):
        run_demo(Workspace.load(directory), console)
