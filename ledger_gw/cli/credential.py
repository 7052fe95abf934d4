"""`ledger-gw credential issue|verify|card`: a person's credential, from the agency that
issues it to any member that checks it, offline or asking a gateway for its status."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import click

from ledger_gw.bootstrap import config_from_env, open_gateway, prepare_ledger
from ledger_gw.cli.options import (
    TOKEN_VARIABLE,
    http_url,
    output_file,
    pinned_option,
    quorum_option,
    read_input,
    require_pinned,
    token_option,
)
from ledger_gw.consortium import Consortium
from ledger_gw.errors import ValidationError
from ledger_gw.files import SECRET, write_file
from ledger_gw.services import credentials
from ledger_gw.services.access import Caller, Role

_PURPOSE = click.option(
    "--purpose",
    type=click.Choice(["referral", "deduplication", "service_continuity"]),
    default="service_continuity",
    show_default=True,
    help="Why the ledger is read: her consent must cover it.",
)


def _pinned(path: Path | None) -> Consortium:
    return require_pinned(path, "the credential's own certificate")


@click.group()
def credential() -> None:
    """Issue, verify and print a person's credential (SD-JWT VC on a QR card)."""


@credential.command("issue")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Consortium directory (default: LEDGER_GW_DIR or var/demo).",
)
@click.option(
    "--org", required=True, help="The issuing agency: the one that granted it or registered her."
)
@click.option(
    "--kind",
    type=click.Choice(credentials.KINDS),
    default="entitlement",
    show_default=True,
    help="What it states: an entitlement, or her registration with ORG.",
)
@click.option(
    "--event",
    "event_id",
    help="The entitlement.granted event ID, or the consent.granted recording her registration.",
)
@click.option("--pid", help="For a registration: her pseudonymous ID, instead of --event.")
@_PURPOSE
@click.option(
    "--disclose",
    multiple=True,
    type=click.Choice(sorted({n for names in credentials.DISCLOSABLE_OF.values() for n in names})),
    help="A claim she chose to show (repeat); the others stay hidden.",
)
@click.option(
    "--expires",
    type=click.DateTime(["%Y-%m-%d"]),
    help="The day it ends (at 00:00 UTC), before the entitlement's last has ended.",
)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), callback=output_file, required=True
)
def issue(
    directory: Path | None,
    org: str,
    kind: str,
    event_id: str | None,
    pid: str | None,
    purpose: str,
    disclose: tuple[str, ...],
    expires: dt.datetime | None,
    out: Path,
) -> None:
    """Sign her credential as ORG and write it to OUT (text; `card` prints it), readable
    by its owner only: whoever holds it presents it."""
    if event_id is not None and pid is not None:
        raise click.UsageError("give --event or --pid, not both")
    config = config_from_env()
    if directory is not None:
        config = replace(config, directory=directory)
    if config.backend == "embedded":
        prepare_ledger(config.directory, config.ledger)  # a lost ledger is not made again
    gateway = open_gateway(config)
    try:
        operator = Caller("cli", org, Role.AGENCY_WRITER)
        ends = None if expires is None else expires.replace(tzinfo=dt.UTC)
        made = credentials.issue(
            gateway, operator, event_id, purpose, disclose, kind=kind, pid=pid, expires=ends
        )
    finally:
        gateway.close()
    write_file(out, made.credential.text().encode(), SECRET)
    click.echo(json.dumps(made.verified.to_dict(), indent=2))


@credential.command("verify")
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@pinned_option
@quorum_option
@click.option(
    "--gateway",
    "url",
    callback=http_url,
    help="Also ask this member gateway whether it still stands.",
)
@token_option
@_PURPOSE
def verify(
    path: Path,
    consortium: Path | None,
    quorum: int | None,
    url: str | None,
    token: str | None,
    purpose: str,
) -> None:
    """Check the credential in PATH (its text, or a photo or scan of its card)."""
    pinned = _pinned(consortium)
    if url is not None and token is None:
        raise ValidationError(
            f"--gateway needs a bearer token: in {TOKEN_VARIABLE} or --token-file",
            code="token_missing",
            field="--token-file",
        )
    data = read_input(path, "PATH")
    verified = credentials.verify_offline(data, pinned, quorum=quorum)
    report = {**verified.to_dict(), "status": "not checked"}
    if url is not None and token is not None:
        answer = credentials.remote_status(url, token, data, purpose)
        report["status"] = answer["status"]
        if "status_as_of" in answer:  # how far the gateway's ledger had grown, and when
            report["status_as_of"] = answer["status_as_of"]
    click.echo(json.dumps(report, indent=2))


@credential.command("card")
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@pinned_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=output_file,
    required=True,
    help="card.png or card.pdf",
)
def card(path: Path, consortium: Path | None, out: Path) -> None:
    """Print the credential in PATH as a card with its QR code, once it verifies, to OUT,
    readable by its owner only: its code is the credential."""
    kind = out.suffix.lower().lstrip(".")
    pinned = _pinned(consortium)
    write_file(out, credentials.render_card(read_input(path, "PATH"), pinned, kind), SECRET)
    click.echo(f"wrote {out}")
