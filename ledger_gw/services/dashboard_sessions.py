"""Dashboard log-ins, kept in the organisation's own database.

A signed cookie cannot be taken back once issued: logging out ends its session here, so
a copy of the cookie (a shared computer, a proxy's log) replayed afterwards is refused.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select

from ledger_gw.offchain.models import DashboardSession, utcnow
from ledger_gw.offchain.store import OffchainStore


def start(store: OffchainStore, token_id: str) -> str:
    """A new session of the token; returns its random ID, for the cookie."""
    session_id = secrets.token_urlsafe(32)
    with store.session() as s:
        s.add(DashboardSession(id=session_id, token_id=token_id))
    return session_id


def is_live(store: OffchainStore, session_id: str, token_id: str) -> bool:
    """Whether the session was started with this token and not ended."""
    with store.reading() as s:
        row = s.scalar(select(DashboardSession).where(DashboardSession.id == session_id))
    return row is not None and row.token_id == token_id and row.ended_at is None


def end(store: OffchainStore, session_id: str) -> None:
    with store.session() as s:
        row = s.get(DashboardSession, session_id)
        if row is not None and row.ended_at is None:
            row.ended_at = utcnow()
