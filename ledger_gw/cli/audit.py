"""`ledger-gw audit ...` and `ledger-gw report ...`: thin wrappers over their services.

`audit verify` needs only the bundle file and the consortium file the auditor pins
(on Fabric also the endorsement policy, and ideally the genesis block's hash); it prints
the report as JSON and exits 1 on any failure. Every command here that judges the log
(`audit verify|chain|watch`, `report verify`) takes the consortium file from the caller
(--consortium), never from the directory or the file it judges.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ledger_gw import strict_json
from ledger_gw.cli.options import (
    LogChoice,
    a_number,
    http_url,
    input_file,
    log_options,
    output_file,
    pinned_option,
    quorum_option,
    read_input,
    require_pinned,
    token_option,
)
from ledger_gw.consortium import Consortium
from ledger_gw.errors import (
    AuditFailedError,
    ConfigError,
    LogStaleError,
    MalformedError,
    UnavailableError,
    ValidationError,
)
from ledger_gw.files import PUBLIC, write_file
from ledger_gw.identity import Signer
from ledger_gw.interfaces import VerifiableLog, anchor_size
from ledger_gw.services import bundles, reports, tlog_proofs, watch
from ledger_gw.workspace import Workspace

# What a directory handed over with the ledger holds: whoever handed it over wrote it.
_DIRECTORYS_COPY = "the directory's own copy"
# The largest k a report is suppressed at, as the gateway's /v1/reports takes it (a k
# past 2**53 would not even sign: no interoperable JSON number).
MAX_K = 100


def _documents(specs: tuple[str, ...]) -> bundles.Documents:
    """REFERRAL_ID=PATH:SALT_HEX, as handed over by the agency holding the document."""
    docs: dict[str, tuple[bytes, bytes]] = {}
    for spec in specs:
        rid, equals, rest = spec.partition("=")
        path, colon, salt = rest.rpartition(":")
        if not (rid and equals and path and colon):
            raise ValidationError(
                f"--doc {spec!r}: expected REFERRAL_ID=PATH:SALT_HEX", field="--doc"
            )
        try:
            salted = bytes.fromhex(salt)
        except ValueError:
            raise ValidationError(f"--doc {spec!r}: the salt is not hex", field="--doc") from None
        docs[rid] = (read_input(Path(path), "--doc"), salted)
    return docs


@click.group()
def audit() -> None:
    """Offline audit bundles, referral-chain checks, checkpoint monitoring."""


@audit.command("bundle")
@click.option("--kind", type=click.Choice(bundles.CLAIM_KINDS), default="referral_chain")
@click.option("--subject", help="Referral or entitlement ID.")
@click.option("--tx", "tx_ids", multiple=True, help="Transaction IDs (kind events).")
@click.option(
    "--size",
    type=click.IntRange(min=0),
    help="Checkpoint tree size or Fabric height (default: latest).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=output_file,
    required=True,
)
@log_options
def audit_bundle(
    source: LogChoice,
    kind: str,
    subject: str | None,
    tx_ids: tuple[str, ...],
    size: int | None,
    out: Path,
) -> None:
    """Write an offline audit bundle for a referral chain, an entitlement or transactions:
    Merkle proofs on the embedded ledger, the blocks themselves on Fabric. A claim's
    events are found in the log's entries, never in the directory's world state."""
    with source.open() as (ws, log):
        bundle = bundles.build(
            log, ws.consortium, kind=kind, subject=subject, tx_ids=tx_ids, size=size
        )
    write_file(out, (json.dumps(bundle, indent=2) + "\n").encode(), PUBLIC)
    click.echo(f"{len(bundle['claim']['events'])} events written to {out}")


def _policy(text: str | None) -> tuple[int, frozenset[str]] | None:
    """N:ORG,ORG,... (OutOf(N, ORG, ...)), as --policy spells it."""
    if text is None:
        return None
    required, _, orgs = text.partition(":")
    among = frozenset(o for o in orgs.split(",") if o)
    try:
        n = int(required)
    except ValueError as exc:
        raise ValidationError(
            f"--policy {text!r}: expected N:ORG,ORG,...", field="--policy"
        ) from exc
    if not 1 <= n <= len(among):  # a pin any transaction meets, or none can
        raise ValidationError(
            f"--policy {text!r}: N must be from 1 to the number of organisations listed "
            f"({len(among)})",
            field="--policy",
        )
    return n, among


def _hex(text: str | None) -> bytes | None:
    try:
        return None if text is None else bytes.fromhex(text)
    except ValueError as exc:
        raise ValidationError(
            f"--genesis-hash {text!r} is not hex", field="--genesis-hash"
        ) from exc


def tlog_proof_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--entry, --leaf-hash and --block: what a tlog-proof proves is in the log."""
    command = click.option(
        "--block",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        help="Fabric tlog-proof: the transaction's block (protobuf), to check its content too.",
    )(command)
    command = click.option(
        "--leaf-hash", help="tlog-proof: the entry's RFC 6962 leaf hash (hex), if not --entry."
    )(command)
    return click.option(
        "--entry",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        help="tlog-proof: the log entry's bytes.",
    )(command)


