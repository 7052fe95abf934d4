"""A member's signed statement of the Fabric channel's validity log, for the other
members' gateways to collect into their bundles (:mod:`ledger_gw.fabric.validity`).

Hashes and signatures only, nothing about any person: any caller may read it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ledger_gw.errors import ConflictError
from ledger_gw.interfaces import VerifiableLog


@runtime_checkable
class Attesting(Protocol):
    def statement(self, height: int | None) -> str: ...


def statement(log: VerifiableLog, height: int | None) -> str:
    """The note this gateway's members sign about the validity log at ``height``."""
    if not isinstance(log, Attesting):
        raise ConflictError(
            "this gateway's log is signed by its operator and cosigned by witnesses: a "
            "validity log is kept only on Hyperledger Fabric",
            code="no_validity_log",
        )
    return log.statement(height)
