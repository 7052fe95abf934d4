"""Evidence that events are in the ledger, by backend: the ``evidence.kind`` of a bundle.

The embedded ledger proves membership with RFC 9162 inclusion proofs against a
C2SP checkpoint signed by the log and cosigned by witnesses (``merkle/rfc9162-v1``,
here). Fabric proves it with blocks, their hash chain, the orderers' signatures and
the endorsements (``fabric/blocks-v1``, :mod:`ledger_gw.audit.fabric_evidence`).
:func:`evidence_verifier` picks one by kind. An evidence verifier only establishes
*which entries the ledger holds*; signatures, claims and state machines are checked
by the caller the same way for every backend.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaincode.canonical import canonical_json
from ledger_gw.audit.model import Failure
from ledger_gw.consortium import Consortium
from ledger_gw.errors import LedgerError
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.entry import Entry
from ledger_gw.log.merkle import ProofError, leaf_hash, verify_inclusion
from ledger_gw.log.note import NoteError
from ledger_gw.transaction import SignedTransaction

MERKLE_KIND = "merkle/rfc9162-v1"
FABRIC_KIND = "fabric/blocks-v1"


@dataclass(frozen=True)
class EvidenceOptions:
    """What the auditor pins: witness quorum and the smallest tree size it accepts
    (Merkle); the channel's genesis block hash and the endorsement policy (Fabric)."""

    quorum: int = 1
    min_tree_size: int = 0
    genesis_hash: bytes | None = None
    endorsement_policy: tuple[int, frozenset[str]] | None = None


@dataclass(frozen=True)
class Submission:
    """Who submitted an event and what it said, already verified by the evidence itself.

    A Fabric transaction is signed by its submitter in Fabric's own envelope, not as a
    :class:`SignedTransaction`; its verifier checks that signature against the channel's
    CAs and hands over the result here. ``problems`` holds the submitter-signature
    failures, reported like the embedded ledger's transaction signature failures.
    """

    tx_id: str
    timestamp: str
    event: dict[str, Any]
    org: str | None
    problems: tuple[Failure, ...] = ()


@dataclass
class EvidenceItem:
    """One transaction as the evidence presents it, and whether it is proven included.

    Exactly one of ``tx`` (a signed transaction the caller authenticates against the
    consortium) and ``submission`` (a submitter the evidence verified) is set.
    """

    position: int
    tx: SignedTransaction | None
    result: dict[str, Any]
    included: bool
    submission: Submission | None = None


@dataclass
class EvidenceResult:
    """What an evidence verifier found: the items, the anchor it proved them against."""

    items: list[EvidenceItem] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    anchor: dict[str, Any] = field(default_factory=dict)


EvidenceVerifier = Callable[[Mapping[str, Any], Consortium, EvidenceOptions], EvidenceResult]


