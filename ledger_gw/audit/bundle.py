"""Build an offline audit bundle from an embedded ledger.

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
    }

The claim says what the bundle pretends to contain ("every event of referral X's
chain as of tree size N"), so the verifier can tell a dropped event from a short
history. Selection scans the log once up to the checkpoint: it is the builder's
cost, never the verifier's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from ledger_gw.audit.errors import AuditError
from ledger_gw.audit.evidence import merkle_evidence
from ledger_gw.consortium import Consortium
from ledger_gw.embedded.reader import LogReader
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.entry import Entry
from ledger_gw.log.note import Note

BUNDLE_FORMAT = "ledger-gw/audit-bundle/v1"
CLAIM_KINDS = ("referral_chain", "entitlement", "events")


def _event(entry: Entry) -> dict[str, Any]:
    args = entry.tx.proposal.args
    return args[0] if args and isinstance(args[0], dict) else {}


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
    entries: Sequence[tuple[int, Entry]], kind: str, subject: str | None, tx_ids: Sequence[str]
) -> list[int]:
    if kind == "events":
        wanted = set(tx_ids)
        return [p for p, e in entries if e.tx.tx_id in wanted]
    if subject is None:
        raise AuditError(f"a {kind} bundle needs a subject ID")
    if kind == "entitlement":
        return [p for p, e in entries if _event(e).get("entitlement_id") == subject]
    chain = set(referral_chain_ids((_event(e) for _, e in entries), subject))
    return [p for p, e in entries if _event(e).get("referral_id") in chain]


def build_bundle(
    reader: LogReader,
    consortium: Consortium,
    *,
    kind: str,
    subject: str | None = None,
    tx_ids: Sequence[str] = (),
    size: int | None = None,
) -> dict[str, Any]:
    """Collect the claimed events with inclusion proofs against one checkpoint.

    ``size`` picks a stored checkpoint (default: the latest); the note is copied
    with every cosignature it has gathered.
    """
    if kind not in CLAIM_KINDS:
        raise AuditError(f"unknown claim kind {kind!r}; use one of {', '.join(CLAIM_KINDS)}")
    note = reader.checkpoint(size)
    tree_size = ckpt.Checkpoint.parse(Note.parse(note).text).size
    scanned: list[tuple[int, Entry]] = []
    raw: dict[int, bytes] = {}
    for position, data in reader.entries():
        if position >= tree_size:
            break
        scanned.append((position, Entry.from_bytes(data)))
        raw[position] = data
    positions = _select(scanned, kind, subject, tx_ids)
    if not positions:
        raise AuditError("no log entry matches the claim", code="not_found")
    by_position = dict(scanned)
    claim: dict[str, Any] = {
        "kind": kind,
        "events": [str(_event(by_position[p]).get("event_id")) for p in positions],
    }
    if subject is not None and kind != "events":
        claim["subject"] = subject
    evidence = merkle_evidence(
        note,
        tree_size,
        [(p, raw[p], reader.inclusion_proof(p, tree_size)) for p in positions],
    )
    return {
        "format": BUNDLE_FORMAT,
        "claim": claim,
        "consortium": consortium.to_dict(),
        "evidence": evidence,
    }
