"""An agency's gateway: the organisations it signs for, their stores, the ledger.

Built once per process (gunicorn forks first, then each worker builds its own), so
that no database connection or ledger writer thread crosses a fork. Keys are read
from files at start-up and kept in memory only. ledger_gw.bootstrap builds it and hands
it the way to open its ledger, which it does when first asked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ledger_gw.client import OrgClient
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.errors import RejectedError
from ledger_gw.identity import Signer
from ledger_gw.interfaces import Ledger
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.offchain.store import OffchainStore
from ledger_gw.pseudonym import PseudonymKey
from ledger_gw.services.access import Caller
from ledger_gw.services.config import GatewayConfig
from ledger_gw.workspace import Workspace


@dataclass
class Gateway:
    config: GatewayConfig
    workspace: Workspace
    pseudonym_key: PseudonymKey
    signers: dict[str, Signer]
    stores: dict[str, OffchainStore]
    open_ledger: Callable[[], Ledger]  # called once, in the process that serves
    _ledger: Ledger | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def migrate(self) -> None:
        for store in self.stores.values():
            store.migrate()
        self.ledger.size()  # creates the ledger's tables once, before workers race

    @property
    def ledger(self) -> Ledger:
        with self._lock:
            if self._ledger is None:
                self._ledger = self.open_ledger()
            return self._ledger

    @property
    def embedded(self) -> EmbeddedLedger:
        """Merkle proofs, checkpoints, bundles and reports read the embedded log."""
        ledger = self.ledger
        if not isinstance(ledger, EmbeddedLedger):
            raise RejectedError(
                "unsupported",
                "embedded_only",
                "this gateway runs on Fabric: Merkle proofs, checkpoints, bundles and reports "
                "come from the embedded ledger; on Fabric the audit evidence is the block "
                "chain (ledger_gw.audit.fabric_blocks)",
            )
        return ledger

    def store(self, org: str) -> OffchainStore:
        try:
            return self.stores[org]
        except KeyError:
            raise RejectedError(
                "forbidden", "org_not_served", f"this gateway does not serve {org}"
            ) from None

    def client(self, caller: Caller) -> OrgClient:
        """A ledger client that signs as the caller's organisation, and only as it."""
        signer = self.signers.get(caller.org)
        if signer is None:
            raise RejectedError(
                "forbidden", "org_not_served", f"this gateway holds no key for {caller.org}"
            )
        return OrgClient(self.ledger, signer)

    def org_role(self, org: str) -> str:
        return self.workspace.consortium.organisation(org).role

    def witness(self, org: str) -> ckpt.NoteSigner:
        if org not in self.signers:
            raise RejectedError(
                "forbidden", "org_not_served", f"this gateway holds no key for {org}"
            )
        return self.workspace.witness(org)

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
        for store in self.stores.values():
            store.close()
