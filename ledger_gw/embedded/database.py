"""Engines for the embedded ledger, set up so that concurrent writers serialise.

SQLite: WAL, synchronous=FULL (an acknowledged commit survives power loss), and
BEGIN IMMEDIATE so that a writer takes the write lock before it reads the tree
head. PostgreSQL: a transaction-scoped advisory lock plays the same part.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text

from ledger_gw.embedded.schema import metadata

READ_ONLY = "ledger_read_only"  # execution option: a reader takes no write lock
_WRITE_LOCK_ID = 0x4C454447  # "LEDG"
_BUSY_TIMEOUT_MS = 60_000
_CACHE_KIB = 64 * 1024
_MMAP_BYTES = 1 << 31


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            # Keys are random (pseudonyms, UUIDs): a bigger page cache keeps index
            # inserts off the disk as the ledger grows.
            cursor.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
            cursor.execute("PRAGMA wal_autocheckpoint=16384")
            # Another process's commit empties this connection's page cache (the
            # appender's, for gunicorn's workers): mapped reads then come from the OS's
            # shared cache without a system call each. SQLite's default build maps at
            # most the first 2 GiB of the file.
            cursor.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            reading = conn.get_execution_options().get(READ_ONLY, False)
            conn.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")

    else:
        engine = create_engine(url, pool_pre_ping=True)
    metadata.create_all(engine)
    return engine


def lock_for_append(conn: Connection) -> None:
    """Serialise appenders across processes (SQLite already holds its write lock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _WRITE_LOCK_ID})
