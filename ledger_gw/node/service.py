"""What the log node does for an authenticated member: append its signed transactions,
answer its signed queries, prove what the log holds. No HTTP here (api.node serves it).

The caller is the organisation its TLS client certificate names, checked against the
consortium's CAs and the certificates the node's operator revoked; every transaction it
hands over must be signed by that organisation, so one member can neither write nor
query as another, even with another's transactions. Each member runs its own gateway,
which may be changed or broken: the node holds every event handed to it to the
consortium vocabulary again (ledger_gw.pii_guard), the one place all members' writes
pass that knows the consortium file.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from chaincode.contract import WRITE_FUNCTIONS
from chaincode.stub import Identity
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.errors import (
    AuthenticationError,
    FieldError,
    ForbiddenError,
    InvalidEventError,
    MalformedError,
)
from ledger_gw.identity import ROTATION_SLACK, cert_pem
from ledger_gw.interfaces import Outcome, Record
from ledger_gw.log import tiles
from ledger_gw.log.entry import Entry
from ledger_gw.node.revoked import RevokedClients
from ledger_gw.pii_guard import logged_findings
from ledger_gw.remote.answers import event_records
from ledger_gw.remote.wire import batch_from_dict, error_to_dict, outcome_to_dict
from ledger_gw.transaction import SignedTransaction

__all__ = ["LogNode", "error_to_dict"]

MAX_BATCH = 1000
MAX_ENTRIES = tiles.WIDTH  # a level-0 tile's


class LogNode:
    def __init__(self, ledger: EmbeddedLedger, revoked: RevokedClients | None = None) -> None:
        self.ledger = ledger
        self.log = EmbeddedLog.of(ledger)
        self._revoked = revoked
        ledger.resume_witnessing()  # the node appends: what it left uncosigned goes first

    def caller(self, peer_certificate: bytes | None) -> Identity:
        """The member a verified TLS client certificate (DER) names, unless the node's
        operator revoked it (ledger_gw.node.revoked)."""
        if not peer_certificate:
            raise AuthenticationError("no client certificate", code="no_client_certificate")
        from cryptography import x509

        try:
            cert = x509.load_der_x509_certificate(peer_certificate)
        except ValueError as exc:
            raise AuthenticationError("malformed client certificate") from exc
        if self._revoked is not None:
            self._revoked.check(cert)
        auth = self.ledger.authenticator()
        return auth.transport_peer(cert_pem(cert), dt.datetime.now(dt.UTC))

    def _transactions(
        self, caller: Identity, items: Any, creators: Any = None
    ) -> list[SignedTransaction]:
        if not isinstance(items, list) or not 0 < len(items) <= MAX_BATCH:
            raise MalformedError(f"give 1 to {MAX_BATCH} transactions in a list")
        txs = batch_from_dict(creators, items)
        # The ledger's keys in force: the consortium file's latest (a rotation taken
        # while the node runs), judged as the ledger will.
        auth = self.ledger.authenticator()
        for tx in txs:
            signer = auth.identify(tx.proposal.creator, tx.proposal.time, grace=ROTATION_SLACK)
            if signer.org_id != caller.org_id:
                raise ForbiddenError(
                    f"{caller.org_id} handed over a transaction signed by {signer.org_id}",
                    code="not_your_transaction",
                )
        return txs

    def submit(self, caller: Identity, items: Any, creators: Any = None) -> list[dict[str, Any]]:
        """Append in order; each outcome once it is durable and under a signed checkpoint.
        A transaction may name its creator by its place in ``creators``
        (ledger_gw.remote.wire.batch_to_dict). One whose event the consortium vocabulary
        refuses is answered with that refusal and not appended, as one the contract
        refuses: the events after it go on, and its gateway's outbox marks it failed
        rather than handing the batch over again for ever."""
        txs = self._transactions(caller, items, creators)
        refused = {i: found for i, tx in enumerate(txs) if (found := self._findings(tx))}
        kept = [tx for i, tx in enumerate(txs) if i not in refused]
        appended = iter(self.ledger.submit_many(kept) if kept else ())
        outcomes = [
            Outcome(tx.tx_id, None, InvalidEventError(refused[i]))
            if i in refused
            else next(appended)
            for i, tx in enumerate(txs)
        ]
        return [outcome_to_dict(o) for o in outcomes]

    def _findings(self, tx: SignedTransaction) -> list[FieldError]:
        proposal = tx.proposal
        if proposal.function not in WRITE_FUNCTIONS or len(proposal.args) != 1:
            return []  # the ledger refuses it
        return logged_findings(proposal.args[0], self.ledger.consortium, proposal.time)

    def evaluate(self, caller: Identity, item: Any) -> dict[str, Any]:
        """A signed query, answered for its signer's organisation (the contract's consent
        rules see that organisation), with what proves each event record it shows
        (ledger_gw.remote.answers): the entry of the transaction the record names, which
        the reader may see as it sees the record, under a proof to the latest checkpoint."""
        (tx,) = self._transactions(caller, [item])
        result = self.ledger.evaluate(tx)
        tx_ids = sorted({str(r.get("tx_id")) for r in event_records(result)})
        if not tx_ids:
            return {"result": result}
        note, found = self.log.reader.proven_entries(tx_ids)  # covers what the query read
        entries: dict[str, Any] = {}
        certificates: set[str] = set()
        for tx_id, (index, data, proof) in found.items():
            certificates.add(self.log.transaction(Entry.from_bytes(data)).proposal.creator)
            entries[tx_id] = {
                "index": index,
                "entry": base64.b64encode(data).decode(),
                "proof": [base64.b64encode(h).decode() for h in proof],
            }
        evidence = {"checkpoint": note, "certificates": sorted(certificates), "entries": entries}
        return {"result": result, "evidence": evidence}

    def inclusion(
        self, caller: Identity, index: int | None, tx_id: str | None, size: int | None
    ) -> Any:
        """A Merkle proof; the entry too when the caller submitted it."""
        if (index is None) == (tx_id is None):
            raise MalformedError("give exactly one of index and tx")

        def own(record: Record) -> bool:
            return record.org == caller.org_id

        return self.log.inclusion(index, tx_id, size, own)

    def entries(self, caller: Identity, begin: int, end: int) -> dict[str, Any]:
        """The entries ``[begin, end)`` (one tile's width at most), the caller's own only,
        and the certificates they name by hash: with the hash tiles, what its gateway
        needs to check many receipts at once."""
        if not 0 <= begin < end <= begin + MAX_ENTRIES:
            raise MalformedError(f"give 1 to {MAX_ENTRIES} positions, begin < end")

        def own(record: Record) -> bool:
            return record.org == caller.org_id

        revealed = self.log.revealed(begin, end, own)
        certificates = {
            self.log.transaction(Entry.from_bytes(e)).proposal.creator for e in revealed if e
        }
        return {
            "begin": begin,
            "entries": [None if e is None else base64.b64encode(e).decode() for e in revealed],
            "certificates": sorted(certificates),
        }

    def certificates(self) -> list[str]:
        """Every certificate an entry names by hash: members' certificates, which the
        consortium file lists already; a reader keys them by their own hash."""
        return sorted(self.log.reader.certificates().values())

    def consistency(self, size1: int, size2: int | None) -> Any:
        return self.log.consistency(size1, size2)

    def checkpoint(self, size: int | None) -> Any:
        return self.log.checkpoint(size)

    def trusted_checkpoint(self) -> dict[str, Any]:
        """The latest checkpoint the consortium's witness quorum cosigned (the latest the
        log signed while no quorum is set)."""
        anchor = self.log.anchor()
        return {"size": anchor.size, "note": anchor.note}

    def ready(self) -> dict[str, str]:
        return self.ledger.ready()

    def close(self) -> None:
        self.ledger.close()
