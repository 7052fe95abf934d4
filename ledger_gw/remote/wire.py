"""What a log node and a gateway say to each other: batches of transactions, outcomes and
errors, as JSON."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from ledger_gw.errors import AuthenticationError, LedgerError, MalformedError, of_kind
from ledger_gw.interfaces import Outcome
from ledger_gw.log.entry import Entry
from ledger_gw.transaction import SignedTransaction, certificate_ref


def error_to_dict(error: LedgerError) -> dict[str, Any]:
    return {"kind": error.kind, "code": error.code, "message": str(error), "field": error.field}


def error_from_dict(data: Any) -> LedgerError:
    try:
        return of_kind(
            str(data["kind"]), str(data["message"]), code=str(data["code"]), field=data.get("field")
        )
    except (KeyError, TypeError):
        return of_kind("unavailable", f"the log node answered {data!r:.200}", code="bad_answer")


def outcome_to_dict(outcome: Outcome) -> dict[str, Any]:
    return {
        "tx_id": outcome.tx_id,
        "result": outcome.result,
        "error": None if outcome.error is None else error_to_dict(outcome.error),
        "position": outcome.position,
    }


def outcome_from_dict(data: Any) -> Outcome:
    """An outcome as :func:`outcome_to_dict` writes it; ValueError for anything else. A
    position is taken as written, never made one of a string, a fraction or a truth
    value: the node is held to the position it states."""
    if not isinstance(data, dict) or type(data.get("tx_id")) is not str:
        raise ValueError(f"an outcome names no transaction: {data!r:.200}")
    error, position = data.get("error"), data.get("position")
    if position is not None and type(position) is not int:
        raise ValueError(f"the outcome of {data['tx_id']:.64} is at position {position!r:.40}")
    return Outcome(
        data["tx_id"],
        data.get("result"),
        None if error is None else error_from_dict(error),
        position,
    )


def batch_to_dict(txs: Sequence[SignedTransaction]) -> dict[str, Any]:
    """Transactions to hand over, each signer's certificate sent once: a transaction
    names it by its place in ``creators`` (half of a transaction's bytes otherwise)."""
    creators: dict[str, int] = {}
    items = []
    for tx in txs:
        item = tx.to_dict()
        proposal = item["proposal"]
        proposal["creator"] = creators.setdefault(proposal["creator"], len(creators))
        items.append(item)
    return {"creators": list(creators), "transactions": items}


def batch_from_dict(creators: Any, items: Any) -> list[SignedTransaction]:
    """The transactions of a batch; a creator is its PEM, or its place in ``creators``
    (which a batch of PEMs only may leave out)."""
    creators = [] if creators is None else creators
    if not isinstance(creators, list) or not isinstance(items, list):
        raise MalformedError("creators and transactions must be lists")
    return [SignedTransaction.from_dict(_with_creator(item, creators)) for item in items]


def _with_creator(item: Any, creators: list[Any]) -> Any:
    proposal = item.get("proposal") if isinstance(item, dict) else None
    if not isinstance(proposal, dict) or type(proposal.get("creator")) is not int:
        return item  # a PEM, or what SignedTransaction.from_dict refuses
    creator = proposal["creator"]
    if not 0 <= creator < len(creators):
        raise MalformedError("a transaction names a creator the batch does not list")
    return {**item, "proposal": {**proposal, "creator": creators[creator]}}


def revealed_transaction(proof: Mapping[str, Any]) -> SignedTransaction:
    """The transaction of an entry a node revealed with its signer's certificate: the
    entry names the certificate by hash, so only that one fits."""
    try:
        entry = Entry.from_bytes(base64.b64decode(proof["entry"], validate=True))
        pem = str(proof["certificate"])
    except (KeyError, ValueError, binascii.Error) as exc:
        raise AuthenticationError(f"the node revealed no entry: {exc}") from exc
    return SignedTransaction.of_entry(entry, {certificate_ref(pem): pem})
