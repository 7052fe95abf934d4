"""Types of the integration fixtures and a verification helper that closes its engine."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from ledger_gw.client import OrgClient
from ledger_gw.consortium import Consortium
from ledger_gw.embedded.database import reading_engine
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verify import VerifyReport, verify_ledger

MakeLedger = Callable[..., EmbeddedLedger]
MakeClient = Callable[[EmbeddedLedger, str], OrgClient]
Verify = Callable[[str], VerifyReport]


def verify_url(url: str, consortium: Consortium) -> VerifyReport:
    """verify_ledger on a fresh engine that is disposed afterwards."""
    engine: Engine = reading_engine(url)
    try:
        return verify_ledger(engine, consortium)
    finally:
        engine.dispose()
