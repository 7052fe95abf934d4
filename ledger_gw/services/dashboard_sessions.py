"""Dashboard log-ins, kept in the organisation's own database.

A signed cookie cannot be taken back once issued: logging out ends its session here, so
a copy of the cookie (a shared computer, a proxy's log) replayed afterwards is refused.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import delete, or_, select

from ledger_gw.offchain.models import DashboardSession, utcnow
from ledger_gw.offchain.store import OffchainStore

# However busy, a session is over this long after its log-in.
LIFETIME = dt.timedelta(hours=8)


def start(store: OffchainStore, token_id: str) -> str:
    """A new session of the token; returns its random ID, for the cookie. The rows of
    sessions ended or past their lifetime go first, so the table holds no more than the
    log-ins of one lifetime, however long the gateway runs."""
    session_id = secrets.token_urlsafe(32)
    over = or_(DashboardSession.ended_at.is_not(None), DashboardSession.created_at <= _cutoff())
    with store.session() as s:
        s.execute(delete(DashboardSession).where(over))
        s.add(DashboardSession(id=session_id, token_id=token_id))
    return session_id


def is_live(store: OffchainStore, session_id: str, token_id: str) -> bool:
    """Whether the session was started with this token, within its lifetime, and not
    ended (a session whose row is gone has ended)."""
    with store.reading() as s:
        row = s.scalar(select(DashboardSession).where(DashboardSession.id == session_id))
    return (
        row is not None
        and row.token_id == token_id
        and row.ended_at is None
        and row.created_at > _cutoff()
    )


def end(store: OffchainStore, session_id: str) -> None:
    """End the session for good: no copy of its cookie is accepted afterwards."""
    with store.session() as s:
        row = s.get(DashboardSession, session_id)
        if row is not None and row.ended_at is None:
            row.ended_at = utcnow()


def _cutoff() -> dt.datetime:
    """A session started at or before this moment has outlived LIFETIME."""
    return utcnow() - LIFETIME
