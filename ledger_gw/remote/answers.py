"""What a log node's answer to a query must prove: each event record it shows.

The node answers a query from its copy of the contract's state, which a gateway cannot
read. An event record, though, is the contract's copy of one logged transaction: the
event as its organisation signed it, that organisation, the transaction's ID and time,
and the person the contract found it to be about (in the result it logged). So the node
hands over, with its answer, the entry of each transaction a record names (and the
certificates they name by hash), with an inclusion proof to a checkpoint its log key
signed; the gateway checks that a member signed it, as the organisation the record
names, and that it holds exactly what the record says. A node can then neither show an
event no member signed nor alter one.

What this cannot prove: that the answer leaves no record out, and what the contract
derives from many events (an entitlement's balance, a referral's state, consents),
which stay the node's word; nor, for a tree the node signed for this gateway alone, that
the witnesses will see the same (a member's signed event its contract refused could sit
in such a tree).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import orjson

from chaincode.canonical import canonical_json
from chaincode.consent import category_of
from chaincode.errors import ContractError
from chaincode.schemas import parse_event
from ledger_gw.consortium import Consortium
from ledger_gw.errors import IntegrityError, LedgerError
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.entry import Entry
from ledger_gw.log.merkle import ProofError, leaf_hash, verify_inclusion
from ledger_gw.transaction import SignedTransaction, certificate_ref

#: The keys of an event record as the contract writes it, no more, no fewer.
RECORD_KEYS = frozenset({"event", "org", "tx_id", "timestamp", "category", "pid"})


def event_records(answer: Any) -> list[dict[str, Any]]:
    """Each event record of a query's answer, at any depth: every dict that has an
    ``event`` (no other object the contract answers has one)."""
    found: list[dict[str, Any]] = []
    pending = [answer]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if "event" in item:
                found.append(item)
            else:
                pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


class ProvenAnswers:
    """Checks a node's answers against the consortium: its members' CAs and the log key."""

    def __init__(self, consortium: Consortium) -> None:
        self._auth = consortium.authenticator()
        self._log_key = ckpt.NoteVerifier.from_vkey(consortium.log_vkey)
        self._origin = consortium.origin

    def result(self, answer: Any) -> Any:
        """The answer's result once every event record in it is proven; IntegrityError
        naming the first that is not."""
        if not isinstance(answer, dict) or "result" not in answer:
            raise IntegrityError("the log node's answer holds no result")
        result = answer["result"]
        records = event_records(result)
        if not records:
            return result
        evidence = answer.get("evidence")
        if not isinstance(evidence, dict) or not isinstance(evidence.get("entries"), dict):
            raise IntegrityError("the log node shows event records without their entries")
        entries: dict[str, Any] = evidence["entries"]
        try:
            note = str(evidence["checkpoint"])
            cp = ckpt.open_checkpoint(note, self._log_key, [], 0, origin=self._origin).checkpoint
        except (KeyError, ckpt.CheckpointError) as exc:
            raise IntegrityError(f"the log node's checkpoint does not verify: {exc}") from exc
        try:
            certificates = {certificate_ref(str(p)): str(p) for p in evidence["certificates"]}
        except (KeyError, TypeError, ValueError, LedgerError) as exc:
            raise IntegrityError(f"the log node's certificates do not read: {exc}") from exc
        for record in records:
            self._prove(record, entries, certificates, cp)
        return result

    def _prove(
        self,
        record: dict[str, Any],
        entries: Mapping[str, Any],
        certificates: Mapping[str, str],
        cp: ckpt.Checkpoint,
    ) -> None:
        if set(record) != RECORD_KEYS:
            raise IntegrityError(f"the log node shows an event record of keys {sorted(record)}")
        tx_id = record["tx_id"]
        shown = entries.get(tx_id) if isinstance(tx_id, str) else None
        if not isinstance(shown, dict):
            raise IntegrityError(
                f"the log node shows the record of {tx_id!r:.80} without its entry"
            )
        try:
            data = base64.b64decode(shown["entry"], validate=True)
            entry = Entry.from_bytes(data)
            tx = SignedTransaction.of_entry(entry, certificates)
            proof = [base64.b64decode(h, validate=True) for h in shown["proof"]]
            verify_inclusion(leaf_hash(data), int(shown["index"]), cp.size, proof, cp.root_hash)
            p = tx.proposal
            signer = self._auth.authenticate(p.creator, entry.signature, p.payload, p.time)
            event = parse_event(p.contract_args()[0]) if p.function == "submit" else None
            logged = orjson.loads(entry.result)
        except ProofError as exc:
            raise IntegrityError(f"the entry of {tx_id} is not in the log: {exc}") from exc
        except (KeyError, TypeError, IndexError, ValueError, binascii.Error) as exc:
            raise IntegrityError(f"the entry of {tx_id} does not read: {exc}") from exc
        except (LedgerError, ContractError) as exc:
            raise IntegrityError(f"the entry of {tx_id} is no member's event: {exc}") from exc
        said = (
            tx.tx_id,
            signer.org_id,
            p.timestamp,
            None if event is None else canonical_json(event),
            None if event is None else category_of(event["type"]),
            logged.get("pid") if isinstance(logged, dict) else None,
        )
        shows = (
            record["tx_id"],
            record["org"],
            record["timestamp"],
            _canonical(record["event"]),
            record["category"],
            record["pid"],
        )
        if said != shows:
            raise IntegrityError(f"the record of {tx_id} is not what its entry says")


def _canonical(value: Any) -> bytes | None:
    try:
        return canonical_json(value) if isinstance(value, dict) else None
    except (TypeError, ValueError):  # a float, or a number past the safe range
        return None
