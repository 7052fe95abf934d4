"""`ledger-gw witness init|serve`: a member's witness, run apart from the log operator.

The witness keeps its key and its memory in its own directory and learns the log's
key from the command line or from a consortium file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from chaincode.fields import ORG_ID
from ledger_gw.cli.options import a_number, load_pinned
from ledger_gw.errors import ConfigError, LedgerError
from ledger_gw.witness import TrustedLog, WitnessHome, serve
from ledger_gw.witness.home import key_name

_dir_option = click.option(
    "--dir",
    "directory",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The witness's own directory (its key and its memory).",
)


def _org_id(ctx: click.Context, param: click.Parameter, org_id: str) -> str:
    """A member's organisation ID, as the consortium file lists it: the key is named for
    it (witness.<org>), and one named for nobody is a witness no consortium can list."""
    if not ORG_ID.fullmatch(org_id):
        raise click.BadParameter(
            f"{org_id!r} is not an organisation ID (capitals, digits and '-', e.g. AGENCY-A)"
        )
    return org_id


_org_option = click.option(
    "--org", "org_id", required=True, callback=_org_id, help="The witnessing organisation."
)


@click.group()
def witness() -> None:
    """An independent witness: cosigns checkpoints only while the log stays append-only."""


@witness.command("init")
@_org_option
@_dir_option
def init(org_id: str, directory: Path) -> None:
    """Create the witness key and its memory (witness.db) in DIR, and print the key's
    cosignature (0x04) vkey. Keep both, and back them up together."""
    home = WitnessHome.create(directory, org_id)
    click.echo(home.signer().verifier.vkey)


@witness.command("serve")
@_org_option
@_dir_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8070,
    show_default=True,
    help="0 picks a free port.",
)
@click.option(
    "--read-timeout",
    type=click.FloatRange(min=0.1, max=3600),
    callback=a_number,
    default=10.0,
    show_default=True,
    help="Seconds a connection may stay silent before the witness drops it.",
)
@click.option("--log-vkey", help="The log's Ed25519 note verifier key.")
@click.option("--origin", help="The log's checkpoint origin line.")
@click.option(
    "--consortium",
    "consortium_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read the log's key and origin from this consortium file instead.",
)
@click.option(
    "--new-memory",
    is_flag=True,
    help="If DIR's witness.db is gone, or holds no memory made for this key, start with "
    "an empty one: the witness then trusts the next checkpoint it sees, a fork of what it "
    "cosigned before included.",
)
def serve_command(
    org_id: str,
    directory: Path,
    host: str,
    port: int,
    read_timeout: float,
    log_vkey: str | None,
    origin: str | None,
    consortium_file: Path | None,
    new_memory: bool,
) -> None:
    """Serve POST /add-checkpoint (C2SP tlog-witness) for one log. A witness whose
    memory (witness.db) is gone, or holds nothing made for its key, does not start
    without --new-memory. SIGTERM stops it once the requests in hand are answered."""
    home = WitnessHome.load(directory)
    vkey = home.signer().verifier.vkey
    if not vkey.startswith(key_name(org_id) + "+"):
        raise ConfigError(f"the key in {directory} is not {org_id}'s witness key ({vkey})")
    log = _trusted_log(org_id, vkey, log_vkey, origin, consortium_file)
    served = home.open([log], new_memory=new_memory)
    serve(
        served,
        host,
        port,
        lambda url: click.echo(f"witness {vkey} on {url}"),
        read_timeout=read_timeout,
    )


def _trusted_log(
    org_id: str,
    vkey: str,
    log_vkey: str | None,
    origin: str | None,
    consortium_file: Path | None,
) -> TrustedLog:
    if consortium_file is None:
        if log_vkey is None or origin is None:
            raise click.UsageError("give --log-vkey and --origin, or --consortium")
        return TrustedLog.from_vkey(origin, log_vkey)
    if log_vkey is not None or origin is not None:
        raise click.UsageError("--consortium replaces --log-vkey and --origin")
    consortium = load_pinned(consortium_file)
    listed = consortium.organisation(org_id).witness_vkey
    if listed != vkey:
        click.echo(f"note: the consortium lists another witness key for {org_id}", err=True)
    return TrustedLog.from_vkey(consortium.origin, consortium.log_vkey)


def main() -> None:
    """Run the group alone (``python -m ledger_gw.cli.witness``): errors as one line."""
    try:
        witness.main(standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(1)
    except LedgerError as exc:
        click.echo(f"error {exc.diagnostics()}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
