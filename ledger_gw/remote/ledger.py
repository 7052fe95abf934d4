"""The remote backend: an agency's gateway that signs here and appends at a log node.

Transactions are signed by this gateway's own organisation and handed to the node over
mutual TLS; queries are signed queries the node answers for that organisation alone.
The node is not trusted blindly: every acknowledged append is recorded here and checked
against checkpoints the witness quorum cosigned (ledger_gw.remote.receipts), and the
gateway is not ready once that check fails.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from typing import Any

from cryptography.x509.oid import NameOID

from ledger_gw.consortium import Consortium
from ledger_gw.errors import UnsupportedError
from ledger_gw.identity import load_certificate
from ledger_gw.interfaces import Anchor, Outcome, Pins, Record, Reveal
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.entry import Entry
from ledger_gw.remote.client import NodeClient
from ledger_gw.remote.receipts import Receipts
from ledger_gw.remote.wire import outcome_from_dict
from ledger_gw.transaction import SignedTransaction


class RemoteLedger:
    """A Ledger whose log is kept by a log node."""

    def __init__(self, node: NodeClient, consortium: Consortium, receipts: Receipts) -> None:
        self.node = node
        self.consortium = consortium
        self.receipts = receipts

    def submit_many(self, txs: Sequence[SignedTransaction]) -> list[Outcome]:
        if not txs:
            return []
        answer = self.node.post("/v1/node/submit", {"transactions": [t.to_dict() for t in txs]})
        outcomes = [outcome_from_dict(o) for o in answer["outcomes"]]
        if [o.tx_id for o in outcomes] != [t.tx_id for t in txs]:
            self.receipts.mismatch("the node answered for other transactions than it was given")
        self.receipts.record(txs, outcomes)
        return outcomes

    def submit(self, tx: SignedTransaction) -> dict[str, Any]:
        return self.submit_many([tx])[0].unwrap()

    def evaluate(self, tx: SignedTransaction) -> Any:
        return self.node.post("/v1/node/evaluate", {"transaction": tx.to_dict()})["result"]

    def size(self) -> int:
        return int(self.node.get("/v1/node/size")["size"])

    def ready(self) -> dict[str, str]:
        """The node answers, and still holds everything it acknowledged to this gateway."""
        node = self.node.get("/readyz")["checks"]
        seen = self.receipts.check()
        return {
            "log_node": f"size {node.get('ledger', '?')}",
            "log_node_receipts": f"{seen['pending']} pending, checked to {seen.get('size', 0)}",
        }

    def close(self) -> None:
        self.node.close()


class RemoteLog:
    """The node's log as this gateway may read it: checkpoints and proofs. Bundles and
    reports read every member's entries, which only the node (or an auditor's own copy)
    holds."""

    def __init__(self, ledger: RemoteLedger) -> None:
        self.node = ledger.node
        self.consortium = ledger.consortium

    def size(self) -> int:
        return int(self.node.get("/v1/node/size")["size"])

    def anchor(self, size: int | None = None) -> Anchor:
        data = (
            self.node.get("/v1/node/checkpoint/trusted")
            if size is None
            else self.node.get("/v1/node/checkpoint", size=size)
        )
        note = str(data["note"])
        cp = ckpt.open_checkpoint(
            note,
            ckpt.NoteVerifier.from_vkey(self.consortium.log_vkey),
            origin=self.consortium.origin,
        ).checkpoint
        summary = {
            "origin": self.consortium.origin,
            "tree_size": cp.size,
            "root": base64.b64encode(cp.root_hash).decode(),
        }
        return Anchor(cp.size, summary, note)

    def records(self, anchor: Anchor) -> Iterator[Record]:
        raise UnsupportedError(
            "a gateway on a log node reads no other member's entries: bundles and reports "
            "are made where the log is",
            code="remote_log_records",
        )

    def evidence(self, records: Sequence[Record], anchor: Anchor) -> dict[str, Any]:
        raise UnsupportedError("bundles are made where the log is", code="remote_log_records")

    def inclusion(
        self, position: int | None, tx_id: str | None, size: int | None, reveal: Reveal
    ) -> Any:
        """The node reveals the entry to its submitter only; this gateway then applies the
        caller's own rule on top (``reveal`` sees a record built from what it got)."""
        proof = dict(self.node.get("/v1/node/inclusion", index=position, tx=tx_id, size=size))
        if "entry" in proof and not reveal(_record(int(proof["index"]), proof["entry"])):
            del proof["entry"]
        return proof

    def consistency(self, size1: int, size2: int | None) -> Any:
        return self.node.get("/v1/node/consistency", size1=size1, size2=size2)

    def checkpoint(self, size: int | None) -> Any:
        return self.node.get("/v1/node/checkpoint", size=size)

    def cosign(self, size: int | None) -> Any:
        raise UnsupportedError("the log node asks the witnesses itself", code="remote_cosign")

    def pins(self) -> Pins:
        return Pins()


def _record(position: int, entry_b64: str) -> Record:
    tx = SignedTransaction.of_entry(Entry.from_bytes(base64.b64decode(entry_b64)))
    p = tx.proposal
    submitted = p.function == "submit" and p.args and isinstance(p.args[0], dict)
    org = load_certificate(p.creator).subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return Record(
        position, tx.tx_id, p.timestamp, str(org[0].value), dict(p.args[0]) if submitted else {}, {}
    )