def _verify_tlog_proof(
    proof: bytes,
    pinned: Consortium,
    quorum: int | None,
    entry: Path | None,
    leaf_hash: str | None,
    genesis_hash: bytes | None = None,
    block: Path | None = None,
) -> None:
    """A tlog-proof carries no consortium: it is checked against the pinned one only."""
    try:
        leaf = None if leaf_hash is None else bytes.fromhex(leaf_hash)
    except ValueError as exc:
        raise ValidationError(f"--leaf-hash {leaf_hash!r} is not hex", field="--leaf-hash") from exc
    proven = tlog_proofs.verify(
        proof,
        pinned,
        entry=read_input(entry, "--entry") if entry else None,
        leaf_hash=leaf,
        quorum=pinned.witness_quorum if quorum is None else quorum,
        genesis_hash=genesis_hash,
        block=read_input(block, "--block") if block else None,
    )
    click.echo(json.dumps(proven.to_dict(), indent=2))


@audit.command("verify")
@click.argument("bundle", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@pinned_option
@quorum_option
@click.option(
    "--min-size", type=click.IntRange(min=0), default=0, help="Tree size already trusted."
)
@click.option("--doc", "docs", multiple=True, help="REFERRAL_ID=PATH:SALT_HEX")
@click.option(
    "--genesis-hash",
    help="Fabric: the channel genesis block's header hash (hex); required for a tlog-proof.",
)
@click.option(
    "--policy", help="Fabric: the endorsement policy to pin, N:ORG,ORG,... (required there)."
)
@tlog_proof_options
def audit_verify(
    bundle: Path,
    consortium: Path | None,
    quorum: int | None,
    min_size: int,
    docs: tuple[str, ...],
    genesis_hash: str | None,
    policy: str | None,
    entry: Path | None,
    leaf_hash: str | None,
    block: Path | None,
) -> None:
    """Verify a bundle (Merkle or Fabric evidence) or a C2SP tlog-proof offline against
    the consortium file you pin, never the bundle's own copy; exit 1 on any failure."""
    pinned = require_pinned(consortium, "a bundle's own copy")
    data = read_input(bundle, "BUNDLE")
    if tlog_proofs.is_tlog_proof(data[:64]):
        _verify_tlog_proof(data, pinned, quorum, entry, leaf_hash, _hex(genesis_hash), block)
        return
    report = bundles.verify_bytes(
        data,
        pinned,
        quorum=quorum,
        min_tree_size=min_size,
        documents=_documents(docs),
        genesis_hash=_hex(genesis_hash),
        policy=_policy(policy),
    )
    click.echo(json.dumps(report.to_dict(), indent=2))
    if not report.ok:
        first = report.failures[0]
        raise AuditFailedError(
            f"{len(report.failures)} failure(s), first: {first.code}: {first.message}"
        )


@audit.command("chain")
@click.argument("referral_id")
@pinned_option
@quorum_option
@click.option(
    "--min-size",
    type=click.IntRange(min=0),
    default=0,
    help="Tree size already trusted: an older anchor fails (stale_checkpoint).",
)
@click.option("--doc", "docs", multiple=True, help="REFERRAL_ID=PATH:SALT_HEX")
@log_options
def audit_chain(
    source: LogChoice,
    referral_id: str,
    consortium: Path | None,
    quorum: int | None,
    min_size: int,
    docs: tuple[str, ...],
) -> None:
    """Walk a referral chain on the ledger and print each step's verdict, then the anchor
    they were judged at, the ledger read under the consortium file you pin (its log key,
    origin, witnesses and members) and the chain's events found in its entries."""
    pinned = require_pinned(consortium, _DIRECTORYS_COPY)
    documents = _documents(docs)
    with source.open(pinned=pinned) as (ws, log):
        report = bundles.judge_chain(
            log,
            ws.consortium,
            referral_id,
            quorum=quorum,
            min_tree_size=min_size,
            documents=documents,
        )
        anchor = _anchor_line(report.anchor, log)
    for step in report.steps:
        mark = "PASS" if step.ok else "FAIL"
        click.echo(
            f"{mark} {step.position:>6} {step.type:<20} {step.org} "
            f"{step.state_before} -> {step.state_after}"
        )
        for reason in step.reasons:
            click.echo(f"       {reason}")
    click.echo(anchor)
    if not report.ok:
        raise AuditFailedError("; ".join(f"{f.code}: {f.message}" for f in report.failures))


def _anchor_line(anchor: dict[str, Any], log: VerifiableLog) -> str:
    """What the verdict is of: the log up to this anchor, who vouched for it, and how
    many of the ledger's entries lie beyond it, unjudged (a copy whose newest checkpoints
    were deleted anchors at an older one: ``--min-size`` refuses that)."""
    if "tree_size" in anchor:
        point = f"tree size {anchor['tree_size']} root {anchor['root']}"
        witnesses = anchor.get("witnesses") or []
        beyond = log.size() - anchor["tree_size"]
    elif "head" in anchor:  # Fabric: the blocks up to this height
        point = f"channel {anchor['channel']} height {anchor['head'] + 1}"
        witnesses = anchor.get("validity_witnesses") or []
        beyond = 0
    else:
        return "anchor: none verified"
    later = f"; {beyond} later entr{'y' if beyond == 1 else 'ies'} not judged" if beyond > 0 else ""
    return f"anchor: {point}, cosigned by {', '.join(witnesses) or 'no witness'}{later}"


@audit.command("watch")
@log_options
@click.option(
    "--url",
    callback=http_url,
    help="A gateway whose log to watch over HTTP, from its tiles (/v1/log).",
)
@token_option
@pinned_option
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=input_file,
    required=True,
)
@click.option(
    "--quorum",
    type=click.IntRange(min=0),
    help="Witness cosignatures a checkpoint needs to be trusted (default: the consortium's).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1, max=86400),
    callback=a_number,
    default=10.0,
    show_default=True,
    help="Seconds between polls.",
)
@click.option(
    "--count", type=click.IntRange(min=0), default=0, help="Polls before exiting (0: forever)."
)
@click.option(
    "--max-age",
    type=click.FloatRange(min=1, max=365 * 86400),
    callback=a_number,
    help="Seconds since the witness quorum last cosigned what the log serves, at most "
    "(LOG STALE past it: a frozen view, or witnesses down). The embedded ledger and a "
    "log node have their latest checkpoint cosigned again every 10 minutes while idle; "
    "not for Fabric, whose members sign a statement of any height when asked.",
)
def audit_watch(
    source: LogChoice,
    url: str | None,
    token: str | None,
    consortium: Path | None,
    state: Path,
    quorum: int | None,
    interval: float,
    count: int,
    max_age: float | None,
) -> None:
    """Prove every new checkpoint consistent with the last one trusted: read from the
    ledger's database, or with --url from a gateway's tiles, computing the proofs here;
    on Fabric (--backend fabric) the members' validity log, through a member's peer.
    Checkpoints are checked against the consortium file you pin."""
    pinned = require_pinned(consortium, _DIRECTORYS_COPY)
    age = None if max_age is None else dt.timedelta(seconds=max_age)
    if url is not None:
        _watch(lambda: watch.poll_remote(state, pinned, url, token, quorum, age), interval, count)
        return
    with source.open(pinned=pinned) as (ws, log):
        _watch(lambda: watch.poll(state, ws.consortium, log, quorum, age), interval, count)


