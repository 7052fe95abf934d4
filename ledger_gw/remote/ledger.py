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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from cryptography.x509.oid import NameOID

from ledger_gw.audit.evidence import merkle_evidence
from ledger_gw.consortium import Consortium
from ledger_gw.errors import (
    AuthenticationError,
    ConflictError,
    FaultError,
    ForbiddenError,
    IntegrityError,
    LedgerError,
    NotFoundError,
    UnavailableError,
    UnsupportedError,
)
from ledger_gw.identity import ROTATION_SLACK, load_certificate
from ledger_gw.interfaces import Anchor, Outcome, Pins, Record, Reveal
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log import tiles
from ledger_gw.log.entry import Entry
from ledger_gw.log.merkle import (
    CompactRange,
    ProofError,
    leaf_hash,
    verify_inclusion,
)
from ledger_gw.remote.answers import ProvenAnswers
from ledger_gw.remote.claims import ClaimIndex, Reading
from ledger_gw.remote.client import NodeClient
from ledger_gw.remote.outbox import Outbox
from ledger_gw.remote.receipts import Receipts
from ledger_gw.remote.tree import TiledTree
from ledger_gw.remote.wire import batch_to_dict, outcome_from_dict, revealed_transaction
from ledger_gw.transaction import SignedTransaction, certificate_ref

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
        claims: ClaimIndex | None = None,
    ) -> None:
        self.node = node
        self.consortium = consortium
        self.receipts = receipts
        self.outbox = outbox
        self.claims = claims or ClaimIndex(None)
        self._answers = ProvenAnswers(consortium)
        self._stop = threading.Event()
        self._background = threading.Thread(
            target=self._run, args=(interval_s,), name="log-node-sync", daemon=True
        )
        self._background.start()

    def submit_many(self, txs: Sequence[SignedTransaction]) -> list[Outcome]:
        """Sent to the node after whatever the outbox holds; kept in the outbox (in order)
        while it cannot be reached, is not trusted, or earlier captures still wait."""
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
        """The node's outcomes of ``txs``. An answer cut short on the way is not JSON,
        and the client's UnavailableError keeps them to be handed over again (the node
        appends none twice). One that is JSON is whole, and the node's (its pinned TLS
        certificate): if it does not read as their outcomes, the node acknowledged an
        append at no position this gateway can hold it to, and is not trusted again."""
        answer = self.node.post("/v1/node/submit", batch_to_dict(txs))
        try:
            outcomes = [outcome_from_dict(o) for o in answer["outcomes"]]
        except (KeyError, TypeError, ValueError) as exc:
            self.receipts.mismatch(f"the node's answer to a hand-over does not read: {exc!r}")
        if [o.tx_id for o in outcomes] != [t.tx_id for t in txs]:
            self.receipts.mismatch("the node answered for other transactions than it was given")
        self.receipts.record(txs, outcomes)
        return outcomes

    def sync(self) -> bool:
        """Hand the outbox to the node, in order; False while the node cannot be reached,
        or once it is not trusted: a node caught lying is handed nothing more."""
        if self.receipts.broken() is not None:
            return False
        if not self.outbox.pending():
            return True
        try:
            synced = self.outbox.sync(self._send)
        except FaultError as exc:  # unreachable, or a node not to be handed more
            _log.info("outbox kept: %s", exc)
            return False
        except LedgerError as exc:  # the node refused the whole hand-over (this gateway)
            _log.warning("outbox kept, the log node refused it: %s", exc.diagnostics())
            return False
        if synced:
            _log.info("outbox: %d event(s) handed to the log node", synced)
        return True

    def _run(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            # Each step on its own: an outbox that cannot be handed over now must not stop
            # the check of what the node already acknowledged, nor end the thread.
            for step, what in ((self.sync, "outbox"), (self.receipts.check, "receipts")):
                try:
                    step()
                except IntegrityError:
                    pass  # kept, logged and reported by /readyz
                except LedgerError as exc:
                    _log.info("%s not done now: %s", what, exc)
                except Exception:  # the thread must outlive any one bad round
                    _log.exception("background round of the %s failed", what)

    def submit(self, tx: SignedTransaction) -> dict[str, Any]:
        return self.submit_many([tx])[0].unwrap()

    def evaluate(self, tx: SignedTransaction) -> Any:
        """The node's answer, once every event record in it is proven to be a member's
        logged event, where the query puts it (ledger_gw.remote.answers), the entries
        kept for a cosigned checkpoint to show them too; a node that shows one that is
        not is not trusted again."""
        answer = self.node.post("/v1/node/evaluate", {"transaction": tx.to_dict()})
        try:
            proven = self._answers.result(tx.proposal, answer)
        except IntegrityError as exc:
            self.receipts.mismatch(f"a query's answer: {exc}")
            raise
        self.receipts.shown(proven.leaves)  # for a cosigned checkpoint to show them too
        return proven.result

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

    def outbox_items(
        self, org: str, after: int = 0, state: str | None = None
    ) -> Iterator[dict[str, Any]]:
        if org != self.outbox.signer.org_id:  # what it keeps, it signed: one organisation's
            return iter(())
        return (item.to_dict() for item in self.outbox.items(after, state))

    def outbox_counts(self, org: str) -> dict[str, int]:
        if org != self.outbox.signer.org_id:
            return {"pending": 0, "failed": 0}
        return self.outbox.counts()

    def dismiss_outbox_item(self, org: str, seq: int) -> dict[str, Any]:
        item = self.outbox.item(seq)
        missing = NotFoundError(f"{org} has no outbox item {seq}", code="outbox_item_not_found")
        if item is None or _org_of(item.tx) != org:
            raise missing
        if item.state != "failed":
            raise ConflictError(
                f"outbox item {seq} is pending: it is logged when the log node returns,"
                " and only a failed item can be dismissed",
                code="outbox_item_pending",
            )
        if not self.outbox.dismiss(seq):  # dismissed meanwhile
            raise missing
        return item.to_dict()

    def close(self) -> None:
        self._stop.set()
        self._background.join(timeout=10)
        self.node.close()
        if not self._background.is_alive():  # else it still syncs or checks, and ends soon
            self.receipts.close()
            self.outbox.close()
            self.claims.close()


class RemoteLog:
    """The node's log as this gateway may read it: checkpoints and proofs; and, for an
    auditor (to whom the node hands every member's entries as tlog-tiles entry bundles),
    the records that bundles, chain verdicts and reports read, hashed here to the
    checkpoint's root so the node cannot slip in other entries."""

    def __init__(self, ledger: RemoteLedger) -> None:
        self.node = ledger.node
        self.consortium = ledger.consortium
        self._receipts = ledger.receipts
        self._certificates: dict[str, str] = {}  # the node's, asked again when one is new
        self._auth = ledger.consortium.authenticator()  # each certificate's chain once
        self._claims = ledger.claims
        self._reading = threading.Lock()  # one thread reads on at a time; the rest wait

    def _transaction(self, entry: Entry) -> tuple[SignedTransaction, str]:
        """The transaction an entry carries, with the certificate it names by hash (the
        node's list is keyed here by each certificate's own hash, so none can stand in),
        and the member whose signature it carries: every entry's is checked."""
        try:
            tx = SignedTransaction.of_entry(entry, self._certificates)
        except AuthenticationError:
            pems = self.node.get("/v1/node/certificates")["certificates"]
            self._certificates = {certificate_ref(pem): pem for pem in pems}
            try:
                tx = SignedTransaction.of_entry(entry, self._certificates)
            except AuthenticationError as exc:
                raise IntegrityError(
                    f"the node shows no certificate that fits an entry's signer: {exc}",
                    code="log_node_entries_forged",
                ) from None
        # The node holds the log key: an entry in its tree proves nothing of who signed it.
        p = tx.proposal
        try:
            signer = self._auth.authenticate(
                p.creator, tx.signature, p.payload, p.time, grace=ROTATION_SLACK
            )
        except LedgerError as exc:
            raise IntegrityError(
                f"an entry the node shows was not signed by a member: {exc}",
                code="log_node_entries_forged",
            ) from None
        return tx, signer.org_id

    def _record(self, position: int, data: bytes) -> Record:
        entry = Entry.from_bytes(data)
        tx, org = self._transaction(entry)
        return Record.of_entry(position, tx, entry, org)

    def size(self) -> int:
        return int(self.node.get("/v1/node/size")["size"])

    def anchor(self, size: int | None = None) -> Anchor:
        """The latest, only once the consortium's witness quorum cosigned it (the node
        holds the log key: a checkpoint it alone signed may be of a history no one else
        is shown); at ``size``, a prefix of that one, by a consistency proof."""
        if size is None:
            return self._witnessed()
        note = str(self.node.get("/v1/node/checkpoint", size=size)["note"])
        earlier = Anchor.of_note(note, self.consortium.log_vkey, self.consortium.origin)
        try:
            earlier.check_within(self._witnessed(), self._consistency)
        except ProofError as exc:
            raise IntegrityError(
                f"the node's checkpoint of size {earlier.size} is not of the history the "
                f"witnesses cosigned: {exc}",
                code="log_node_entries_forged",
            ) from None
        return earlier

    def _consistency(self, size1: int, size2: int) -> list[bytes]:
        answer = self.node.get("/v1/node/consistency", size1=size1, size2=size2)
        return _b64d(answer["proof"])

    def _witnessed(self) -> Anchor:
        """The latest checkpoint the witness quorum cosigned: not behind the head this
        gateway's receipts trust, nor another tree of its size (the node is then not
        trusted again)."""
        note = str(self.node.get("/v1/node/checkpoint/trusted")["note"])
        try:
            opened = self.consortium.open_witnessed(note)
        except ckpt.ForgedCosignatureError as exc:  # not a quorum yet to come: a lie
            raise IntegrityError(  # the receipts' next round marks the node for good
                f"the log node shows a forged witness cosignature: {exc}",
                code="log_node_checkpoint_forged",
            ) from None
        except ckpt.CheckpointError as exc:
            raise ConflictError(
                f"the log node shows no checkpoint the witness quorum cosigned: {exc}",
                code="not_yet_witnessed",
            ) from None
        self._receipts.hold_to_head(opened.checkpoint)
        return Anchor.of_opened(opened.checkpoint, note)

    def _bundle(self, index: int, size: int) -> list[bytes]:
        """Entry bundle ``index`` as the tree of ``size`` has it (refused but to auditors)."""
        tile = tiles.tile_of(0, index, size, entries=True)
        try:
            data = self.node.get_bytes(f"/v1/log/{tile.path}")
            entries = tiles.decode_bundle(data)
        except ForbiddenError as exc:
            raise UnsupportedError(
                "a gateway on a log node reads other members' entries only as an auditor: "
                "bundles and reports are made where the log is, or by an auditor",
                code="remote_log_records",
            ) from exc
        except ProofError as exc:
            raise IntegrityError(f"the node's entry bundle {tile.path}: {exc}") from None
        if len(entries) != tile.width:
            raise IntegrityError(f"the node's entry bundle {tile.path} has {len(entries)} entries")
        return entries

    def records(self, anchor: Anchor, since: Anchor | None = None) -> Iterator[Record]:
        """Entries ``[0, anchor.size)`` (yielded from ``since.size``), all hashed: their
        root must be the anchor's, which the caller opened against its own pins. From
        ``since``, the entries before it are not read again: the tree's border there,
        from the node's hash tiles, must hash to ``since``'s root, and the entries after
        it, hashed onto it, to the anchor's (else they are all read)."""
        start = 0 if since is None else since.size
        if start > anchor.size:
            raise IntegrityError(f"anchor {start} is beyond anchor {anchor.size}")
        tree = (since is not None and self._border(since)) or CompactRange()
        kept = []
        for position, data in self._entries(tree.size, anchor.size):
            if since is not None and position == start:
                self._check_prefix(tree, since)
            tree.append(leaf_hash(data))
            if position >= start:
                kept.append(self._record(position, data))
        if since is not None and start == anchor.size:
            self._check_prefix(tree, since)
        _check_root(tree, anchor)
        yield from kept

    def _entries(self, start: int, size: int) -> Iterator[tuple[int, bytes]]:
        """The entries ``[start, size)`` and their positions, as the tree of ``size`` has
        them in the node's entry bundles."""
        for index in range(start // tiles.WIDTH, -(-size // tiles.WIDTH)):
            for offset, data in enumerate(self._bundle(index, size)):
                position = index * tiles.WIDTH + offset
                if position >= start:
                    yield position, data

    def _entries_at(self, positions: Iterable[int], size: int) -> Iterator[bytes]:
        """The entry at each of ``positions`` in the tree of ``size``, each entry bundle
        fetched once."""
        bundles: dict[int, list[bytes]] = {}
        for position in positions:
            if not 0 <= position < size:
                raise IntegrityError(f"entry {position} is beyond anchor {size}")
            index, offset = divmod(position, tiles.WIDTH)
            if index not in bundles:
                bundles[index] = self._bundle(index, size)
            yield bundles[index][offset]

    def _border(self, since: Anchor) -> CompactRange | None:
        """The tree's border at ``since``, if the node's tiles give one of its root."""
        if since.size == 0:
            return None
        try:
            border = TiledTree(self.node, since.size).border()
        except (ProofError, NotFoundError, ValueError):
            return None  # the entries will say
        return border if _root(border) == since.summary["root"] else None

    @staticmethod
    def _check_prefix(tree: CompactRange, since: Anchor) -> None:
        """The entries before ``since`` must be its history: the records after it extend
        what a report read there."""
        if _root(tree) != since.summary["root"]:
            raise IntegrityError(
                f"the node's entries before {since.size} do not hash to that checkpoint's "
                "root: its history since is another one",
                code="log_node_entries_forged",
            )

    def claim_records(self, anchor: Anchor, kind: str, subject: str) -> list[Record]:
        """Every record of the person the referral or entitlement is about, from the
        index of what this gateway read of the log (remote.claims), read on to the
        anchor first. Each entry is read from the node again, and must have the leaf
        hash it had when it was proven."""
        self._read_on(anchor)
        pid = self._claims.person_of(subject)
        if pid is None:
            return []
        hers = self._claims.positions(pid, anchor.size)
        entries = self._entries_at((position for position, _ in hers), anchor.size)
        records = []
        for (position, leaf), data in zip(hers, entries, strict=True):
            if leaf_hash(data) != leaf:
                raise IntegrityError(
                    f"the node's entry {position} is not the one it showed before",
                    code="log_node_entries_forged",
                    position=position,
                )
            records.append(self._record(position, data))
        return records

    def _read_on(self, anchor: Anchor) -> None:
        """Read the entries beyond the index up to ``anchor`` into it, once they and the
        index's border hash to the anchor's root (nothing is kept otherwise). An anchor
        the index has read past needs nothing: the witnesses cosign one history, and
        the anchors this log gives are of it."""
        with self._reading:
            kept = self._claims.border()
            if kept.size >= anchor.size:
                return
            reading = Reading(kept)
            for position, data in self._entries(kept.size, anchor.size):
                leaf = leaf_hash(data)
                reading.tree.append(leaf)
                reading.add(self._record(position, data), leaf, self._claims)
            _check_root(reading.tree, anchor)
            self._claims.keep(reading)

    def evidence(self, records: Sequence[Record], anchor: Anchor) -> dict[str, Any]:
        """``merkle/rfc9162-v1``, as the embedded log makes it: each entry (from the
        node's bundles) with its inclusion proof at the anchor, both checked here against
        the anchor's root before any of them is handed on."""
        assert anchor.note is not None
        root = base64.b64decode(anchor.summary["root"])
        entries = self._entries_at((r.position for r in records), anchor.size)
        proven = []
        for r, data in zip(records, entries, strict=True):
            proof = _b64d(
                self.node.get("/v1/node/inclusion", index=r.position, size=anchor.size)["proof"]
            )
            try:
                verify_inclusion(leaf_hash(data), r.position, anchor.size, proof, root)
            except ProofError as exc:
                raise IntegrityError(
                    f"the node's entry {r.position} is not leaf {r.position} of its signed "
                    f"checkpoint of size {anchor.size}: {exc}",
                    code="log_node_entries_forged",
                    position=r.position,
                ) from None
            entry = Entry.from_bytes(data)
            tx, _ = self._transaction(entry)
            if tx.tx_id != r.tx_id:
                raise IntegrityError(
                    f"the node's entry {r.position} is not transaction {r.tx_id}",
                    code="log_node_entries_forged",
                    position=r.position,
                )
            proven.append((r.position, tx, entry, proof))
        return merkle_evidence(anchor.note, anchor.size, proven)

    def inclusion(
        self, position: int | None, tx_id: str | None, size: int | None, reveal: Reveal
    ) -> Any:
        """The node reveals the entry to its submitter only; this gateway then applies the
        caller's own rule on top (``reveal`` sees a record built from what it got)."""
        proof = dict(self.node.get("/v1/node/inclusion", index=position, tx=tx_id, size=size))
        if "entry" in proof and not reveal(_revealed_record(int(proof["index"]), proof)):
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


def _root(tree: CompactRange) -> str:
    return base64.b64encode(tree.root()).decode()


def _check_root(tree: CompactRange, anchor: Anchor) -> None:
    """The entries read must hash to the anchor's root, or none of them is used."""
    if _root(tree) != anchor.summary["root"]:
        raise IntegrityError(
            f"the node's entry bundles do not hash to the root of its signed checkpoint "
            f"of size {anchor.size}: none of their entries is used",
            code="log_node_entries_forged",
        )


def _b64d(items: Sequence[str]) -> list[bytes]:
    return [base64.b64decode(h) for h in items]


def _revealed_record(position: int, proof: Mapping[str, Any]) -> Record:
    """The record of an entry the node revealed, with the certificate it names by hash."""
    tx = revealed_transaction(proof)
    return _record(position, tx, Entry.from_bytes(base64.b64decode(proof["entry"])))


def _record(position: int, tx: SignedTransaction, entry: Entry) -> Record:
    return Record.of_entry(position, tx, entry, _org_of(tx))
