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
from ledger_gw.errors import ForbiddenError
from ledger_gw.identity import Signer
from ledger_gw.interfaces import Ledger, VerifiableLog
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
    open_log: Callable[[Ledger], VerifiableLog]  # the verifiable log of that ledger
    _ledger: Ledger | None = None
    _log: VerifiableLog | None = None
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
    def log(self) -> VerifiableLog:
        """The ledger's verifiable log: proofs, checkpoints, bundles and reports read it,
        on either backend. On Fabric it reads blocks through the first served
        organisation's peer."""
        ledger = self.ledger
        with self._lock:
            if self._log is None:
                self._log = self.open_log(ledger)
            return self._log

    def store(self, org: str) -> OffchainStore:
        try:
            return self.stores[org]
        except KeyError:
            raise ForbiddenError(
                f"this gateway does not serve {org}", code="org_not_served"
            ) from None

    def client(self, caller: Caller) -> OrgClient:
        """A ledger client that signs as the caller's organisation, and only as it."""
        signer = self.signers.get(caller.org)
        if signer is None:
            raise ForbiddenError(
                f"this gateway holds no key for {caller.org}", code="org_not_served"
            )
        return OrgClient(self.ledger, signer)

    def org_role(self, org: str) -> str:
        return self.workspace.consortium.organisation(org).role

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
        for store in self.stores.values():
            store.close()
