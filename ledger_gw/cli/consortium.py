"""`ledger-gw init`, `ledger-gw consortium add-witness|up` and `ledger-gw demo`: a
consortium from its definition, its witnesses listed, its parties run as processes,
the demo."""

from __future__ import annotations

import ipaddress
import re
import signal
import time
from pathlib import Path
from types import FrameType

import click
from rich.console import Console

from ledger_gw.cli.options import (
    directory_option,
    input_file,
    new_ledger_option,
    new_stores_option,
)
from ledger_gw.consortium import Consortium, Definition, add_witness, retire_member
from ledger_gw.errors import ValidationError
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
    callback=input_file,
    help="The members' agreement: a TOML consortium definition (members, programmes, "
    "P-codes, witnesses, endorsement policy, IATI references; see "
    "ledger_gw/demo/consortium.toml), or the older JSON form. "
    "Without it: the demo consortium (three agencies, an auditor, a donor).",
)
def init(directory: Path, definition: Path | None) -> None:
    """Create a consortium from its definition, each member's keys in its own directory.

    DIRECTORY must be new or empty: nothing already there is overwritten."""
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
    """The consortium file: its members' witnesses, a member retired."""


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
    from ledger_gw.witness.home import key_name

    named = key_name(org_id)
    if "+" in vkey and not vkey.startswith(named + "+"):  # without "+": malformed, said below
        raise ValidationError(
            f"--vkey is named {vkey.partition('+')[0]!r}, not {named!r}: it is not {org_id}'s "
            f"witness key (`ledger-gw witness init --org {org_id}` prints that)",
            code="witness_key_mismatch",
            field="--vkey",
        )
    updated = add_witness(directory / "consortium.json", org_id, vkey, url, quorum)
    console.print(f"[green]{org_id}'s witness listed[/]: {_witnesses(updated)}")


@consortium.command("retire-member")
@directory_option
@click.option("--org", "org_id", required=True, help="The member that signs nothing from now on.")
def consortium_retire_member(directory: Path, org_id: str) -> None:
    """Retire a member: its signing key closes now and none replaces it.

    It stays in the consortium file, so what it signed before still verifies, and
    anything it signs from now on is refused (`retired_certificate`); what its witness
    cosigns from now on counts towards no quorum, and a log started since pushes to it
    no more. Refused, changing nothing (`witness_quorum_unreachable`), when the members
    who stay would run fewer witnesses than the quorum. Running ledgers take the change
    from the file; every member must be given it, as verifiers pin it."""
    updated = retire_member(directory / "consortium.json", org_id)
    until = updated.organisation(org_id).signing_keys[-1].valid_until
    console.print(f"[green]{org_id} retired[/]: it signs nothing from {until:%Y-%m-%d %H:%M:%S}Z")
    if org_id in updated.witness_keys():
        console.print(f"its witness counts for no new checkpoint: {_witnesses(updated)}")


def _witnesses(listed: Consortium) -> str:
    """The witnesses that count for a new checkpoint, those of members that left, and
    the quorum: a count of every listed one would promise cosignatures that count for
    no one."""
    left = len(listed.witness_keys()) - len(listed.witnesses_in_force())
    retired = f" (and {left} of members that left)" if left else ""
    return (
        f"{len(listed.witnesses_in_force())} witnesses of members in force{retired}, "
        f"quorum {listed.witness_quorum}"
    )


def _witness_url(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    urls = {}
    for value in values:
        org, sep, url = value.partition("=")
        if not sep or not url.startswith(("http://", "https://")):
            raise click.BadParameter(f"{value!r} is not ORG=URL")
        urls[org] = url
    return urls


# One label of a DNS host name: letters, digits and '-', not at either end (RFC 1123).
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _node_host(
    ctx: click.Context, param: click.Parameter, hosts: tuple[str, ...]
) -> tuple[str, ...]:
    """Names the node's TLS certificate can carry, refused before anything is made: an
    IP address (no IPv6 zone) or an ASCII DNS host name, whose last label is not all
    digits (an address mistyped); an international name in its xn-- form."""
    for host in hosts:
        try:
            good = not getattr(ipaddress.ip_address(host), "scope_id", None)
        except ValueError:
            labels = host.split(".")
            good = len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)
            good = good and not labels[-1].isdigit()
        if not good:
            hint = "" if host.isascii() else " (an international name goes in its xn-- form)"
            raise ValidationError(
                f"--node-host {host!r} is not a DNS host name or an IP address{hint}",
                code="invalid_host",
                field="--node-host",
            )
    return hosts


