"""Engines for the embedded ledger, set up so that concurrent writers make one log.

SQLite (see ledger_gw.sqlite): synchronous=FULL, so that an acknowledged commit
survives power loss, and BEGIN IMMEDIATE, so that a writer takes the write lock
before it reads the tree head.

PostgreSQL: a commit returns only once the server has flushed it (`synchronous_commit`
never off, whatever the server's, database's or role's default). The writer appends
optimistically, in two statements and no transaction around them
(`appending_connection`). A lock held from the head to the commit would need a
transaction, which costs the client more than the two statements themselves. The
log's positions are unique, and every append after a head read writes the position
that head ends at: an append on a stale head is refused whole (driver.StaleHead), and
the writer appends once more holding the advisory lock (`lock_for_append`), which
optimistic appends wait for before they write, so that the second try cannot be
overtaken.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, make_url, text

from ledger_gw.embedded.driver import WRITE_LOCK_ID
from ledger_gw.embedded.schema import log, metadata
from ledger_gw.errors import ConfigError
from ledger_gw.sqlite import READ_ONLY, sqlite_engine, sqlite_reader

__all__ = [
    "READ_ONLY",
    "LedgerLostError",
    "appending_connection",
    "ledger_missing",
    "lock_for_append",
    "make_engine",
    "reading_engine",
]

_BUSY_TIMEOUT_MS = 60_000
_CACHE_KIB = 64 * 1024
_MMAP_BYTES = 1 << 31
# Stored entries and state rows run to a few hundred bytes: a 4 KiB page, SQLite's
# default, leaves a fifth of itself unused beside them, a 16 KiB one less. Also fewer
# levels in each B-tree.
_PAGE_BYTES = 16384


# What a reader sets on its connections, a writer too.
_READING = {
    # Keys are random (pseudonyms, UUIDs): a bigger page cache keeps index inserts off
    # the disk as the ledger grows.
    "cache_size": -_CACHE_KIB,
    # Another process's commit empties this connection's page cache (the appender's, for
    # gunicorn's workers): mapped reads then come from the OS's shared cache without a
    # system call each. SQLite's default build maps at most the first 2 GiB of the file.
    "mmap_size": _MMAP_BYTES,
}


def make_engine(url: str) -> Engine:
    """An engine for the ledger's own processes: tables created if missing."""
    if url.startswith("sqlite"):
        engine = sqlite_engine(
            url,
            _BUSY_TIMEOUT_MS,
            {
                "synchronous": "FULL",
                # The writer's own thread copies the WAL after each commit (walcopy);
                # SQLite's checkpoint on commit remains as a fallback.
                "wal_autocheckpoint": 16384,
                **_READING,
            },
            page_size=_PAGE_BYTES,
        )
    else:
        engine = create_engine(url, pool_pre_ping=True)
        event.listen(engine, "connect", _commits_flushed)
    metadata.create_all(engine)
    return engine


# A session's own setting wins over the server's, the database's and the role's.
_FLUSHED_COMMITS = (
    "SELECT set_config('synchronous_commit', 'on', false)"
    " WHERE current_setting('synchronous_commit') = 'off'"
)


def _commits_flushed(dbapi_connection: Any, _record: Any) -> None:
    """An asynchronous commit (``synchronous_commit = off``, a common tuning) returns
    before its WAL is flushed, and a crash of the server then loses it: acknowledged,
    not durable. Stricter settings (local, a standby's) are kept."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute(_FLUSHED_COMMITS)
    dbapi_connection.commit()


class LedgerLostError(ConfigError):
    """A log's ledger is missing, or its database holds none: opened as usual, it would
    start an empty one, and the log's key would sign a new history, a fork of the one
    it signed before."""

    code = "ledger_lost"


def ledger_missing(url: str) -> str | None:
    """What is missing of the ledger at ``url``, None when it holds one: an SQLite file
    that is not there, or a database (an SQLite file, a PostgreSQL database) without the
    ledger's tables. Reads only: creates no file, writes no byte."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ":memory:"
        if not Path(database).is_file():
            return f"{database} is missing"
    engine = reading_engine(url)
    try:
        if inspect(engine).has_table(log.name):
            return None
    finally:
        engine.dispose()
    return f"{parsed.render_as_string(hide_password=True)} holds no ledger"


def reading_engine(url: str) -> Engine:
    """An engine for audits and reports, which read a ledger they must not change: an
    SQLite file opened read-only, a PostgreSQL session in read-only transactions; no table
    created, no setting written."""
    if url.startswith("sqlite"):
        return sqlite_reader(url, _BUSY_TIMEOUT_MS, _READING)
    return create_engine(url, pool_pre_ping=True).execution_options(postgresql_readonly=True)


def lock_for_append(conn: Connection) -> None:
    """No other append commits before this transaction ends (SQLite already holds its
    write lock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": WRITE_LOCK_ID})


def appending_connection(engine: Engine) -> Connection:
    """The writer's own connection, kept from one commit to the next.

    On PostgreSQL in autocommit, and its own (detached from the pool, since its
    settings go with it): its statements look rows up by index from the first, planned
    once, where the server would plan each afresh (which costs more than running it) or
    keep a plan made while the tables were small enough to scan."""
    conn = engine.connect()
    if conn.dialect.name != "postgresql":
        return conn
    conn.execution_options(isolation_level="AUTOCOMMIT")
    conn.detach()
    conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
    conn.exec_driver_sql("SET enable_seqscan = off")
    conn.commit()
    return conn