def _watch(poll: Callable[[], watch.Observation], interval: float, count: int) -> None:
    """Polls, each told on a line. A watch that runs for ever (``count`` 0) outlives an
    outage of the log, of its own network, or of the witnesses (LOG STALE): said, and
    tried again at the next poll; anything the log answered that does not hold still
    ends it."""
    polls = 0
    while True:
        try:
            seen = poll()
        except UnavailableError as exc:
            if count:
                raise
            said = "stale" if isinstance(exc, LogStaleError) else "unreachable"
            click.echo(f"{said}: {exc}", err=True)
        else:
            cosigned = f" cosigned by {', '.join(sorted(seen.witnesses))}" if seen.witnesses else ""
            click.echo(
                f"{seen.status}: size {seen.old_size} -> {seen.new_size} root {seen.root}{cosigned}"
            )
        polls += 1
        if count and polls >= count:
            return
        time.sleep(interval)


@click.group()
def report() -> None:
    """Donor accountability reports: anchored, signed, small cells suppressed."""


@report.command("accountability")
@click.option("--org", help="Organisation whose activity is reported (default: all).")
@click.option("--programme")
@click.option("--from", "start", help="YYYY-MM-DD")
@click.option("--to", "end", help="YYYY-MM-DD")
@click.option(
    "--k",
    type=click.IntRange(max=MAX_K),
    default=reports.DEFAULT_K,
    show_default=True,
    help=f"Smallest count of people published ({reports.DEFAULT_K} to {MAX_K}).",
)
@click.option("--sign-as", "sign_as", help="Organisation whose gateway key signs the report.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv", "hxl", "iati"]),
    default="json",
    show_default=True,
)
@click.option("--glide", help="GLIDE number for the IATI humanitarian scope.")
@log_options
def report_accountability(
    source: LogChoice,
    org: str | None,
    programme: str | None,
    start: str | None,
    end: str | None,
    k: int,
    sign_as: str | None,
    fmt: str,
    glide: str | None,
) -> None:
    """Compute the report at the latest checkpoint (Fabric: the head block) and print it."""
    if fmt == "iati" and sign_as is None and org is None:  # said before any reading
        raise click.UsageError(
            "an IATI export names its reporting organisation: --org or --sign-as"
        )
    query = reports.ReportQuery(
        org, programme, reports.report_day(start, "--from"), reports.report_day(end, "--to"), k
    )
    with source.open() as (ws, log):
        reports.check_query(ws.consortium, org, programme, query.start, query.end, k)
        signer = _signer(ws, sign_as)
        data = reports.report_at(log, query)
        first = reports.first_day(log, query) if fmt == "iati" else None
    if signer is not None:
        data = reports.sign(data, signer)
    reporting = sign_as or org
    name = reporting or ws.consortium.name
    profile = ws.consortium.profile(name) if reporting else reports.Profile(name)
    implementing, funding = (
        reports.participants(ws.consortium, name, org) if reporting else (None, None)
    )
    body, _, _ = reports.export(
        data, fmt, profile, glide, first, implementing=implementing, funding=funding
    )
    click.echo(body.decode(), nl=False)


