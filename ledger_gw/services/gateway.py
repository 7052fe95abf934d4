"""An agency's gateway: the organisations it signs for, their stores, the ledger.

Built once per process (gunicorn forks first, then each worker builds its own), so
that no database connection or ledger writer thread crosses a fork. Keys are read
from files at start-up and kept in memory only. ledger_gw.bootstrap builds it and hands
it the way to open its ledger, which it does when first asked.

Members' signatures that reach it at run time (a hand-over fetch, the entries of a bundle
or the issuer of a credential it checks) are judged by the
members' keys in force, not by the workspace's consortium read at start-up: `ledger-gw
key rotate` rewrites the consortium file while gateways run, and a rotated-out key (lost,
perhaps stolen) must stop signing then, and the new one start, without a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ledger_gw.client import OrgClient
from ledger_gw.consortium import Consortium
from ledger_gw.embedded.consortium_file import ConsortiumFile
from ledger_gw.errors import ForbiddenError
from ledger_gw.identity import Authenticator, Signer
from ledger_gw.interfaces import Ledger, VerifiableLog
from ledger_gw.offchain.store import OffchainStore
from ledger_gw.pseudonym import PseudonymKey
from ledger_gw.services.access import Caller
from ledger_gw.services.config import GatewayConfig
from ledger_gw.workspace import Workspace


class KeysInForce(Protocol):
    """The consortium with its members' signing keys as the consortium file now lists
    them (embedded.consortium_file): a ConsortiumFile, or an embedded ledger's own."""

    @property
    def consortium(self) -> Consortium: ...

    def authenticator(self, *, now: bool = False) -> Authenticator: ...


def file_keys(workspace: Workspace, ledger: Ledger) -> KeysInForce:
    """A reader of the workspace's consortium file of the gateway's own, for a ledger
    that follows none (on a log node, on Fabric)."""
    return ConsortiumFile(workspace.consortium, workspace.consortium_file)


@dataclass
class Gateway:
    config: GatewayConfig
    workspace: Workspace
    pseudonym_key: PseudonymKey
    signers: dict[str, Signer]
    stores: dict[str, OffchainStore]
    open_ledger: Callable[[], Ledger]  # called once, in the process that serves
    open_log: Callable[[Ledger], VerifiableLog]  # the verifiable log of that ledger
    # the members' keys in force, given the workspace and that ledger
    open_keys: Callable[[Workspace, Ledger], KeysInForce] = file_keys
    _ledger: Ledger | None = None
    _log: VerifiableLog | None = None
    _keys: KeysInForce | None = None
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

    @property
    def keys(self) -> KeysInForce:
        """The members' keys in force, to judge a member's signature by now; one reader
        of the consortium file per process (the embedded ledger's, when it has one)."""
        ledger = self.ledger
        with self._lock:
            if self._keys is None:
                self._keys = self.open_keys(self.workspace, ledger)
            return self._keys

    def consortium_in_force(self) -> Consortium:
        """The consortium with its members' signing keys as the file lists them now."""
        keys = self.keys
        keys.authenticator(now=True)  # takes what the file has changed
        return keys.consortium

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
