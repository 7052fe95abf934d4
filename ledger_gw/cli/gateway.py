"""`ledger-gw token …` and `ledger-gw serve`: the agency gateway's admin commands.

Registered on `ledger_gw.cli.cli`. Imports no Flask until `serve` runs gunicorn (api.server)
in this process; tokens are managed through the services layer, in the organisation's
own off-chain store alone: no ledger or log node need be up to revoke one.
"""

from __future__ import annotations

import datetime as dt
import sys
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import click
from rich.console import Console

from ledger_gw.bootstrap import (
    MAX_PORT,
    Serving,
    check_bind,
    config_from_env,
    org_store,
    prepare_ledger,
    serving_from_env,
)
from ledger_gw.cli.options import http_url, new_ledger_option, new_stores_option
from ledger_gw.gateway_stores import prepare_stores
from ledger_gw.services.access import DEFAULT_LIFETIME, issue_token, list_tokens, revoke_token
from ledger_gw.services.config import GatewayConfig

console = Console()

PORT = click.IntRange(0, MAX_PORT)
COUNT = click.IntRange(min=1)
MAX_LABEL = 100  # what the off-chain store keeps of a token's label

_DIR = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Consortium directory (default: LEDGER_GW_DIR or var/demo).",
)


def _config(directory: Path | None) -> GatewayConfig:
    config = config_from_env()
    return config if directory is None else replace(config, directory=directory)


def _label(ctx: click.Context, param: click.Parameter, label: str) -> str:
    """A label `token list` can show as it was given: one field of its tab-separated
    line, so no tab, line break or other control character (which would print a row of
    its own, or reach the terminal), and no longer than the store keeps."""
    if len(label) > MAX_LABEL or not label.isprintable():
        raise click.BadParameter(
            f"at most {MAX_LABEL} characters, none of them a tab, line break or other "
            "control character",
            param_hint="--label",
        )
    return label


@click.group()
def token() -> None:
    """Issue, list and revoke the gateway's bearer API tokens (stored hashed)."""


@token.command("issue")
@_DIR
@click.option("--org", required=True, help="Organisation the token acts for.")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["agency-writer", "agency-reader", "auditor", "donor", "admin"]),
)
@click.option(
    "--label",
    default="",
    callback=_label,
    help=f"A note for the operator (never personal data; at most {MAX_LABEL} characters).",
)
@click.option(
    "--expires-in",
    "days",
    type=click.IntRange(min=1, max=3650),
    default=DEFAULT_LIFETIME.days,
    show_default=True,
    help="Days until the token stops working.",
)
def token_issue(directory: Path | None, org: str, role: str, label: str, days: int) -> None:
    """Print a new token once; only its SHA-256 is stored."""
    with org_store(_config(directory), org) as (store, member):
        token_id, secret = issue_token(
            store, member.role, role, label, lifetime=dt.timedelta(days=days)
        )
    click.echo(f"token id: {token_id} (expires in {days} days)", err=True)
    click.echo(secret)


def _when(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


@token.command("list")
@_DIR
@click.option("--org", required=True, help="Organisation whose tokens to list.")
def token_list(directory: Path | None, org: str) -> None:
    """Each token's ID, role, label, creation, expiry and revocation (never its secret)."""
    with org_store(_config(directory), org) as (store, _):
        tokens = list_tokens(store)
    click.echo("id\trole\tlabel\tcreated\texpires\trevoked")
    for t in tokens:
        fields = (
            t.token_id,
            t.role,
            t.label,
            *map(_when, (t.created_at, t.expires_at, t.revoked_at)),
        )
        click.echo("\t".join(fields))


@token.command("revoke")
@_DIR
@click.option("--org", required=True, help="Organisation the token belongs to.")
@click.argument("token_id")
def token_revoke(directory: Path | None, org: str, token_id: str) -> None:
    """Revoke a token by its ID: every running gateway refuses it within 5 seconds (each
    process trusts a valid token that long), a gateway started afterwards at once."""
    with org_store(_config(directory), org) as (store, _):
        revoke_token(store, token_id)
    click.echo(f"revoked {token_id}")


@click.command()
@_DIR
@click.option("--demo", is_flag=True, help="Demo consortium, Fatima's journey, demo tokens.")
@click.option("--host", help="Default: from LEDGER_GW_BIND, or 127.0.0.1.")
@click.option("--port", type=PORT, help="Default: from LEDGER_GW_BIND, or 8080.")
@click.option(
    "--workers", type=COUNT, help="Default: LEDGER_GW_WORKERS, or two per core (at most 8)."
)
@click.option(
    "--threads", type=COUNT, help="Threads per worker (default: LEDGER_GW_THREADS, or 8)."
)
@click.option(
    "--log-url",
    callback=http_url,
    help="Append at this log node (the remote backend; default: LEDGER_GW_LOG_URL when "
    "LEDGER_GW_BACKEND=remote).",
)
@new_ledger_option
@new_stores_option
def serve(
    directory: Path | None,
    demo: bool,
    host: str | None,
    port: int | None,
    workers: int | None,
    threads: int | None,
    log_url: str | None,
    new_ledger: bool,
    new_stores: bool,
) -> None:
    """Run the gateway under gunicorn. On the embedded ledger, a log whose ledger is
    gone does not start without --new-ledger; a gateway whose off-chain store, receipts
    or outbox is gone, without --new-stores."""
    from api.server import serve as run_gunicorn

    config = _config(directory)
    if log_url is not None:
        config = replace(config, backend="remote", log_url=log_url)
    serving = serving_from_env()
    bind = serving.bind
    if host or port is not None:
        env_host, _, env_port = bind.rpartition(":")
        bind = f"{host or env_host}:{env_port if port is None else port}"
    serving = Serving(bind, workers or serving.workers, threads or serving.threads)
    check_bind(bind)
    if demo:
        from ledger_gw.demo.seed import create_demo

        create_demo(config.directory)
    if config.backend == "embedded":
        prepare_ledger(config.directory, config.ledger, new_ledger=new_ledger)
    prepare_stores(config, new_stores=new_stores)
    url = f"http://{bind}"
    with ExitStack() as demo_processes:
        if demo:
            from ledger_gw.demo.seed import prepare_demo, show_demo
            from ledger_gw.demo.witnesses import running_witnesses

            witnesses = demo_processes.enter_context(running_witnesses(config.directory))
            for org, witness_url in witnesses.items():
                console.print(f"[bold]Witness[/]  {org} on {witness_url}", highlight=False)
            show_demo(console, url, config.directory, *prepare_demo(config))
        else:
            console.print(f"[bold]Gateway[/] {url}  docs {url}/docs")
        sys.stdout.flush()
        run_gunicorn(config, serving)
