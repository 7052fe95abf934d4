"""Sign a report as the gateway's organisation, and verify one by recomputing it.

The signature is ECDSA P-256 (low-S, as for transactions) over the RFC 8785
canonical JSON of the report without its ``signature`` member; the report embeds
its anchor (origin, tree size, root; or channel, height, head hash on Fabric), so the
signature binds the figures to one log prefix. :func:`verify_report` checks the
certificate against the consortium, the signature, and -- given the ledger's
verifiable log, on either backend -- recomputes the figures at that anchor.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from chaincode.canonical import canonical_json
from ledger_gw.consortium import Consortium
from ledger_gw.errors import ConflictError, IntegrityError, NotFoundError
from ledger_gw.identity import Signer
from ledger_gw.interfaces import VerifiableLog, anchor_size
from ledger_gw.reports.accountability import ReportError, ReportQuery, compute_report
from ledger_gw.reports.release import DONOR_K

ALGORITHM = "ECDSA-P256-SHA256"


def _body(report: dict[str, Any]) -> bytes:
    return canonical_json({k: v for k, v in report.items() if k != "signature"})


def sign_report(report: dict[str, Any], signer: Signer) -> dict[str, Any]:
    """The report with a ``signature`` member by ``signer``'s organisation."""
    return {
        **report,
        "signature": {
            "org": signer.org_id,
            "algorithm": ALGORITHM,
            "certificate": signer.cert_pem,
            "value": base64.b64encode(signer.sign(_body(report))).decode(),
        },
    }


def verify_report(
    report: dict[str, Any],
    consortium: Consortium,
    log: VerifiableLog | None = None,
    *,
    donor: bool = False,
) -> str:
    """Check signature and (with ``log``) the figures; returns the signing org.

    ``donor``: the report must also be a donor release (a calendar month on its
    lattice, at the consortium's k): a member's own report at a lower k, or off the
    lattice, is signed and true, and still no figure to hand a donor.
    Raises ReportError (or AuthenticationError for the certificate) on any mismatch.
    """
    sig = report.get("signature") if isinstance(report, dict) else None
    if not isinstance(sig, dict) or sig.get("algorithm") != ALGORITHM:
        raise ReportError("the report is not signed")
    try:
        value = base64.b64decode(str(sig.get("value")), validate=True)
        body = _body(report)  # canonical JSON: no float, no lone surrogate
    except (TypeError, ValueError):
        raise ReportError("the report's signature or values are not in their form") from None
    identity = consortium.authenticator().authenticate(
        str(sig.get("certificate")), value, body, dt.datetime.now(dt.UTC)
    )
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
        again = compute_report(log.records(at), anchor=at.summary, query=ReportQuery(**q))
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # a year past 9999
        raise ReportError(f"the report's anchor or query is malformed: {exc}") from exc
    except (IntegrityError, NotFoundError, ConflictError) as exc:  # not yet witnessed
        raise ReportError(f"cannot recompute the report from this ledger: {exc}") from exc
    unsigned = {k: v for k, v in report.items() if k != "signature"}
    if canonical_json(again) != canonical_json(unsigned):
        differing = sorted(k for k in again if again[k] != unsigned.get(k))
        raise ReportError(f"recomputed figures differ from the report's: {', '.join(differing)}")
    return identity.org_id


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
