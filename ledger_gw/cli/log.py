"""`ledger-gw verify|prove|checkpoint`: the log, checked in full, proven, checkpointed.

`verify` replays the embedded ledger from its database; `prove` and `checkpoint` answer
from either backend's verifiable log, as the gateway's proof routes do.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from ledger_gw.bootstrap import open_log, verify_embedded
from ledger_gw.cli.options import (
    LogChoice,
    directory_option,
    ledger_option,
    log_options,
    pinned_option,
    require_pinned,
)
from ledger_gw.services import proofs, tlog_proofs
from ledger_gw.workspace import Workspace

console = Console()


@click.command()
@directory_option
@ledger_option
@pinned_option
@click.option(
    "--witness-state",
    "witness_states",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A witness's state file (witness.db): the log must hold, and extend, what it "
    "last cosigned. Repeatable.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes that check signatures while this one replays the contract "
    "[default: one per core it may run on; 1: all in this process].",
)
def verify(
    directory: Path,
    ledger_url: str | None,
    consortium: Path | None,
    witness_states: tuple[Path, ...],
    workers: int | None,
) -> None:
    """Recompute everything from the log and name the first bad position; the log must
    hold a checkpoint at its size, some checkpoint cosigned by the witness quorum (how
    far that quorum vouches for the log is told), and agree with what each given witness
    cosigned. All of it is checked against the consortium file you pin (--consortium),
    never the copy that comes with the ledger: your own directory's, pinned, if so."""
    ws = Workspace.load(directory)
    ws = replace(ws, consortium=require_pinned(consortium, "the directory's own copy"))
    console.print(
        f"trusting the consortium file {consortium}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    with Progress(
        TextColumn("verifying {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None)
        report = verify_embedded(
            ws,
            ledger_url,
            progress=lambda step, done, total: bar.update(
                task, description=step, completed=done, total=total
            ),
            witness_states=witness_states,
            workers=workers,
        )
    against = f", agrees with {len(witness_states)} witness(es)" if witness_states else ""
    console.print(
        f"[green]ledger verifies[/]: {report.size} entries, root "
        f"{base64.b64encode(report.root).decode()}, {report.checkpoints} checkpoints "
        f"({report.cosignatures} cosignatures), {report.state_keys} state keys{against}"
    )
    console.print(
        _witnessing(ws.consortium.witness_quorum, report.witnessed_size, report.size),
        highlight=False,
    )


def _witnessing(quorum: int, witnessed: int, size: int) -> str:
    """How far the witnesses vouch for the log: entries past that size have only the
    log key's word (the newest wait for cosignatures; a rewritten history stays there)."""
    if not quorum:
        return "no witness quorum in the consortium file: the log key alone vouches for it"
    waiting = f" ({size - witnessed} newest not yet cosigned)" if witnessed < size else ""
    return f"witnessed by the quorum ({quorum}) up to size {witnessed} of {size}{waiting}"


@click.group()
def prove() -> None:
    """Proofs, as JSON: Merkle proofs on the embedded ledger, block evidence on Fabric."""


@prove.command("inclusion")
@click.option("--index", type=int, help="Log position of the entry.")
@click.option("--tx", "tx_id", help="Transaction ID of the entry (instead of --index).")
@click.option(
    "--size",
    type=click.IntRange(min=1),
    help="Tree size to prove against (default: latest).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "tlog-proof"]),
    default="json",
    show_default=True,
    help="tlog-proof: a C2SP tlog-proof file (hashes and checkpoint only, no entry; on "
    "Fabric, of the transaction's leaf in the members' validity log).",
)
@log_options
def prove_inclusion(
    source: LogChoice,
    index: int | None,
    tx_id: str | None,
    size: int | None,
    fmt: str,
) -> None:
    """Prove that an entry is in the log."""
    if (index is None) == (tx_id is None):
        raise click.UsageError("give exactly one of --index and --tx")
    with source.open() as (_, log):
        if fmt == "tlog-proof":
            click.echo(tlog_proofs.export(log, index, tx_id, size), nl=False)
            return
        click.echo(json.dumps(proofs.inclusion(log, index, tx_id, size), indent=2))


@prove.command("consistency")
@click.argument("size1", type=int)
@click.argument("size2", type=click.IntRange(min=1), required=False)
@log_options
def prove_consistency(
    source: LogChoice,
    size1: int,
    size2: int | None,
) -> None:
    """Prove that the log at SIZE1 is a prefix of the log at SIZE2 (default: latest)."""
    with source.open() as (_, log):
        click.echo(json.dumps(proofs.consistency(log, size1, size2), indent=2))


@click.group()
def checkpoint() -> None:
    """Signed tree heads and witness cosignatures."""


@checkpoint.command("show")
@click.option("--size", type=int, help="Tree size, on Fabric block height (default: latest).")
@log_options
def checkpoint_show(source: LogChoice, size: int | None) -> None:
    """Print a checkpoint note, with its cosignatures (on Fabric: the validity log's at
    block height SIZE, signed by the members who state it)."""
    with source.open() as (_, log):
        click.echo(proofs.checkpoint_note(log, size), nl=False)


@checkpoint.command("cosign")
@directory_option
@ledger_option
@click.option("--size", type=int, help="Tree size (default: latest).")
def checkpoint_cosign(directory: Path, ledger_url: str | None, size: int | None) -> None:
    """Ask the consortium's witnesses now to cosign a checkpoint; print the note."""
    with open_log(directory, ledger_url, cosigning=True) as (_, log):
        click.echo(proofs.cosign(log, size)["note"], nl=False)
