"""The embedded log as a :class:`~ledger_gw.interfaces.VerifiableLog`: Merkle proofs
against signed checkpoints (RFC 9162), read with :class:`LogReader`."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from cryptography.x509.oid import NameOID

from chaincode.store import HISTORY, PERSON, entitlement_key, referral_key
from chaincode.stub import composite_key
from ledger_gw.audit.evidence import merkle_evidence
from ledger_gw.consortium import Consortium
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.reader import LogReader
from ledger_gw.errors import AuthenticationError, IntegrityError, LedgerError
from ledger_gw.identity import ROTATION_SLACK, load_certificate
from ledger_gw.interfaces import Anchor, Pins, Record, Reveal
from ledger_gw.log.entry import Entry
from ledger_gw.log.merkle import CompactRange, ProofError, leaf_hash, verify_inclusion
from ledger_gw.transaction import SignedTransaction

BORDERS_KEPT = 8  # trees' borders kept, so that reading on from an anchor hashes only what is new

Cosigner = Callable[[int | None], str]  # asks the witnesses to cosign a checkpoint


def _b64(items: Sequence[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in items]


def _no_cosigner(size: int | None) -> str:
    raise NotImplementedError("this log was opened read-only")


class EmbeddedLog:
    """Records, evidence and checkpoints of an embedded ledger's log.

    Opened over a :class:`LogReader` alone (read-only, as auditors and the CLI do: every
    record's signature checked) or over a running :class:`EmbeddedLedger` (:meth:`of`),
    which also asks the witnesses and finds a claim's records through the world state it
    wrote.
    """

    def __init__(
        self,
        reader: LogReader,
        consortium: Consortium,
        cosigner: Cosigner = _no_cosigner,
        *,
        indexed: bool = False,
    ) -> None:
        self.reader = reader
        self.consortium = consortium
        self._cosign = cosigner
        self.indexed = indexed  # claim_records trusts the world state: see there
        self._orgs: dict[str, str] = {}
        self._auth = consortium.authenticator()  # each certificate's chain once
        self._certificates: dict[str, str] = {}  # the log's, read again when one is new
        self._borders: dict[tuple[int, str], CompactRange] = {}  # (size, root): border
        self._borders_lock = threading.Lock()
        self._scanning = threading.Lock()
        self._scanned = 0  # checkpoints up to this size were read for witness cosignatures
        self._found: Anchor | None = None  # the latest of them that met the quorum

    @classmethod
    def of(cls, ledger: EmbeddedLedger) -> EmbeddedLog:
        """The log of the ledger this process runs, whose world state it wrote itself."""
        return cls(ledger.log, ledger.consortium, ledger.cosign, indexed=True)

    def size(self) -> int:
        return self.reader.size()

    def anchor(self, size: int | None = None) -> Anchor:
        """A stored checkpoint, its log signature checked against the consortium.

        The latest (``size`` None) is the latest that meets the consortium's witness
        quorum, which is what a verifier demands by default: bundles, chain verdicts
        and reports anchor there. Before any checkpoint meets it, the latest one. At
        ``size``, once one meets it, only as a prefix of that one: whoever holds the
        database and the log's key can sign a checkpoint of any history, and a report
        or bundle anchored there must be of the one the witnesses saw.
        """
        if not self.consortium.witness_quorum:
            return self._signed(size)
        witnessed = self._witnessed()
        if size is None:
            return witnessed or self._signed(None)
        earlier = self._signed(size)
        try:
            earlier.check_within(witnessed, self.reader.consistency_proof)
        except ProofError as exc:
            raise IntegrityError(
                f"the log's checkpoint of size {size} is not of the history the "
                f"witnesses cosigned: {exc}",
                code="log_forked",
            ) from None
        return earlier

    def _signed(self, size: int | None) -> Anchor:
        note = self.reader.checkpoint(size)
        return Anchor.of_note(note, self.consortium.log_vkey, self.consortium.origin)

    def _witnessed(self) -> Anchor | None:
        """The later of the checkpoint recorded as the latest witnessed (when it meets
        this consortium's quorum) and the latest this process found meeting it among
        those stored. Those are read only beyond what was read before: while the
        witnesses are down a checkpoint is stored each commit, and every call would
        read them all again. One read before, and cosigned since, is recorded."""
        recorded = self.reader.latest_witnessed()
        best = self._opened(recorded[1]) if recorded is not None else None
        with self._scanning:
            floor = max(self._scanned, best.size if best is not None else 0)
            for size, note in self.reader.checkpoints_newest_first(above=floor):
                self._scanned = max(self._scanned, size)
                if (found := self._opened(note)) is not None:
                    if self._found is None or found.size > self._found.size:
                        self._found = found
                    break
            if self._found is not None and (best is None or self._found.size > best.size):
                best = self._found
        return best

    def _opened(self, note: str) -> Anchor | None:
        opened = self.consortium.witnessed(note)
        return None if opened is None else Anchor.of_opened(opened.checkpoint, note)

    def _org_of(self, pem: str) -> str:
        if pem not in self._orgs:
            attrs = load_certificate(pem).subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
            self._orgs[pem] = str(attrs[0].value)
        return self._orgs[pem]

    def transaction(self, entry: Entry) -> SignedTransaction:
        """The transaction an entry of this log carries, with its signer's certificate."""
        try:
            return SignedTransaction.of_entry(entry, self._certificates)
        except AuthenticationError:  # signed by a certificate new since they were read
            self._certificates = self.reader.certificates()
            return SignedTransaction.of_entry(entry, self._certificates)

    def _record(self, position: int, entry: Entry) -> Record:
        try:
            tx = self.transaction(entry)
            org = self._org_of(tx.proposal.creator) if self.indexed else self._signer(position, tx)
            return Record.of_entry(position, tx, entry, org)
        except ValueError as exc:  # a proposal of no form a ledger signs (its time, say)
            raise IntegrityError(
                f"log entry {position} holds no well-formed transaction: {exc}", position=position
            ) from None

    def _signer(self, position: int, tx: SignedTransaction) -> str:
        """The member whose signature an entry of a ledger handed over carries. Its holder
        has the log key, and witnesses cosign any tree that extends the last one: an entry
        in a cosigned tree proves nothing of who signed it, so every entry's signature is
        checked (the ledger this process runs checked each as it admitted it)."""
        p = tx.proposal
        try:
            identity = self._auth.authenticate(
                p.creator, tx.signature, p.payload, p.time, grace=ROTATION_SLACK
            )
        except LedgerError as exc:
            raise IntegrityError(
                f"log entry {position} was not signed by a member: {exc}",
                code="log_entries_forged",
                position=position,
            ) from None
        return identity.org_id

    def records(self, anchor: Anchor, since: Anchor | None = None) -> Iterator[Record]:
        """Entries ``[0, anchor.size)`` (from ``since.size`` when given), hashed as they
        are read: the root must be the checkpoint's, or the log read is not the one the
        checkpoint signed. The tree's border at ``since`` is the one this log kept when
        it last read up to there, else the stored subtree roots if they hash to
        ``since``'s root (the new entries, hashed onto it, must still give the anchor's
        root, so ``since`` is proven a prefix of the anchor's tree); else the entries
        before ``since`` are hashed again."""
        start = 0 if since is None else since.size
        if start > anchor.size:
            raise IntegrityError(f"anchor {start} is beyond anchor {anchor.size}")
        kept = None if since is None else self._border(since)
        tree = CompactRange(kept.size, kept.hashes) if kept is not None else CompactRange()
        unchecked = since is not None and kept is None  # since's root: checked on the way
        for position, data in self.reader.entries(tree.size):
            if position >= anchor.size:
                break
            if position != tree.size:
                raise IntegrityError(f"log entry {tree.size} is missing")
            if unchecked and position == start:
                unchecked = _check_root(tree, since)
            tree.append(leaf_hash(data))
            if position >= start:
                yield self._record(position, _parsed(position, data))
        if tree.size != anchor.size:
            raise IntegrityError(f"the log has {tree.size} entries, fewer than {anchor.size}")
        if unchecked:
            _check_root(tree, since)
        _check_root(tree, anchor)
        with self._borders_lock:
            self._borders[(anchor.size, anchor.summary["root"])] = tree
            while len(self._borders) > BORDERS_KEPT:
                del self._borders[next(iter(self._borders))]

    def _border(self, since: Anchor) -> CompactRange | None:
        """The tree's border at ``since``, with ``since``'s root, without reading entries."""
        with self._borders_lock:
            kept = self._borders.get((since.size, since.summary["root"]))
        if kept is not None or since.size == 0:
            return kept
        try:
            stored = CompactRange(since.size, self.reader.border_hashes(since.size))
        except (IntegrityError, ValueError):  # nodes missing or malformed: hash the entries
            return None
        if base64.b64encode(stored.root()).decode() != since.summary["root"]:
            return None  # not this tree's, or storage gone wrong: the entries will say
        return stored

    def claim_records(self, anchor: Anchor, kind: str, subject: str) -> list[Record]:
        """The records a claim about a referral chain or an entitlement selects from.

        Opened over a reader alone (a ledger handed over, read by an auditor or the
        CLI), every record up to the anchor: the entries are the checkpoint's, hashed
        as they are read, but the world state is its holder's word, and a row deleted
        there would hide an event.

        :attr:`indexed` (the ledger this process runs): every record of the person the
        referral or entitlement is about, read through the contract's own world state.
        A referral chain and an entitlement never leave their person (the contract
        refuses a parent about someone else, and every later event names the object),
        and each accepted transaction writes exactly one key of her history, ``[pid,
        "event", ...]``, never rewritten: the state's row for it holds that
        transaction's log position. Each record read is proven included at the anchor,
        as the scan hashes every entry it reads.
        """
        if not self.indexed:
            return list(self.records(anchor))
        try:
            key = entitlement_key(subject) if kind == "entitlement" else referral_key(subject)
        except ValueError:  # not a key the contract could have written
            return []
        value = self.reader.state_value(key.encode())
        if value is None:
            return []
        pid = str(json.loads(value)["pid"])
        prefix = composite_key(PERSON, [pid, HISTORY]).encode()
        positions = self.reader.written_at(prefix, anchor.size)
        root = base64.b64decode(anchor.summary["root"])
        records = []
        for position, data in self.reader.entries_at(positions):
            try:
                verify_inclusion(
                    leaf_hash(data),
                    position,
                    anchor.size,
                    self.reader.inclusion_proof(position, anchor.size),
                    root,
                )
            except ProofError as exc:
                raise IntegrityError(f"log entry {position} is not the anchor's: {exc}") from None
            records.append(self._record(position, _parsed(position, data)))
        return records

    def evidence(self, records: Sequence[Record], anchor: Anchor) -> dict[str, Any]:
        """``merkle/rfc9162-v1``: each entry with its inclusion proof at the checkpoint."""
        assert anchor.note is not None
        entries = []
        for r in records:
            entry = _parsed(r.position, self.reader.entry(r.position))
            proof = self.reader.inclusion_proof(r.position, anchor.size)
            entries.append((r.position, self.transaction(entry), entry, proof))
        return merkle_evidence(anchor.note, anchor.size, entries)

    def inclusion(
        self, position: int | None, tx_id: str | None, size: int | None, reveal: Reveal
    ) -> Any:
        """The Merkle proof of the leaf hash; the entry only when ``reveal`` allows it
        (the leaf hash covers a random nonce, so it gives nothing of the entry away)."""
        log = self.reader
        index = log.position_of(tx_id) if tx_id is not None else position
        assert index is not None
        size = size or log.size()
        proof = _b64(log.inclusion_proof(index, size))  # NotFoundError when out of range
        out = {
            "index": index,
            "size": size,
            "leaf_hash": _b64([log.leaf_hash(index)])[0],
            "proof": proof,
            "checkpoint": log.checkpoint(size),
        }
        data = log.entry(index)
        entry = _parsed(index, data)
        if reveal(self._record(index, entry)):
            # With the certificate the entry names by hash: the reader needs nothing else.
            out["entry"] = base64.b64encode(data).decode()
            out["certificate"] = self.transaction(entry).proposal.creator
        return out

    def revealed(self, begin: int, end: int, reveal: Reveal) -> list[bytes | None]:
        """The entries ``[begin, end)``, each only when ``reveal`` allows it."""
        return [
            data if reveal(self._record(at, _parsed(at, data))) else None
            for at, data in enumerate(self.leaves(begin, end), begin)
        ]

    def consistency(self, size1: int, size2: int | None) -> Any:
        log = self.reader
        size2 = size2 or log.size()
        return {
            "size1": size1,
            "size2": size2,
            "proof": _b64(log.consistency_proof(size1, size2)),
            "checkpoint1": log.checkpoint(size1),
            "checkpoint2": log.checkpoint(size2),
        }

    def checkpoint(self, size: int | None) -> Any:
        note = self.reader.checkpoint(size)
        return {"size": _size_of(note), "note": note}

    def cosign(self, size: int | None) -> Any:
        note = self._cosign(size)
        return {"size": _size_of(note), "note": note}

    def pins(self) -> Pins:
        return Pins()

    def tree_hashes(self, level: int, begin: int, end: int) -> list[bytes]:
        """Hashes of the perfect subtrees ``[begin, end)`` at ``level``: what tiles list."""
        return self.reader.level_hashes(level, begin, end)

    def leaves(self, begin: int, end: int) -> list[bytes]:
        """The leaf data (log entries) ``[begin, end)``: what entry bundles list."""
        return self.reader.entry_range(begin, end)


def _size_of(note: str) -> int:
    return int(note.split("\n", 2)[1])


def _check_root(tree: CompactRange, anchor: Anchor | None) -> bool:
    """False once ``tree`` hashes to ``anchor``'s root; IntegrityError when it does not."""
    assert anchor is not None
    if base64.b64encode(tree.root()).decode() != anchor.summary["root"]:
        raise IntegrityError("the log's entries do not hash to its own checkpoint")
    return False


def _parsed(position: int, data: bytes) -> Entry:
    """The entry stored at ``position``; IntegrityError naming it when its bytes are no
    entry (a ledger handed over may hold anything)."""
    try:
        return Entry.from_bytes(data)
    except ValueError as exc:
        raise IntegrityError(f"log entry {position}: {exc}", position=position) from None