def evidence_verifier(kind: str) -> EvidenceVerifier | None:
    """The verifier of one evidence kind; None when unknown, or when it is Fabric's and
    the ``fabric`` extra (its protocol buffers) is not installed."""
    if kind == MERKLE_KIND:
        return verify_merkle
    if kind == FABRIC_KIND:
        try:
            from ledger_gw.audit.fabric_evidence import verify_fabric
        except ImportError:
            return None
        return verify_fabric
    return None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("expected a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"not base64: {exc}") from exc


def entry_to_json(tx: SignedTransaction, entry: Entry) -> dict[str, Any]:
    """A log entry in readable form, its transaction with the signer's certificate in
    full; :func:`entry_bytes` restores the exact leaf bytes, which name that certificate
    by its hash."""
    return {
        "tx": tx.to_dict(),
        "result": json.loads(entry.result),
        "effects": entry.effects,
    }


def entry_bytes(obj: Mapping[str, Any]) -> tuple[SignedTransaction, Entry, bytes]:
    """The canonical leaf bytes of a readable entry, with the transaction and entry they
    hold (ValueError if it is not one)."""
    try:
        tx = SignedTransaction.from_dict(obj["tx"])
        effects = obj["effects"]
        # Written into the leaf as it is: anything but the digest's 64 hex digits could
        # carry quotes, and leaf bytes that read as other fields than the bundle's.
        if not (isinstance(effects, str) and _DIGEST.fullmatch(effects)):
            raise TypeError("effects is not a SHA-256 hex digest")
        entry = tx.entry(canonical_json(obj["result"]), effects)
    except (KeyError, TypeError, LedgerError) as exc:
        raise ValueError(f"not a log entry: {exc}") from exc
    return tx, entry, entry.to_bytes()


_DIGEST = re.compile(r"[0-9a-f]{64}")


def _checkpoint_failure(exc: ckpt.CheckpointError, witness_names: set[str]) -> Failure:
    text = str(exc)
    if "quorum" in text:
        return Failure("quorum_not_met", f"checkpoint: {text}")
    if "invalid signature by known key" in text:
        name = text.rsplit(" ", 1)[-1].split("+", 1)[0]
        if name in witness_names:
            return Failure("bad_cosignature", f"checkpoint cosignature does not verify: {text}")
        return Failure("bad_checkpoint_signature", f"checkpoint log signature is invalid: {text}")
    return Failure("bad_checkpoint", f"checkpoint does not open: {text}")


def _open(
    note: object, consortium: Consortium, quorum: int
) -> tuple[ckpt.VerifiedCheckpoint | None, Failure | None]:
    if not isinstance(note, str):
        return None, Failure("malformed_bundle", "evidence.checkpoint must be a signed note")
    names: set[str] = set()
    try:
        witnesses = consortium.witness_verifiers()
        names = {w.name for w in witnesses}
        log_key = ckpt.NoteVerifier.from_vkey(consortium.log_vkey)
        return ckpt.open_checkpoint(
            note, log_key, witnesses, quorum, origin=consortium.origin
        ), None
    except ckpt.CheckpointError as exc:
        return None, _checkpoint_failure(exc, names)
    except (NoteError, ValueError) as exc:
        return None, Failure("bad_checkpoint", f"checkpoint cannot be checked: {exc}")


def verify_merkle(
    evidence: Mapping[str, Any], consortium: Consortium, options: EvidenceOptions
) -> EvidenceResult:
    """RFC 9162 inclusion of every entry in the tree the checkpoint signs.

    Order of the checks, so each tampering gets its own reason: the checkpoint
    (log signature, cosignatures, quorum), its freshness (``min_tree_size``, and
    no entry may sit beyond it), then each entry's inclusion proof.
    """
    out = EvidenceResult()
    verified, failure = _open(evidence.get("checkpoint"), consortium, options.quorum)
    if failure is not None:
        out.failures.append(failure)
    cp = verified.checkpoint if verified is not None else None
    if cp is not None:
        out.anchor = {
            "kind": MERKLE_KIND,
            "origin": cp.origin,
            "tree_size": cp.size,
            "root": b64(cp.root_hash),
            "witnesses": list(verified.witnesses) if verified else [],
        }
        if cp.size < options.min_tree_size:
            out.failures.append(
                Failure(
                    "stale_checkpoint",
                    f"checkpoint size {cp.size} is older than the tree size "
                    f"{options.min_tree_size} the auditor already trusts",
                )
            )
        if evidence.get("tree_size") != cp.size:
            out.failures.append(
                Failure(
                    "evidence_size_mismatch",
                    f"proofs are for tree size {evidence.get('tree_size')!r}, "
                    f"the checkpoint signs size {cp.size}",
                )
            )
    entries = evidence.get("entries")
    if not isinstance(entries, list):
        out.failures.append(Failure("malformed_bundle", "evidence.entries must be a list"))
        return out
    for raw in entries:
        item = _merkle_item(raw, cp, out.failures)
        if item is not None:
            out.items.append(item)
    return out


def _merkle_item(
    raw: object, cp: ckpt.Checkpoint | None, failures: list[Failure]
) -> EvidenceItem | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("index"), int):
        failures.append(Failure("malformed_entry", "an evidence entry lacks an integer index"))
        return None
    position: int = raw["index"]
    try:
        tx, entry, data = entry_bytes(raw.get("entry") or {})
        proof = [unb64(h) for h in _listed(raw.get("proof", []), "the inclusion proof")]
    except ValueError as exc:
        failures.append(Failure("malformed_entry", str(exc), position))
        return None
    item = EvidenceItem(position, tx, json.loads(entry.result), included=False)
    if cp is None:
        return item
    if position >= cp.size:
        failures.append(
            Failure(
                "stale_checkpoint",
                f"the checkpoint (size {cp.size}) predates log position {position}: "
                "it cannot include this entry",
                position,
            )
        )
        return item
    try:
        verify_inclusion(leaf_hash(data), position, cp.size, proof, cp.root_hash)
    except ProofError as exc:
        failures.append(
            Failure(
                "not_included",
                f"entry at position {position} is not in the checkpointed tree: {exc}",
                position,
            )
        )
        return item
    item.included = True
    return item


def _listed(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list")
    return value


def merkle_evidence(
    note: str,
    tree_size: int,
    entries: Sequence[tuple[int, SignedTransaction, Entry, Sequence[bytes]]],
) -> dict[str, Any]:
    """The ``evidence`` object of an embedded-ledger bundle."""
    return {
        "kind": MERKLE_KIND,
        "checkpoint": note,
        "tree_size": tree_size,
        "entries": [
            {
                "index": position,
                "entry": entry_to_json(tx, entry),
                "proof": [b64(h) for h in proof],
            }
            for position, tx, entry, proof in entries
        ],
    }