def _signer(ws: Workspace, org_id: str | None) -> Signer | None:
    """The key ``--sign-as`` names, found before the report is computed: a member's,
    held in the directory."""
    if org_id is None:
        return None
    if org_id not in ws.consortium.organisations:
        raise ValidationError(
            f"--sign-as {org_id!r} is not a member of consortium {ws.consortium.name}",
            code="unknown_org",
            field="--sign-as",
        )
    try:
        return ws.signer(org_id)
    except ConfigError as exc:  # a gateway's directory holds its own member's keys only
        raise ConfigError(
            f"--sign-as {org_id}: no usable signing key of {org_id} in {ws.root}: {exc}",
            code="no_signing_key",
        ) from exc


@report.command("verify")
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@pinned_option
@click.option(
    "--donor",
    is_flag=True,
    help="Also require a donor release: a calendar month on its lattice, at the consortium's k.",
)
@log_options
def report_verify(
    source: LogChoice,
    path: Path,
    consortium: Path | None,
    donor: bool,
) -> None:
    """Check a signed JSON report's signature against the consortium you pin and
    recompute its figures from the ledger, read under that file; say whether it is a
    donor release."""
    pinned = require_pinned(consortium, _DIRECTORYS_COPY)
    report = _report_file(path)
    with source.open(pinned=pinned) as (_, log):
        org = reports.verify(report, pinned, log, donor=donor)
        latest = anchor_size(log.anchor().summary)
    release = (
        "a donor release"
        if reports.is_donor_release(report)
        else "NOT a donor release (not a month on its lattice at the consortium's k)"
    )
    click.echo(f"report verifies: signed by {org}, figures recomputed from the ledger; {release}")
    click.echo(_as_of(anchor_size(report["anchor"]), latest))


def _as_of(anchored: int, latest: int) -> str:
    """How far the report's figures reach: a true report of an older prefix verifies
    too, and must not pass for the ledger's figures now."""
    if anchored >= latest:
        return f"as of size {anchored}, the ledger's latest witnessed anchor"
    return (
        f"as of size {anchored}: the ledger's latest witnessed anchor is size {latest}, "
        "and nothing logged since is counted"
    )


def _report_file(path: Path) -> dict[str, Any]:
    """A signed report file's JSON object; ValidationError for anything else. Read as
    I-JSON: a key given twice would verify as its last value and show elsewhere as its
    first, and nesting past the parser's stack would end the command in a traceback."""
    try:
        report = strict_json.loads(read_input(path, "PATH"))
    except MalformedError as exc:
        raise ValidationError(
            f"{path} is not a JSON report: {exc}", code=exc.code, field="PATH"
        ) from None
    if not isinstance(report, dict):
        raise ValidationError(f"{path} is not a JSON report object", field="PATH")
    return report
