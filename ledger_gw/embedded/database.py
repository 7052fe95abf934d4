"""Engines for the embedded ledger, set up so that concurrent writers serialise.

SQLite (see ledger_gw.sqlite): synchronous=FULL, so that an acknowledged commit
survives power loss, and BEGIN IMMEDIATE, so that a writer takes the write lock
before it reads the tree head. PostgreSQL: a transaction-scoped advisory lock plays
the same part.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, create_engine, text

from ledger_gw.embedded.driver import WRITE_LOCK_ID
from ledger_gw.embedded.schema import metadata
from ledger_gw.sqlite import READ_ONLY, sqlite_engine

__all__ = ["READ_ONLY", "lock_for_append", "make_engine"]

_BUSY_TIMEOUT_MS = 60_000
_CACHE_KIB = 64 * 1024
_MMAP_BYTES = 1 << 31
# Stored entries and state rows run to a few hundred bytes: a 4 KiB page, SQLite's
# default, leaves a fifth of itself unused beside them, a 16 KiB one less. Also fewer
# levels in each B-tree.
_PAGE_BYTES = 16384


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sqlite_engine(
            url,
            _BUSY_TIMEOUT_MS,
            {
                "synchronous": "FULL",
                # Keys are random (pseudonyms, UUIDs): a bigger page cache keeps index
                # inserts off the disk as the ledger grows.
                "cache_size": -_CACHE_KIB,
                # The writer's own thread copies the WAL after each commit (walcopy);
                # SQLite's checkpoint on commit remains as a fallback.
                "wal_autocheckpoint": 16384,
                # Another process's commit empties this connection's page cache (the
                # appender's, for gunicorn's workers): mapped reads then come from the
                # OS's shared cache without a system call each. SQLite's default build
                # maps at most the first 2 GiB of the file.
                "mmap_size": _MMAP_BYTES,
            },
            page_size=_PAGE_BYTES,
        )
    else:
        engine = create_engine(url, pool_pre_ping=True)
    metadata.create_all(engine)
    return engine


def lock_for_append(conn: Connection) -> None:
    """Serialise appenders across processes (SQLite already holds its write lock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": WRITE_LOCK_ID})
