"""An organisation's handle on a ledger: it signs everything it submits or asks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ledger_gw.identity import Signer
from ledger_gw.interfaces import Ledger, Outcome
from ledger_gw.transaction import SignedTransaction, sign_proposal


class OrgClient:
    def __init__(
        self,
        ledger: Ledger,
        signer: Signer,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.ledger = ledger
        self.signer = signer
        self.clock = clock

    def sign(self, function: str, *args: Any) -> SignedTransaction:
        return sign_proposal(self.signer, function, args, clock=self.clock)

    def submit(self, event: Mapping[str, Any]) -> dict[str, Any]:
        return self.ledger.submit(self.sign("submit", dict(event)))

    def submit_many(self, events: Iterable[Mapping[str, Any]]) -> list[Outcome]:
        return self.ledger.submit_many([self.sign("submit", dict(e)) for e in events])

    def query(self, function: str, *args: str) -> Any:
        return self.ledger.evaluate(self.sign(function, *args))

    def history(self, pid: str, purpose: str) -> Any:
        return self.query("history", pid, purpose)

    def entitlements(self, pid: str, purpose: str) -> Any:
        return self.query("entitlements", pid, purpose)

    def referral_chain(self, referral_id: str) -> Any:
        return self.query("referral_chain", referral_id)
