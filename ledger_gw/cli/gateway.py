"""`ledger-gw token …` and `ledger-gw serve`: the agency gateway's admin commands.

Registered on `ledger_gw.cli.cli`. Imports no Flask: `serve` hands gunicorn the app by
name (`api.wsgi:app`), and tokens are managed through the services layer.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import click
from rich.console import Console

from ledger_gw.services.access import issue_token, revoke_token
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway

console = Console()

_DIR = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Consortium directory (default: LEDGER_GW_DIR or var/demo).",
)


def _gateway(directory: Path | None) -> Gateway:
    config = GatewayConfig.from_env()
    if directory is not None:
        config = replace(config, directory=directory)
    return Gateway.open(config)


@click.group()
def token() -> None:
    """Issue and revoke the gateway's bearer API tokens (stored hashed)."""


@token.command("issue")
@_DIR
@click.option("--org", required=True, help="Organisation the token acts for.")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["agency-writer", "agency-reader", "auditor", "donor", "admin"]),
)
@click.option("--label", default="", help="A note for the operator (never personal data).")
def token_issue(directory: Path | None, org: str, role: str, label: str) -> None:
    """Print a new token once; only its SHA-256 is stored."""
    gw = _gateway(directory)
    try:
        token_id, secret = issue_token(gw.store(org), gw.org_role(org), role, label)
    finally:
        gw.close()
    click.echo(f"token id: {token_id}", err=True)
    click.echo(secret)


@token.command("revoke")
@_DIR
@click.option("--org", required=True, help="Organisation the token belongs to.")
@click.argument("token_id")
def token_revoke(directory: Path | None, org: str, token_id: str) -> None:
    """Revoke a token by its ID; it stops working at once."""
    gw = _gateway(directory)
    try:
        revoke_token(gw.store(org), token_id)
    finally:
        gw.close()
    click.echo(f"revoked {token_id}")


@click.command()
@_DIR
@click.option("--demo", is_flag=True, help="Demo consortium, Fatima's journey, demo tokens.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
def serve(directory: Path | None, demo: bool, host: str, port: int, workers: int) -> None:
    """Run the gateway under gunicorn."""
    directory = directory or Path(os.environ.get("LEDGER_GW_DIR", "var/demo"))
    os.environ["LEDGER_GW_DIR"] = str(directory)
    os.environ["LEDGER_GW_BIND"] = f"{host}:{port}"
    os.environ["LEDGER_GW_WORKERS"] = str(workers)
    url = f"http://{host}:{port}"
    if demo:
        from ledger_gw.demo.seed import prepare_demo

        tokens, pid = prepare_demo(directory)
        console.print(f"[bold]Gateway[/]  {url}\n[bold]API docs[/] {url}/docs")
        console.print(
            f"[bold]Dashboard[/] {url}/dashboard/ : log in with the AUDITOR-X/auditor token "
            "(referral chains, bundle checks) or the DONOR-Y/donor token (accountability "
            "report); an agency token shows its own organisation's report.",
            soft_wrap=True,
            highlight=False,
        )
        journey = directory / "demo-journey.json"
        if journey.exists():
            first = json.loads(journey.read_text())["referrals"][0]
            console.print(
                f"Fatima's referral chain, for the auditor: {url}/dashboard/audit/chain"
                f"?referral_id={first}",
                soft_wrap=True,
                highlight=False,
            )
        console.print("Demo tokens (also in demo-tokens.json; use as `Authorization: Bearer …`):")
        for name, secret in tokens.items():
            console.print(f"  {name:<24} {secret}", soft_wrap=True, highlight=False)
        console.print(
            "Fatima's history, as AGENCY-C sees it:\n"
            f"  curl -H 'Authorization: Bearer {tokens['AGENCY-C/agency-writer']}' "
            f"'{url}/v1/persons/{pid}/history?purpose=service_continuity'",
            soft_wrap=True,
            highlight=False,
        )
    else:
        console.print(f"[bold]Gateway[/] {url}  docs {url}/docs")
    sys.stdout.flush()
    args = [sys.executable, "-m", "gunicorn", "-c", "python:api.gunicorn_conf", "api.wsgi:app"]
    os.execv(sys.executable, args)  # noqa: S606 - our own interpreter, fixed arguments
