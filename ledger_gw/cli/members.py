"""`ledger-gw member add`, `ledger-gw key rotate` and `ledger-gw pseudonym-key rotate`: a
consortium changing its members and their keys after `ledger-gw init`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

import click
from rich.console import Console

from chaincode.stub import ROLES, Role
from ledger_gw.bootstrap import rotate_key
from ledger_gw.cli.options import directory_option, regular_file
from ledger_gw.errors import ValidationError
from ledger_gw.files import read_secret
from ledger_gw.identity import Profile
from ledger_gw.workspace import Workspace

console = Console()


@click.group()
def member() -> None:
    """The consortium's members."""


@member.command("add")
@directory_option
@click.option("--org", "org_id", required=True, help="Its organisation ID, e.g. RIVER-AID.")
@click.option("--role", required=True, type=click.Choice(sorted(ROLES)))
@click.option("--display-name", required=True, help="How people and reports name it.")
@click.option("--iati-ref", help="Its IATI organisation identifier, e.g. XM-DAC-41121.")
@click.option("--iati-type", help="Its IATI OrganisationType code, e.g. 22.")
def member_add(
    directory: Path,
    org_id: str,
    role: str,
    display_name: str,
    iati_ref: str | None,
    iati_type: str | None,
) -> None:
    """Admit a new member: its CA and signing key in orgs/ORG, listed in the
    consortium file; no other member's directory is touched.

    Every member must be given the new consortium file (verifiers pin it), and
    gateways restarted to accept the new member's signatures."""
    ws = Workspace.load(directory).add_member(
        org_id, cast(Role, role), Profile(display_name, iati_ref, iati_type)
    )
    console.print(
        f"[green]{org_id} admitted[/] as {role}: its keys in {ws.root / 'orgs' / org_id}, "
        f"{len(ws.consortium.organisations)} members"
    )


# One PEM block, whatever its label, and nothing but blank space around it.
_ONE_PEM = re.compile(
    rb"\s*-----BEGIN ([A-Z0-9 ]+)-----\r?\n[A-Za-z0-9+/=\r\n]+-----END \1-----\s*"
)


def _ca_key(ctx: click.Context, param: click.Parameter, path: Path | None) -> Path | None:
    """A CA key file as its CA keeps it: a regular file, its owner's only, one PEM block.
    Read before the rotation starts, so that a FIFO is never waited on, and a key
    followed by something else (another key, a certificate, a paste gone wrong) is
    refused rather than cut to its first block."""
    if path is None or not path.exists():  # rotate_key says what is missing
        return path
    key = read_secret(regular_file(path, "--ca-key", 1 << 20), "signing key")
    if not _ONE_PEM.fullmatch(key):
        raise ValidationError(
            f"--ca-key {path} must hold one PEM private key and nothing else",
            code="malformed_key",
            field="--ca-key",
        )
    return path


@click.group()
def key() -> None:
    """Members' signing keys."""


@key.command("rotate")
@directory_option
@click.option("--org", "org_id", required=True, help="The member whose signing key to replace.")
@click.option(
    "--ca-key",
    type=click.Path(path_type=Path, dir_okay=False),
    callback=_ca_key,
    help="Its CA's private key: by default its ca.key, or in a Fabric network's state "
    "directory its MSP's CA key, in its own organisation's directory.",
)
def key_rotate(directory: Path, org_id: str, ca_key: Path | None) -> None:
    """Replace a member's signing key and certificate, issued by its CA.

    The consortium file keeps each key with when it was valid: what the old key signed
    still verifies, anything it signs from now on is refused. Restart the gateways
    that sign for the member."""
    ws = rotate_key(directory, org_id, ca_key)
    keys = ws.consortium.organisation(org_id).signing_keys
    console.print(
        f"[green]{org_id}'s signing key rotated[/]: key {len(keys)} since "
        f"{keys[-1].valid_from:%Y-%m-%d %H:%M:%S}Z, fingerprint {keys[-1].fingerprint[:16]}"
    )


@click.group("pseudonym-key")
def pseudonym_key() -> None:
    """The consortium's pseudonymisation key, shared by every member's gateway."""


@pseudonym_key.command("rotate")
@directory_option
def pseudonym_key_rotate(directory: Path) -> None:
    """Make a new current version of the pseudonymisation key, keeping the earlier ones
    in DIR/pseudonym.key.

    New registrations get IDs under the new version (k2.…). Registering someone again
    and POST /v1/pseudonyms still find her registration made under an earlier version,
    and answer with the ID she has: her ledger records are under it.

    Every member's gateway shares this key and reads it only when its workers start:
    stop each gateway, give it the new pseudonym.key (its owner's only, mode 0600) and
    start it again. Gateways on different versions, or one given the file while
    running, give a person new to them different IDs. A person registered before the
    rotation and new to another agency gets there the ID the ledger holds her records
    under; while its ledger cannot be read, an ID under the new version, not linked to
    her earlier one (a referral hands her ID over)."""
    key = Workspace.load(directory).rotate_pseudonym_key()
    earlier = ", ".join(f"k{each.version}" for each in key.earlier)
    console.print(
        f"[green]pseudonymisation key rotated[/]: k{key.version} is current, {earlier} "
        f"kept; give every gateway {directory / 'pseudonym.key'} and restart it"
    )
