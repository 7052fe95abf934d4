"""An agency's gateway: the organisations it signs for, their stores, the ledger.

Built once per process (gunicorn forks first, then each worker builds its own), so
that no database connection or ledger writer thread crosses a fork. Keys are read
from files at start-up and kept in memory only.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

from ledger_gw.bootstrap import fabric_profile_path
from ledger_gw.client import OrgClient
from ledger_gw.embedded.appender import RemoteAppender, appender_key
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.turns import Turns
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.errors import ConfigError, ForbiddenError
from ledger_gw.identity import Signer
from ledger_gw.interfaces import Ledger, VerifiableLog
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.offchain.store import OffchainStore, org_url
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
    _ledger: Ledger | None = None
    _log: VerifiableLog | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _turns: Turns = field(default_factory=Turns)

    @classmethod
    def open(cls, config: GatewayConfig) -> Gateway:
        ws = Workspace.load(config.directory)
        orgs = config.orgs or tuple(ws.consortium.organisations)
        signers: dict[str, Signer] = {}
        for org in orgs:
            ws.consortium.organisation(org)  # ConfigError when not a member
            signers[org] = ws.signer(org)
            if signers[org].org_id != org:
                raise ConfigError(f"the signing certificate for {org} names another organisation")
        stores = {org: OffchainStore(org, org_url(config.offchain, org)) for org in orgs}
        gateway = cls(config, ws, PseudonymKey.load(config.pseudonym_key_path), signers, stores)
        if config.migrate:
            gateway.migrate()
        return gateway

    def migrate(self) -> None:
        for store in self.stores.values():
            store.migrate()
        self.ledger.size()  # creates the ledger's tables once, before workers race

    @property
    def ledger(self) -> Ledger:
        with self._lock:
            if self._ledger is None:
                self._ledger = self._open_ledger()
            return self._ledger

    def _open_ledger(self) -> Ledger:
        if self.config.backend == "fabric":
            from ledger_gw.fabric.gateway import FabricLedger, FabricProfile

            profile = FabricProfile.load(fabric_profile_path(self.config.fabric_profile))
            return FabricLedger(profile, self.signers)
        ws = self.workspace
        appender = None
        if self.config.appender is not None:
            appender = RemoteAppender(
                str(self.config.appender), appender_key(), waiting=self._turns.waiting
            )
        return EmbeddedLedger(self.config.ledger, ws.consortium, ws.log_signer(), appender=appender)

    @property
    def log(self) -> VerifiableLog:
        """The ledger's verifiable log: proofs, checkpoints, bundles and reports read it,
        on either backend. On Fabric it reads blocks through the first served
        organisation's peer."""
        ledger = self.ledger
        with self._lock:
            if self._log is None:
                self._log = self._open_log(ledger)
            return self._log

    def _open_log(self, ledger: Ledger) -> VerifiableLog:
        if isinstance(ledger, EmbeddedLedger):
            return EmbeddedLog.of(ledger)
        from ledger_gw.fabric.gateway import FabricLedger
        from ledger_gw.fabric.verifiable import FabricLog

        assert isinstance(ledger, FabricLedger)
        return FabricLog(ledger, next(iter(self.signers)))

    def submitting(self) -> AbstractContextManager[None]:
        """This thread's turn at submitting, when an appending process appends: it waits
        for that process without the turn (services.turns). Elsewhere submissions run
        side by side: the ledger's own writer, or Fabric's peers, are waited for in this
        process, and a turn held meanwhile would keep every other submission waiting."""
        if self.config.backend == "embedded" and self.config.appender is not None:
            return self._turns.turn()
        return nullcontext()

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

    def witness(self, org: str) -> ckpt.NoteSigner:
        if org not in self.signers:
            raise ForbiddenError(f"this gateway holds no key for {org}", code="org_not_served")
        return self.workspace.witness(org)

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
        for store in self.stores.values():
            store.close()
