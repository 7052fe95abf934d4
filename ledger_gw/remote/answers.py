"""What a log node's answer to a query must prove: each event record it shows.

The node answers a query from its copy of the contract's state, which a gateway cannot
read. An event record, though, is the contract's copy of one logged transaction: the
event as its organisation signed it, that organisation, the transaction's ID and time,
and the person the contract found it to be about (in the result it logged). So the node
hands over, with its answer, the entry of each transaction a record names (and the
certificates they name by hash), with an inclusion proof to a checkpoint its log key
signed; the gateway checks that a member signed it as an event (the node holds every
query a gateway signs too), as the organisation the record names, that it holds exactly
what the record says, and that the record stands where the query asked, once. A node
can then neither show an event no member signed, nor alter one, nor show one as
another's or about another person than the event names.

The checkpoint is one the log key alone signed (the latest, so that what was just
logged shows): the gateway keeps each entry's position and leaf hash
(ledger_gw.remote.receipts), and a checkpoint the witness quorum cosigns must show the
same leaf there within the deadline. A tree the node signed for this gateway alone (a
member's signed event its contract refused, or the person of an event that names none
written as the node likes) is so caught, as an acknowledged append that no cosigned
tree holds is.

What this cannot prove: that the answer leaves no record out, and what the contract
derives from many events (an entitlement's balance, a referral's state, consents),
which stay the node's word.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from chaincode.canonical import canonical_json
from chaincode.consent import category_of
from chaincode.errors import ContractError
from chaincode.schemas import parse_event
from ledger_gw.consortium import Consortium
from ledger_gw.errors import ConfigError, IntegrityError, LedgerError
from ledger_gw.identity import ROTATION_SLACK, load_certificate, verify_low_s
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.entry import Entry
from ledger_gw.log.merkle import ProofError, leaf_hash, verify_inclusion
from ledger_gw.transaction import Proposal, SignedTransaction, certificate_ref

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


#: Refusals of a certificate that a consortium file older than the node's would make
#: (a member added, a key rotated or retired since): the answer is not shown, but the
#: node is not distrusted for it when the certificate did make the signature (a node can
#: make a certificate of its own, and be refused the same way, showing nothing).
STALE_FILE = frozenset(
    {"unknown_organisation", "untrusted_certificate", "unlisted_certificate", "retired_certificate"}
)


class Proven(NamedTuple):
    """An answer's result, and the entries that proved it: each record's transaction,
    position and leaf hash, for a cosigned checkpoint to show the same later."""

    result: Any
    leaves: list[tuple[str, int, bytes]]


class ProvenAnswers:
    """Checks a node's answers against the consortium: its members' CAs and the log key."""

    def __init__(self, consortium: Consortium) -> None:
        self._auth = consortium.authenticator()
        self._log_key = ckpt.NoteVerifier.from_vkey(consortium.log_vkey)
        self._witnesses = consortium.witness_verifiers()  # none need cosign; a forgery fails
        self._origin = consortium.origin

    def result(self, query: Proposal, answer: Any) -> Proven:
        """The answer's result once every event record in it is proven and answers
        ``query``; IntegrityError naming the first that is not (ConfigError when one is
        signed by a certificate this gateway's consortium file does not know)."""
        if not isinstance(answer, dict) or "result" not in answer:
            raise IntegrityError("the log node's answer holds no result")
        result = answer["result"]
        records = event_records(result)
        _answers(query, result, records)
        if not records:
            return Proven(result, [])
        evidence = answer.get("evidence")
        if not isinstance(evidence, dict) or not isinstance(evidence.get("entries"), dict):
            raise IntegrityError("the log node shows event records without their entries")
        entries: dict[str, Any] = evidence["entries"]
        try:
            note = str(evidence["checkpoint"])
            opened = ckpt.open_checkpoint(
                note, self._log_key, self._witnesses, 0, origin=self._origin
            )
            cp = opened.checkpoint
        except (KeyError, ckpt.CheckpointError) as exc:
            raise IntegrityError(f"the log node's checkpoint does not verify: {exc}") from exc
        try:
            certificates = {certificate_ref(str(p)): str(p) for p in evidence["certificates"]}
        except (KeyError, TypeError, ValueError, LedgerError) as exc:
            raise IntegrityError(f"the log node's certificates do not read: {exc}") from exc
        leaves = [self._prove(record, entries, certificates, cp) for record in records]
        return Proven(result, leaves)

    def _prove(
        self,
        record: dict[str, Any],
        entries: Mapping[str, Any],
        certificates: Mapping[str, str],
        cp: ckpt.Checkpoint,
    ) -> tuple[str, int, bytes]:
        tx_id = record["tx_id"]
        shown = entries.get(tx_id)
        if not isinstance(shown, dict):
            raise IntegrityError(f"the log node shows the record of {tx_id:.80} without its entry")
        try:
            data = base64.b64decode(shown["entry"], validate=True)
            entry = Entry.from_bytes(data)
            tx = SignedTransaction.of_entry(entry, certificates)
            proof = [base64.b64decode(h, validate=True) for h in shown["proof"]]
            index, leaf = int(shown["index"]), leaf_hash(data)
            verify_inclusion(leaf, index, cp.size, proof, cp.root_hash)
            p = tx.proposal
            signer = self._auth.authenticate(
                p.creator, entry.signature, p.payload, p.time, grace=ROTATION_SLACK
            )
            if p.function != "submit":
                raise IntegrityError(f"the entry of {tx_id} is a {p.function!r}, not an event")
            event = parse_event(p.contract_args()[0])
            logged = orjson.loads(entry.result)
        except ProofError as exc:
            raise IntegrityError(f"the entry of {tx_id} is not in the log: {exc}") from exc
        except IntegrityError:
            raise
        except (KeyError, TypeError, IndexError, ValueError, binascii.Error) as exc:
            raise IntegrityError(f"the entry of {tx_id} does not read: {exc}") from exc
        except LedgerError as exc:
            if exc.code in STALE_FILE and _signed_by_its_certificate(tx, entry.signature):
                raise ConfigError(
                    f"the log node shows the event {tx_id} signed by a certificate this "
                    f"gateway's consortium file does not know ({exc}): update the file",
                    code="consortium_file_stale",
                ) from exc
            raise IntegrityError(f"the entry of {tx_id} is no member's event: {exc}") from exc
        except ContractError as exc:
            raise IntegrityError(f"the entry of {tx_id} is no member's event: {exc}") from exc
        said = (
            tx.tx_id,
            signer.org_id,
            p.timestamp,
            canonical_json(event),
            category_of(event["type"]),
            logged.get("pid") if isinstance(logged, dict) else None,
        )
        shows = (
            tx_id,
            record["org"],
            record["timestamp"],
            _canonical(record["event"]),
            record["category"],
            record["pid"],
        )
        if said != shows or event.get("pid", record["pid"]) != record["pid"]:
            raise IntegrityError(f"the record of {tx_id} is not what its entry says")
        return tx_id, index, leaf


def _signed_by_its_certificate(tx: SignedTransaction, signature: bytes) -> bool:
    """Whether the certificate a transaction names made its signature, whoever issued
    it: what a member the gateway's file does not list yet would show, and a forgery
    of a listed member's signature would not."""
    try:
        key = load_certificate(tx.proposal.creator).public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return False
        verify_low_s(key, signature, tx.proposal.payload)
    except Exception:  # any certificate a node may make up: an unknown key type too
        return False
    return True


def _canonical(value: Any) -> bytes:
    """The canonical form of what a record shows as its event, or b"" when it has none
    (not an object, a float, a number past the safe range, nesting past any event's)."""
    try:
        return canonical_json(value) if type(value) is dict else b""
    except (TypeError, ValueError, RecursionError):
        return b""


def _answers(query: Proposal, result: Any, records: list[dict[str, Any]]) -> None:
    """Each record is one, and where ``query`` puts it: in the history of the person it
    names, as the event it names, among the events of the referral it names; none in
    answers that hold no events."""
    tx_ids = set()
    for record in records:
        if set(record) != RECORD_KEYS or not all(
            type(v) is str for k, v in record.items() if k != "event"
        ):
            raise IntegrityError(f"the log node shows an event record of keys {sorted(record)}")
        tx_ids.add(record["tx_id"])
    if len(tx_ids) != len(records):
        raise IntegrityError("the log node shows an event record twice")
    args = [*query.args, None]  # a query signed without arguments answers nothing here
    if query.function == "history":
        placed = _get(result, "events")
        ok = _get(result, "pid") == args[0] and _holds(placed, records)
        ok = ok and all(r["pid"] == args[0] for r in records)
    elif query.function == "event":
        ok = len(records) == 1 and records[0] is result
        ok = ok and _field(result["event"], "event_id") == args[0]
    elif query.function in ("referral", "referral_chain"):
        items = [result] if query.function == "referral" else _get(result, "chain")
        ok = isinstance(items, list) and _get(result, "referral_id") == args[0]
        ok = ok and _is_chain(args[0], items) and all(_of_referral(item) for item in items)
        placed = [r for item in items for r in item.get("events", [])] if ok else None
        ok = ok and _holds(placed, records)
    else:
        ok = not records
    if not ok:
        raise IntegrityError(
            f"the log node's answer to {query.function!r} is not about what it asked"
        )


def _is_chain(referral_id: Any, items: list[Any]) -> bool:
    """Whether ``items`` is the referral asked for, then each one's parent in turn, all
    about one person; a withheld link (its ID alone) ends it."""
    people = set()
    for at, item in enumerate(items):
        if not isinstance(item, dict) or item.get("referral_id") != referral_id:
            return False
        if item.get("withheld") is True:
            return at == len(items) - 1
        people.add(item.get("pid"))
        referral_id = item.get("parent_referral_id")
    return len(people) <= 1


def _of_referral(item: Any) -> bool:
    """Whether each event a referral lists is of that referral, and about its person,
    and (unless withheld) one of them its creation, naming the parent the item names:
    the link a chain follows is then the member's signed word, not the node's."""
    if not isinstance(item, dict):
        return False
    events = item.get("events", [])
    if not isinstance(events, list) or not all(
        isinstance(r, dict)
        and _field(r.get("event"), "referral_id") == item.get("referral_id")
        and r.get("pid") == item.get("pid")
        for r in events
    ):
        return False
    if item.get("withheld") is True:
        return not events
    created = [r["event"] for r in events if r["event"].get("type") == "referral.created"]
    return len(created) == 1 and created[0].get("parent_referral_id") == item.get(
        "parent_referral_id"
    )


def _holds(placed: Any, records: list[dict[str, Any]]) -> bool:
    """Whether the records are exactly the ones ``placed`` lists, no others elsewhere."""
    if not isinstance(placed, list) or len(placed) != len(records):
        return False
    return {id(p) for p in placed} == {id(r) for r in records}


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


def _field(event: Any, key: str) -> Any:
    return event.get(key) if type(event) is dict else None