@consortium.command("prepare")
@directory_option
@click.option(
    "--site",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where each party gets its own directory (must not exist).",
)
@click.option(
    "--agency", "agencies", multiple=True, help="An agency that runs a gateway (repeatable)."
)
@click.option(
    "--witness",
    "witnesses",
    multiple=True,
    callback=_witness_url,
    help="ORG=URL: a member's witness and where the node reaches it (repeatable).",
)
@click.option(
    "--node-host",
    "node_hosts",
    multiple=True,
    default=("127.0.0.1",),
    callback=_node_host,
    show_default=True,
    help="A name the gateways reach the log node by, in its TLS certificate (repeatable).",
)
def consortium_prepare(
    directory: Path,
    site: Path,
    agencies: tuple[str, ...],
    witnesses: dict[str, str],
    node_hosts: tuple[str, ...],
) -> None:
    """Split the consortium in DIR into one directory per party under SITE, as each
    would hold it on its own machine: the node's (no member's key), each agency's
    (its own keys, the node's pinned certificate, its client certificate) and each
    witness's (its key). Without a consortium in DIR: the demo consortium."""
    from ledger_gw.topology import prepare

    found = _agencies(directory)
    agencies = agencies or found
    if site.exists():
        raise click.UsageError(f"{site} exists: the site is prepared once")
    layout = prepare(directory, site, agencies, list(witnesses), witnesses, node_hosts)
    for party in layout.parties():
        console.print(f"  {party}")


def _agencies(directory: Path) -> tuple[str, ...]:
    """Every agency of the consortium in ``directory`` (the demo's, made if none)."""
    from ledger_gw.demo.consortium import DEMO

    if not (directory / "consortium.json").exists():
        Workspace.create(directory, DEMO)
    members = Consortium.load(directory / "consortium.json").organisations.values()
    return tuple(o.org_id for o in members if o.role == "agency")


@consortium.command("up")
@directory_option
@click.option(
    "--site",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where each party gets its own directory (default: DIR-site beside DIR); "
    "reused when it exists.",
)
@click.option(
    "--agency",
    "agencies",
    multiple=True,
    help="An agency whose gateway to run (repeatable; default: every agency).",
)
@click.option(
    "--witness",
    "witnesses",
    multiple=True,
    help="A member whose witness to run (repeatable; default: the demo's two).",
)
@click.option(
    "--fresh",
    is_flag=True,
    help="Lay the site out anew (its ledger and all: with --new-ledger once its node made "
    "one, since a new ledger under the same log key is a fork of it).",
)
@new_ledger_option
@new_stores_option
def consortium_up(
    directory: Path,
    site: Path | None,
    agencies: tuple[str, ...],
    witnesses: tuple[str, ...],
    fresh: bool,
    new_ledger: bool,
    new_stores: bool,
) -> None:
    """Run the consortium on this machine: a log node, each agency's gateway and the
    members' witnesses, as processes on loopback ports, each given only its own
    party's directory. Without a consortium in DIR: the demo consortium. Ctrl-C stops
    them all."""
    from ledger_gw.demo.witnesses import DEMO_WITNESSES
    from ledger_gw.topology import running

    found = _agencies(directory)
    agencies = agencies or found
    witnesses = witnesses or DEMO_WITNESSES
    site = site or directory.resolve().parent / f"{directory.resolve().name}-site"
    signal.signal(signal.SIGTERM, _interrupt)
    with running(
        directory,
        site,
        agencies,
        witnesses,
        fresh=fresh,
        new_ledger=new_ledger,
        new_stores=new_stores,
    ) as topology:
        console.print(f"[bold]Log node[/]  {topology.node.url}  ({topology.layout.node})")
        for org, service in topology.witnesses.items():
            console.print(f"[bold]Witness[/]   {org:<10} {service.url}", highlight=False)
        for org, service in topology.gateways.items():
            token = topology.tokens[org]
            console.print(
                f"[bold]Gateway[/]   {org:<10} {service.url}  token {token}",
                highlight=False,
                soft_wrap=True,
            )
        console.print("[green]ready[/]: Ctrl-C stops them all", highlight=False)
        try:
            while all(s.process.poll() is None for s in topology.services()):
                time.sleep(0.5)
        except KeyboardInterrupt:
            console.print("stopping")
            for each in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C: still stop all
                signal.signal(each, signal.SIG_IGN)
            return
        stopped = [s.name for s in topology.services() if s.process.poll() is not None]
        raise click.ClickException(f"{', '.join(stopped)} stopped: see its log")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEMO_DIR,
    show_default=True,
    help="Directory to replay the journey in (not LEDGER_GW_DIR: never the one served).",
)
@click.option(
    "--fresh",
    is_flag=True,
    help="Start from a new consortium and an empty ledger: deletes --dir first, only if "
    "the demo made it.",
)
@click.option(
    "--backend",
    type=click.Choice(["embedded", "fabric"]),
    default="embedded",
    show_default=True,
    help="fabric: the network `network/network.sh up` started (LEDGER_GW_FABRIC_PROFILE).",
)
def demo(directory: Path, fresh: bool, backend: str) -> None:
    """Fatima's journey across three service points, end to end."""
    from ledger_gw.demo.journey import run_demo
    from ledger_gw.demo.made import remove_made
    from ledger_gw.demo.seed import create_demo
    from ledger_gw.demo.witnesses import running_witnesses

    if backend == "fabric":  # needs the `fabric` extra, which the embedded demo does not
        from ledger_gw.demo.fabric import run_fabric_demo

        run_fabric_demo(console)
        return
    if fresh:
        remove_made(directory, "give another --dir, or delete it yourself")
    create_demo(directory)
    with running_witnesses(directory):
        run_demo(Workspace.load(directory), console)
