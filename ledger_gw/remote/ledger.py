"""The remote backend: an agency's gateway that signs here and appends at a log node.

Transactions are signed by this gateway's own organisation and handed to the node over
mutual TLS; queries are signed queries the node answers for that organisation alone.
The node is not trusted blindly: every acknowledged append is recorded here and checked
against checkpoints the witness quorum cosigned (ledger_gw.remote.receipts), and the
gateway is not ready once that check fails.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from cryptography.x509.oid import NameOID

from ledger_gw.consortium import Consortium
from ledger_gw.errors import (
    FaultError,
    IntegrityError,
    LedgerError,
    UnavailableError,
    UnsupportedError,
)
from ledger_gw.identity import load_certificate
from ledger_gw.interfaces import Anchor, Outcome, Pins, Record, Reveal
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.remote.client import NodeClient
from ledger_gw.remote.outbox import Outbox
from ledger_gw.remote.receipts import Receipts
from ledger_gw.remote.wire import outcome_from_dict, revealed_transaction
from ledger_gw.transaction import SignedTransaction

_log = logging.getLogger(__name__)
SYNC_INTERVAL_S = 5.0


class RemoteLedger:
    """A Ledger whose log is kept by a log node; what it cannot hand over while the node
    is out of reach waits in the outbox, and a background thread syncs the outbox and
    checks the node's receipts."""

    def __init__(
        self,
        node: NodeClient,
        consortium: Consortium,
        receipts: Receipts,
        outbox: Outbox,
        interval_s: float = SYNC_INTERVAL_S,
    ) -> None:
        self.node = node
        self.consortium = consortium
        self.receipts = receipts
        self.outbox = outbox
        self._stop = threading.Event()
        self._background = threading.Thread(
            target=self._run, args=(interval_s,), name="log-node-sync", daemon=True
        )
        self._background.start()

    def submit_many(self, txs: Sequence[SignedTransaction]) -> list[Outcome]:
        """Sent to the node after whatever the outbox holds; kept in the outbox (in order)
        while it cannot be reached or earlier captures still wait."""
        if not txs:
            return []
        if not self.sync() or self.outbox.pending():
            return self.outbox.capture(txs)
        try:
            return self._send(txs)
        except UnavailableError as exc:
            _log.warning("log node unreachable, %d event(s) kept in the outbox: %s", len(txs), exc)
            return self.outbox.capture(txs)

    def _send(self, txs: Sequence[SignedTransaction]) -> list[Outcome]:
        answer = self.node.post("/v1/node/submit", {"transactions": [t.to_dict() for t in txs]})
        outcomes = [outcome_from_dict(o) for o in answer["outcomes"]]
        if [o.tx_id for o in outcomes] != [t.tx_id for t in txs]:
            self.receipts.mismatch("the node answered for other transactions than it was given")
        self.receipts.record(txs, outcomes)
        return outcomes

    def sync(self) -> bool:
        """Hand the outbox to the node, in order; False while the node cannot be reached."""
        if not self.outbox.pending():
            return True
        try:
            synced = self.outbox.sync(self._send)
        except FaultError as exc:  # unreachable, or a node not to be handed more
            _log.info("outbox kept: %s", exc)
            return False
        if synced:
            _log.info("outbox: %d event(s) handed to the log node", synced)
        return True

    def _run(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self.sync()
            try:
                self.receipts.check()
            except IntegrityError:
                pass  # kept, logged and reported by /readyz
            except LedgerError as exc:
                _log.info("receipts not checked now: %s", exc)
            except Exception:  # the thread must outlive any one bad round
                _log.exception("background round failed")

    def submit(self, tx: SignedTransaction) -> dict[str, Any]:
        return self.submit_many([tx])[0].unwrap()

    def evaluate(self, tx: SignedTransaction) -> Any:
        return self.node.post("/v1/node/evaluate", {"transaction": tx.to_dict()})["result"]

    def size(self) -> int:
        return int(self.node.get("/v1/node/size")["size"])

    def ready(self) -> dict[str, str]:
        """The node answers, and still holds everything it acknowledged to this gateway."""
        outbox = f"{self.outbox.pending()} pending"
        try:
            node = self.node.get("/readyz")["checks"]
        except UnavailableError as exc:  # captures still go to the outbox: ready
            self.receipts.failure()
            return {"log_node": f"unreachable ({exc.code})", "outbox": outbox}
        seen = self.receipts.check()
        return {
            "log_node": f"size {node.get('ledger', '?')}",
            "log_node_receipts": f"{seen['pending']} pending, checked to {seen.get('size', 0)}",
            "outbox": outbox,
        }

    def outbox_items(self, org: str) -> list[dict[str, Any]]:
        return [item.to_dict() for item in self.outbox.items() if _org_of(item.tx) == org]

    def close(self) -> None:
        self._stop.set()
        self._background.join(timeout=10)
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

    def records(self, anchor: Anchor, since: Anchor | None = None) -> Iterator[Record]:
        raise UnsupportedError(
            "a gateway on a log node reads no other member's entries: bundles and reports "
            "are made where the log is",
            code="remote_log_records",
        )

    def claim_records(self, anchor: Anchor, kind: str, subject: str) -> list[Record]:
        return list(self.records(anchor))

    def evidence(self, records: Sequence[Record], anchor: Anchor) -> dict[str, Any]:
        raise UnsupportedError("bundles are made where the log is", code="remote_log_records")

    def inclusion(
        self, position: int | None, tx_id: str | None, size: int | None, reveal: Reveal
    ) -> Any:
        """The node reveals the entry to its submitter only; this gateway then applies the
        caller's own rule on top (``reveal`` sees a record built from what it got)."""
        proof = dict(self.node.get("/v1/node/inclusion", index=position, tx=tx_id, size=size))
        if "entry" in proof and not reveal(_record(int(proof["index"]), proof)):
            del proof["entry"], proof["certificate"]
        return proof

    def consistency(self, size1: int, size2: int | None) -> Any:
        return self.node.get("/v1/node/consistency", size1=size1, size2=size2)

    def checkpoint(self, size: int | None) -> Any:
        return self.node.get("/v1/node/checkpoint", size=size)

    def cosign(self, size: int | None) -> Any:
        raise UnsupportedError("the log node asks the witnesses itself", code="remote_cosign")

    def pins(self) -> Pins:
        return Pins()


def _org_of(tx: SignedTransaction) -> str:
    cert = load_certificate(tx.proposal.creator)
    return str(cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value)


def _record(position: int, proof: Mapping[str, Any]) -> Record:
    """The record of a revealed entry, its signer's certificate checked against the hash
    the entry names."""
    tx = revealed_transaction(proof)
    p = tx.proposal
    submitted = p.function == "submit" and p.args and isinstance(p.args[0], dict)
    return Record(
        position, tx.tx_id, p.timestamp, _org_of(tx), dict(p.args[0]) if submitted else {}, {}
    )
