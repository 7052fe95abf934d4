"""The one interface every ledger backend offers (embedded log, Hyperledger Fabric)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ledger_gw.errors import LedgerError
from ledger_gw.transaction import SignedTransaction


@dataclass(frozen=True)
class Outcome:
    """What became of one submitted transaction."""

    tx_id: str
    result: dict[str, Any] | None  # the contract's answer, when accepted
    error: LedgerError | None = None  # a refusal, or a fault that stopped this one
    position: int | None = None  # log index; None when rejected or an idempotent replay

    def unwrap(self) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


class Ledger(Protocol):
    def submit_many(self, txs: Sequence[SignedTransaction]) -> list[Outcome]:
        """Submit in order; returns once every accepted transaction is durable."""
        ...

    def submit(self, tx: SignedTransaction) -> dict[str, Any]:
        """Submit one transaction; raises a RejectedError when it is refused."""
        ...

    def evaluate(self, tx: SignedTransaction) -> Any:
        """Run a signed query against committed state; writes nothing."""
        ...

    def size(self) -> int:
        """How far the ledger has grown: log entries (embedded) or blocks (Fabric)."""
        ...

    def ready(self) -> dict[str, str]:
        """Reach everything the ledger needs; a status line for each. Raises if one fails."""
        ...

    def close(self) -> None: ...
