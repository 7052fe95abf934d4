"""Sign a report as the gateway's organisation, and verify one by recomputing it.

The signature is ECDSA P-256 (low-S, as for transactions) over the RFC 8785
canonical JSON of the report with its ``signature`` member but for the ``value``: the
figures, who signed them, with which certificate and when (``signed_at``). The report
embeds its anchor (origin, tree size, root; or channel, height, head hash on Fabric), so
the signature binds the figures to one log prefix. :func:`verify_report` checks the
certificate against the consortium (valid now, and its member's signing key when the
report says it was signed, so a report signed before a routine key rotation still
verifies), the signature, and -- given the ledger's verifiable log, on either backend --
recomputes the figures at that anchor.

A report signed before signatures stated their time has no ``signed_at``, and its
signature is over the report without its ``signature`` member: its key is judged now,
so it stops verifying once its signer rotates its key (sign it again).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from chaincode.canonical import canonical_json
from chaincode.stub import Identity
from ledger_gw.consortium import Consortium
from ledger_gw.errors import ConflictError, IntegrityError, NotFoundError
from ledger_gw.identity import Signer
from ledger_gw.interfaces import Record, VerifiableLog, anchor_size
from ledger_gw.reports.accountability import ReportError, ReportQuery, compute_report
from ledger_gw.reports.release import DONOR_K
from ledger_gw.transaction import format_time, parse_time

ALGORITHM = "ECDSA-P256-SHA256"
CLOCK_SKEW = dt.timedelta(minutes=10)  # a verifier's clock may run behind its signer's
#: How long before its anchor's newest entry a report may say it was signed: a ledger
#: takes an entry dated up to CLOCK_SKEW ahead of its clock, and the signer's clock may
#: run as far behind it.
ANCHOR_SLACK = 2 * CLOCK_SKEW


def _unsigned(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "signature"}


def _body(report: dict[str, Any]) -> bytes:
    """What a signature stating no time covers: the report without its signature."""
    return canonical_json(_unsigned(report))


def _signed(report: dict[str, Any], sig: dict[str, Any]) -> bytes:
    """What a signature stating its time covers: the report with its ``signature``
    member but for the value. It always has a ``signature`` member, which :func:`_body`
    never has, so neither form's signature passes for the other's."""
    stated = {k: v for k, v in sig.items() if k != "value"}
    return canonical_json({**_unsigned(report), "signature": stated})


def sign_report(
    report: dict[str, Any], signer: Signer, *, at: dt.datetime | None = None
) -> dict[str, Any]:
    """The report with a ``signature`` member by ``signer``'s organisation, saying it
    was signed ``at`` (default: now)."""
    sig = {
        "org": signer.org_id,
        "algorithm": ALGORITHM,
        "certificate": signer.cert_pem,
        "signed_at": format_time(at or dt.datetime.now(dt.UTC)),
    }
    value = signer.sign(_signed(report, sig))
    return {**report, "signature": {**sig, "value": base64.b64encode(value).decode()}}


def verify_report(
    report: dict[str, Any],
    consortium: Consortium,
    log: VerifiableLog | None = None,
    *,
    donor: bool = False,
) -> str:
    """Check signature and (with ``log``) the figures; returns the signing org.

    The signing key must have been its member's when the report says it was signed
    (``signed_at``, never ahead of now beyond CLOCK_SKEW), its certificate valid now. A
    rotated-out key (stolen, say) may still date a report back before its rotation:
    given ``log``, the figures are then recomputed at the anchor, so they are the true
    ones, and a report dated before its anchor's entries were logged is refused.
    ``donor``: the report must also be a donor release (a calendar month on its
    lattice, at the consortium's k): a member's own report at a lower k, or off the
    lattice, is signed and true, and still no figure to hand a donor.
    Raises ReportError (or AuthenticationError for the certificate) on any mismatch.
    """
    sig = report.get("signature") if isinstance(report, dict) else None
    if not isinstance(sig, dict) or sig.get("algorithm") != ALGORITHM:
        raise ReportError("the report is not signed")
    now = dt.datetime.now(dt.UTC)
    try:
        value = base64.b64decode(str(sig.get("value")), validate=True)
        signed_at = _signed_at(sig)
        # canonical JSON: no float, no lone surrogate
        payload = _body(report) if signed_at is None else _signed(report, sig)
    except (TypeError, ValueError):
        raise ReportError("the report's signature or values are not in their form") from None
    if signed_at is not None and signed_at > now + CLOCK_SKEW:
        raise ReportError(f"the report says it was signed at {sig['signed_at']}, after now")
    identity = _signatory(str(sig.get("certificate")), value, payload, consortium, now, signed_at)
    if identity.org_id != sig.get("org"):
        raise ReportError(f"signed by {identity.org_id}, not {sig.get('org')}")
    if donor and not is_donor_release(report):
        raise ReportError(
            f"not a donor release: donors' figures are a calendar month on its lattice at "
            f"k={DONOR_K}, this report's query is {report.get('query')}"
        )
    if log is None:
        return identity.org_id
    try:
        anchor, q = report["anchor"], report["query"]
        at = log.anchor(anchor_size(anchor))
        if at.summary != anchor:
            raise ReportError("the ledger's root at the anchored size differs from the report's")
        records = _Read(log.records(at))
        again = compute_report(records, anchor=at.summary, query=ReportQuery(**q))
        newest = records.newest()
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # a year past 9999
        raise ReportError(f"the report's anchor or query is malformed: {exc}") from exc
    except (IntegrityError, NotFoundError, ConflictError) as exc:  # not yet witnessed
        raise ReportError(f"cannot recompute the report from this ledger: {exc}") from exc
    unsigned = _unsigned(report)
    if canonical_json(again) != canonical_json(unsigned):
        differing = sorted(k for k in again if again[k] != unsigned.get(k))
        raise ReportError(f"recomputed figures differ from the report's: {', '.join(differing)}")
    # An entry dated ahead of the verifier's clock bounds the signing time by that clock:
    # whose clock is wrong, the verifier cannot tell.
    logged = None if newest is None else min(newest, now)
    if signed_at is not None and logged is not None and signed_at < logged - ANCHOR_SLACK:
        raise ReportError(
            f"the report says it was signed at {sig['signed_at']}, before its anchor's "
            f"entries were logged (by {format_time(logged)})"
        )
    return identity.org_id


def _signed_at(sig: dict[str, Any]) -> dt.datetime | None:
    """When the report says it was signed (None: signed before reports said so)."""
    if "signed_at" not in sig:
        return None
    text = sig["signed_at"]
    if not isinstance(text, str):
        raise ValueError("signed_at is not a time")
    return parse_time(text)


def _signatory(
    pem: str,
    value: bytes,
    payload: bytes,
    consortium: Consortium,
    now: dt.datetime,
    signed_at: dt.datetime | None,
) -> Identity:
    """Whose signature ``value`` over ``payload`` is: the certificate valid ``now``, and
    its member's signing key when the report was signed (now, when it does not say)."""
    when = None if signed_at is None else min(signed_at, now)
    return consortium.authenticator().authenticate(pem, value, payload, now, signed_at=when)


class _Read:
    """Records as they are read, noting the newest time one states. A transaction read
    twice is refused: whoever holds the log's key can append a member's genuine signed
    transaction again, the witnesses cosign that as any extension, and the figures would
    count it twice (a ledger logs each transaction once)."""

    def __init__(self, records: Iterable[Record]) -> None:
        self._records = records
        self._newest = ""  # format_time: one width, so the greatest text is the latest time
        self._seen: set[str] = set()

    def __iter__(self) -> Iterator[Record]:
        for record in self._records:
            if record.tx_id in self._seen:
                raise IntegrityError(
                    f"transaction {record.tx_id[:16]} is logged again at position "
                    f"{record.position}",
                    code="transaction_logged_twice",
                )
            self._seen.add(record.tx_id)
            self._newest = max(self._newest, record.timestamp)
            yield record

    def newest(self) -> dt.datetime | None:
        """The latest time an entry read states (None: none read)."""
        return parse_time(self._newest) if self._newest else None


def is_donor_release(report: dict[str, Any]) -> bool:
    """Whether the report's query is the one the donor release policy allows: a month's
    slice at the consortium's k and the locations' donor precision, nothing else."""
    query = report.get("query")
    if not isinstance(query, dict) or set(query) != _DONOR_QUERY_KEYS:
        return False
    policy = {"on_lattice": True, "k": DONOR_K, "location_chars": DONOR_QUERY.location_chars}
    return all(
        type(query[name]) is type(value) and query[name] == value for name, value in policy.items()
    )


DONOR_QUERY = ReportQuery(k=DONOR_K, on_lattice=True)
_DONOR_QUERY_KEYS = frozenset(DONOR_QUERY.as_dict())
