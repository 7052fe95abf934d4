"""The minimum honest ledger: the least work any ledger making this one's claims does per
event, run beside the real one as a same-run yardstick.

Per event: its P-256 signature verified (each signer's certificate parsed once), one row
inserted under a random key, one RFC 6962 leaf appended to a Merkle tree. Per commit of
a batch: SQLite in WAL mode with synchronous=FULL, and one Ed25519-signed checkpoint of
the tree head. No contract, no world state, no proofs kept: what the real ledger does
beyond this is what the ratio to it prices.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ledger_gw.identity import Signer
from ledger_gw.log.merkle import CompactRange, leaf_hash
from ledger_gw.transaction import SignedTransaction, sign_proposal


class HonestLedger:
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS entries (key BLOB PRIMARY KEY, body BLOB)")
        self._db.execute("CREATE TABLE IF NOT EXISTS heads (size INTEGER PRIMARY KEY, note TEXT)")
        self._tree = CompactRange()
        self._key = ed25519.Ed25519PrivateKey.generate()
        self._public: dict[str, ec.EllipticCurvePublicKey] = {}

    @property
    def size(self) -> int:
        return self._tree.size

    def append(self, txs: Sequence[SignedTransaction]) -> None:
        """One commit: every signature checked, every row and leaf added, one head signed."""
        rows = []
        for tx in txs:
            proposal = tx.proposal
            public = self._public.get(proposal.creator)
            if public is None:
                cert = x509.load_pem_x509_certificate(proposal.creator.encode())
                key = cert.public_key()
                assert isinstance(key, ec.EllipticCurvePublicKey)
                public = self._public[proposal.creator] = key
            body = proposal.payload + tx.signature
            public.verify(tx.signature, proposal.payload, ec.ECDSA(hashes.SHA256()))
            rows.append((os.urandom(16), body))
            self._tree.append(leaf_hash(body))
        root = base64.b64encode(self._tree.root()).decode()
        head = f"honest\n{self._tree.size}\n{root}\n"
        note = head + base64.b64encode(self._key.sign(head.encode())).decode()
        self._db.execute("BEGIN IMMEDIATE")
        self._db.executemany("INSERT INTO entries (key, body) VALUES (?, ?)", rows)
        self._db.execute("INSERT INTO heads (size, note) VALUES (?, ?)", (self._tree.size, note))
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


def honest_rates(
    signer: Signer, events: Sequence[dict[str, Any]], batch: int, singles: int
) -> tuple[float, float]:
    """Events/s of the minimum honest ledger on ``events`` signed by ``signer`` (signing
    not timed): all of them in batches of ``batch``, then the first ``singles`` with a
    commit and a signed head each. For a benchmark that has no ledger of its own in its
    process (one over HTTP), run beside it as its same-run yardstick."""
    txs = [sign_proposal(signer, "submit", [event]) for event in events]
    with tempfile.TemporaryDirectory() as tmp:
        honest = HonestLedger(Path(tmp) / "honest.db")
        try:
            started = time.perf_counter()
            for i in range(0, len(txs), batch):
                honest.append(txs[i : i + batch])
            batched = len(txs) / (time.perf_counter() - started)
            started = time.perf_counter()
            for tx in txs[:singles]:
                honest.append([tx])
            one_by_one = min(singles, len(txs)) / (time.perf_counter() - started)
        finally:
            honest.close()
    return batched, one_by_one
