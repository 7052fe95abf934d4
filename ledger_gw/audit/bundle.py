"""Build an offline audit bundle from either ledger (any :class:`VerifiableLog`).

A bundle is one JSON file an auditor can check with nothing else (see
:mod:`ledger_gw.audit.verify`)::

    {
      "format": "ledger-gw/audit-bundle/v1",
      "claim": {"kind": "referral_chain" | "entitlement" | "events",
                "subject": <referral or entitlement ID, absent for "events">,
                "events": [<event IDs, in log order>]},
      "consortium": <the consortium file: CA certificates, log key, witness keys>,
      "evidence": {"kind": "merkle/rfc9162-v1",
                   "checkpoint": <signed note with cosignatures>,
                   "tree_size": N,
                   "entries": [{"index": i, "entry": {"tx", "result", "effects"},
                                "proof": [<base64 hashes>]}]}
                  | {"kind": "fabric/blocks-v1", ...}  (ledger_gw.audit.fabric_evidence)
    }

The claim says what the bundle pretends to contain ("every event of referral X's
chain as of tree size N"), so the verifier can tell an event dropped from the evidence
alone from a short history. Nobody signs the claim: whoever drops an event from both
goes unseen, unless a state transition then breaks. A bundle proves that each event it
holds is in the witnessed log, signed and consistent with the others, not that none
was left out; completeness is judged against a log verified whole. Selection reads the
records the log offers for the claim's subject (:meth:`VerifiableLog.claim_records`: the
person's records through a gateway's own embedded ledger's world state, every record up
to the anchor of a ledger handed over, whose world state is its holder's word, and on
Fabric) or, for a list of transactions, scans the log up to the anchor: either way it is the
builder's cost, never the verifier's, and it selects the same events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from ledger_gw.consortium import Consortium
from ledger_gw.errors import AuditError
from ledger_gw.interfaces import Record, VerifiableLog

BUNDLE_FORMAT = "ledger-gw/audit-bundle/v1"
CLAIM_KINDS = ("referral_chain", "entitlement", "events")


def referral_chain_ids(events: Iterable[dict[str, Any]], referral_id: str) -> list[str]:
    """The referral, its ancestors up to the root, and its descendants, from created events."""
    parent: dict[str, str | None] = {}
    children: dict[str, list[str]] = defaultdict(list)
    for ev in events:
        if ev.get("type") == "referral.created":
            rid, par = str(ev["referral_id"]), ev.get("parent_referral_id")
            parent[rid] = par
            if par is not None:
                children[str(par)].append(rid)
    if referral_id not in parent:
        raise AuditError(f"referral {referral_id} is not in the log", code="not_found")
    chain: list[str] = []
    cursor: str | None = referral_id
    while cursor is not None and cursor not in chain:
        chain.append(cursor)
        cursor = parent.get(cursor)
    todo = list(children[referral_id])
    while todo:
        rid = todo.pop()
        if rid not in chain:
            chain.append(rid)
            todo.extend(children[rid])
    return chain


def _select(
    records: Sequence[Record], kind: str, subject: str | None, tx_ids: Sequence[str]
) -> list[Record]:
    if kind == "events":
        wanted = set(tx_ids)
        return [r for r in records if r.tx_id in wanted]
    if subject is None:
        raise AuditError(f"a {kind} bundle needs a subject ID")
    if kind == "entitlement":
        return [r for r in records if r.event.get("entitlement_id") == subject]
    chain = set(referral_chain_ids((r.event for r in records), subject))
    return [r for r in records if r.event.get("referral_id") in chain]


def build_bundle(
    log: VerifiableLog,
    consortium: Consortium,
    *,
    kind: str,
    subject: str | None = None,
    tx_ids: Sequence[str] = (),
    size: int | None = None,
) -> dict[str, Any]:
    """Collect the claimed events with the log's evidence at one anchor.

    ``size`` picks the anchor (a stored checkpoint's tree size, or a Fabric block
    height; default: the latest). An embedded checkpoint is copied with every
    cosignature it has gathered.
    """
    if kind not in CLAIM_KINDS:
        raise AuditError(f"unknown claim kind {kind!r}; use one of {', '.join(CLAIM_KINDS)}")
    anchor = log.anchor(size)
    candidates = (
        log.claim_records(anchor, kind, subject)
        if kind != "events" and subject is not None
        else list(log.records(anchor))
    )
    selected = _select(candidates, kind, subject, tx_ids)
    if not selected:
        raise AuditError("no log entry matches the claim", code="not_found")
    claim: dict[str, Any] = {
        "kind": kind,
        "events": [str(r.event.get("event_id")) for r in selected],
    }
    if subject is not None and kind != "events":
        claim["subject"] = subject
    return {
        "format": BUNDLE_FORMAT,
        "claim": claim,
        "consortium": consortium.to_dict(),
        "evidence": log.evidence(selected, anchor),
    }
