"""`ledger-gw log serve|client-cert|revoke-client`: the log node, for agencies on their own
machines.

Imports no Flask until `serve` runs gunicorn (api.node_server) in this process.
"""

from __future__ import annotations

import datetime as dt
import sys
from functools import partial
from pathlib import Path

import click
from rich.console import Console

from ledger_gw.bootstrap import (
    MAX_PORT,
    check_bind,
    issue_log_client_certificate,
    open_node,
    prepare_ledger,
    prepare_node,
    revoked_clients,
)
from ledger_gw.cli.options import directory_option, ledger_option, new_ledger_option, read_input
from ledger_gw.errors import ValidationError
from ledger_gw.identity import load_one_certificate
from ledger_gw.node.revoked import revocation_key_of, revoke

console = Console()
PORT = click.IntRange(0, MAX_PORT)
COUNT = click.IntRange(min=1)


@click.group()
def log() -> None:
    """The log node: the embedded ledger served to members' gateways over mutual TLS."""


@log.command("serve")
@directory_option
@ledger_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=PORT, default=8443, show_default=True)
@click.option("--threads", type=COUNT, default=8, show_default=True)
@new_ledger_option
def serve(
    directory: Path,
    ledger_url: str | None,
    host: str,
    port: int,
    threads: int,
    new_ledger: bool,
) -> None:
    """Append members' signed transactions, sign checkpoints, push them to the witnesses,
    serve proofs and tiles: to clients with a certificate from a member's CA only. The
    directory needs the consortium file and node/log.key; no member's key, no personal
    data. Gateways pin node/tls.pem (made on first start). A log whose ledger is gone
    does not start without --new-ledger."""
    from api.node_server import serve_node

    check_bind(f"{host}:{port}")
    revoked_clients(directory)  # a log node's directory, or nothing is made in it
    prepare_ledger(directory, ledger_url, new_ledger=new_ledger)
    serving = prepare_node(directory, host, port, threads)
    console.print(f"[bold]Log node[/] https://{serving.bind}  certificate {serving.cert}")
    sys.stdout.flush()
    serve_node(serving, partial(open_node, directory, ledger_url))


@log.command("client-cert")
@directory_option
@click.option("--org", required=True, help="The organisation whose gateway it is.")
def client_cert(directory: Path, org: str) -> None:
    """Issue the organisation's TLS client certificate for the log node from its CA
    (orgs/ORG/ca.key), into orgs/ORG/tls-client.pem and .key."""
    before = directory / "orgs" / org / "tls-client.pem"
    old = before.read_text() if before.exists() else None
    path = issue_log_client_certificate(directory, org)
    console.print(f"[green]issued[/] {path}  sha256 {revocation_key_of(path.read_text())}")
    if old is not None:
        console.print(
            f"it replaces sha256 {revocation_key_of(old)}: until the node's operator "
            "revokes that one (ledger-gw log revoke-client), it still opens connections"
        )


@log.command("revoke-client")
@directory_option
@click.argument("certificate", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def revoke_client(directory: Path, certificate: Path) -> None:
    """Let the TLS client certificate in CERTIFICATE (PEM) into this node no more, though
    its member's CA issued it: a gateway's key lost or stolen. Takes effect at once. The
    directory is the node's own (node/log.key)."""
    listed = revoked_clients(directory)
    found, added = revoke(listed, _one_certificate(certificate), dt.datetime.now(dt.UTC))
    done = "[green]revoked[/]" if added else "already revoked:"
    console.print(f"{done} sha256 {found} in {listed}")


def _one_certificate(path: Path) -> str:
    """The one PEM certificate in the file, and nothing else: of two, only the first would
    be revoked, the other left to open connections while its operator thinks it closed."""
    data = read_input(path, "CERTIFICATE", 1 << 20).strip() + b"\n"
    try:
        load_one_certificate(data)
    except ValueError as exc:
        raise ValidationError(
            f"CERTIFICATE {path} must hold one PEM certificate and nothing else: {exc}",
            code="not_a_certificate",
            field="CERTIFICATE",
        ) from None
    return data.decode("ascii")
