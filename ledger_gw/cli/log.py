"""`ledger-gw verify|prove|checkpoint`: the embedded log, read and checked from its database."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from ledger_gw.bootstrap import embedded_ledger
from ledger_gw.cli.options import directory_option, ledger_option
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verify import verify_ledger
from ledger_gw.workspace import Workspace

console = Console()


@contextmanager
def _open(directory: Path, ledger_url: str | None) -> Iterator[tuple[Workspace, EmbeddedLedger]]:
    ws = Workspace.load(directory)
    ledger = embedded_ledger(ws, ledger_url)
    try:
        yield ws, ledger
    finally:
        ledger.close()


def _b64(items: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in items]


@click.command()
@directory_option
@ledger_option
def verify(directory: Path, ledger_url: str | None) -> None:
    """Recompute everything from the log and name the first bad position."""
    ws = Workspace.load(directory)
    with Progress(
        TextColumn("verifying"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("verify", total=None)
        report = verify_ledger(
            ledger_url or ws.ledger_url,
            ws.consortium,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"[green]ledger verifies[/]: {report.size} entries, root "
        f"{base64.b64encode(report.root).decode()}, {report.checkpoints} checkpoints "
        f"({report.cosignatures} cosignatures), {report.state_keys} state keys"
    )


@click.group()
def prove() -> None:
    """Merkle proofs, as JSON."""


@prove.command("inclusion")
@directory_option
@ledger_option
@click.option("--index", type=int, help="Log position of the entry.")
@click.option("--tx", "tx_id", help="Transaction ID of the entry (instead of --index).")
@click.option("--size", type=int, help="Tree size to prove against (default: latest).")
def prove_inclusion(
    directory: Path,
    ledger_url: str | None,
    index: int | None,
    tx_id: str | None,
    size: int | None,
) -> None:
    """Prove that an entry is in the log."""
    with _open(directory, ledger_url) as (_, ledger):
        if (index is None) == (tx_id is None):
            raise click.UsageError("give exactly one of --index and --tx")
        position = ledger.log.position_of(tx_id) if tx_id is not None else index
        assert position is not None
        size = ledger.log.size() if size is None else size
        proof = _b64(ledger.log.inclusion_proof(position, size))  # NotFound when out of range
        out: dict[str, Any] = {
            "index": position,
            "size": size,
            "leaf_hash": _b64([ledger.log.leaf_hash(position)])[0],
            "proof": proof,
            "checkpoint": ledger.log.checkpoint(size),
        }
        click.echo(json.dumps(out, indent=2))


@prove.command("consistency")
@directory_option
@ledger_option
@click.argument("size1", type=int)
@click.argument("size2", type=int, required=False)
def prove_consistency(
    directory: Path, ledger_url: str | None, size1: int, size2: int | None
) -> None:
    """Prove that the tree at SIZE1 is a prefix of the tree at SIZE2 (default: latest)."""
    with _open(directory, ledger_url) as (_, ledger):
        size2 = ledger.log.size() if size2 is None else size2
        out = {
            "size1": size1,
            "size2": size2,
            "proof": _b64(ledger.log.consistency_proof(size1, size2)),
            "checkpoint1": ledger.log.checkpoint(size1),
            "checkpoint2": ledger.log.checkpoint(size2),
        }
        click.echo(json.dumps(out, indent=2))


@click.group()
def checkpoint() -> None:
    """Signed tree heads and witness cosignatures."""


@checkpoint.command("show")
@directory_option
@ledger_option
@click.option("--size", type=int, help="Tree size (default: latest).")
def checkpoint_show(directory: Path, ledger_url: str | None, size: int | None) -> None:
    """Print a checkpoint note, with its cosignatures."""
    with _open(directory, ledger_url) as (_, ledger):
        click.echo(ledger.log.checkpoint(size), nl=False)


@checkpoint.command("cosign")
@directory_option
@ledger_option
@click.option("--org", "org_id", required=True, help="Witnessing organisation.")
@click.option("--size", type=int, help="Tree size (default: latest).")
def checkpoint_cosign(
    directory: Path, ledger_url: str | None, org_id: str, size: int | None
) -> None:
    """Cosign a checkpoint as an organisation's witness and store the cosignature."""
    with _open(directory, ledger_url) as (ws, ledger):
        note = ledger.cosign(ws.witness(org_id), size)
        click.echo(note, nl=False)
