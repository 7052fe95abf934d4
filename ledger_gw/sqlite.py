"""SQLite engines that several threads and processes can write without failing.

WAL mode, so that readers never block the writer nor wait for it. A writer opens its
transaction with BEGIN IMMEDIATE, taking the write lock before it reads: two writers
then queue on the busy timeout instead of one failing to upgrade its read lock. A
connection with the READ_ONLY execution option opens a plain BEGIN and takes no lock.

A database file is created readable by its owner only (0600): the off-chain stores hold
personal data, and SQLite gives the -wal and -shm files the database file's mode.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

READ_ONLY = "sqlite_read_only"  # execution option: a reader takes no write lock

# The file each engine opened, by device and inode: an open connection keeps reading a
# file that was deleted or replaced, so only the path can tell that it is gone.
_opened: weakref.WeakKeyDictionary[Engine, tuple[Path, int, int]] = weakref.WeakKeyDictionary()


def sqlite_engine(
    url: str, busy_timeout_ms: int, pragmas: Mapping[str, str | int], page_size: int | None = None
) -> Engine:
    """`pragmas` are set on every new connection, after WAL mode and the busy timeout.
    `page_size` is a new database's (an existing one keeps its own)."""
    database = make_url(url).database
    _create_owner_only(database)
    engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000})
    _track(engine, database)
    # Before WAL mode, which writes the database's first page at the default size.
    first = {} if page_size is None else {"page_size": page_size}
    settings = {**first, "journal_mode": "WAL", "busy_timeout": busy_timeout_ms, **pragmas}
    _configure(engine, settings, reading=False)
    return engine


def sqlite_reader(url: str, busy_timeout_ms: int, pragmas: Mapping[str, str | int]) -> Engine:
    """An engine that opens an existing file read-only (SQLite's mode=ro): what an
    auditor checks is evidence, and reading it must change no byte of it, its journal
    mode included. `pragmas` must be ones a reader may set."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise ValueError(f"{url!r}: a read-only engine opens a file by its path")
    # Built here, not by the URL's parser, which would undo the escaping of a path's
    # spaces, '?', '#' or '%' that the URI needs.
    uri = f"{Path(database).absolute().as_uri()}?mode=ro"
    timeout = busy_timeout_ms / 1000
    engine = create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False),
    )
    _track(engine, database)
    _configure(engine, {"busy_timeout": busy_timeout_ms, **pragmas}, reading=True)
    return engine


def _track(engine: Engine, database: str | None) -> None:
    if database and database != ":memory:" and not database.startswith("file:"):
        with contextlib.suppress(OSError):
            found = os.stat(database)
            _opened[engine] = (Path(database), found.st_dev, found.st_ino)


def _configure(engine: Engine, settings: Mapping[str, str | int], reading: bool) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # BEGIN is ours
        cursor = dbapi_connection.cursor()
        for name, value in settings.items():
            cursor.execute(f"PRAGMA {name}={value}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        read_only = reading or conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def connect(path: Path, **kwargs: Any) -> sqlite3.Connection:
    """A plain sqlite3 connection to a file created 0600 as the engines' are (an outbox of
    signed transactions, a gateway's receipts)."""
    _create_owner_only(str(path))
    connection: sqlite3.Connection = sqlite3.connect(path, **kwargs)
    return connection


@contextlib.contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction on a plain connection in autocommit mode (isolation_level
    None): BEGIN IMMEDIATE, so that two writers queue on the busy timeout; COMMIT at the
    end of the block, ROLLBACK on any exception."""
    db.execute("begin immediate")
    try:
        yield db
        db.execute("commit")
    except BaseException:
        db.execute("rollback")
        raise


def _create_owner_only(database: str | None) -> None:
    """Create the database file 0600 unless it exists (or lives in memory)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    with contextlib.suppress(OSError):  # it exists; or SQLite will say why it cannot be
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def file_gone(engine: Engine) -> str | None:
    """Why the file this engine opened is no longer the one at its path (deleted, its
    directory removed, or replaced by another file); None while it is."""
    opened = _opened.get(engine)
    if opened is None:
        return None
    path, device, inode = opened
    try:
        now = os.stat(path)
    except OSError:
        return f"{path} is gone"
    if (now.st_dev, now.st_ino) != (device, inode):
        return f"{path} was replaced by another file"
    return None
