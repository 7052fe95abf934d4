"""The contract re-run over a log, in log order, into a private scratch database.

Verification replays every entry and compares the world state it makes with the stored
one. The scratch holds only what the replay reads and what is compared: each key's
current value as written, never deflated (nothing but this process reads it: deflating
every value again took half the replay's time), with what of its entry it quotes; and
each transaction ID seen, so that a repeated one is found. Not the entries: the replay
reads those from the log. A file, so memory stays flat however long the log.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    func,
    select,
)

from ledger_gw.embedded.driver import upsert_state
from ledger_gw.embedded.quoting import parts_of, stored
from ledger_gw.embedded.stub import StateView
from ledger_gw.sqlite import sqlite_engine

_metadata = MetaData()
# The ledger's state columns (embedded.schema), so that the reads StateView makes find
# them; here each value is kept as written, whole, and rows are not clustered by key: a
# write appends its row and puts only its key among the others in an index, where in the
# key's own tree it would move whole values aside. 6% of the replay's time.
_state = Table(
    "state",
    _metadata,
    Column("key", LargeBinary, nullable=False, unique=True),
    Column("seq", BigInteger, nullable=False),
    Column("value", LargeBinary, nullable=False),
    Column("quote_at", Integer),
    Column("quote_from", Integer),
    Column("quote_len", Integer),
)
_tx_ids = Table(
    "tx_ids", _metadata, Column("tx_id", LargeBinary, primary_key=True), sqlite_with_rowid=False
)

# key, seq, value as written, quote_at, quote_from, quote_len
StateRow = tuple[bytes, int, bytes, int | None, int | None, int | None]


class Scratch:
    """The scratch database, in a temporary directory removed on close."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="ledger-verify-")
        self.path = f"{self._dir.name}/replay.db"
        # Nothing here needs to survive a crash: a failed run starts again from the log.
        # No journal either: a failed run discards the file.
        self.engine = sqlite_engine(
            f"sqlite:///{self.path}",
            60_000,
            {"synchronous": "OFF", "journal_mode": "OFF", "cache_size": -64 * 1024},
            page_size=16384,
        )
        _metadata.create_all(self.engine)

    @staticmethod
    def keys(conn: Connection) -> int:
        """How many keys the replay left in the state."""
        return int(conn.execute(select(func.count()).select_from(_state)).scalar_one())

    def close(self) -> None:
        self.engine.dispose()
        self._dir.cleanup()


class ScratchReads:
    """The contract's reads, from the scratch: values as written, no join, no inflating."""

    remote = False

    def __init__(self, conn: Connection) -> None:
        self.cursor: Any = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]

    def get_state(self, key: bytes) -> bytes | None:
        self.cursor.execute("SELECT value FROM state WHERE key = ?", (key,))
        row = self.cursor.fetchone()
        return None if row is None else bytes(row[0])

    def scan_state(self, low: bytes, high: bytes) -> list[tuple[bytes, bytes]]:
        self.cursor.execute(
            "SELECT key, value FROM state WHERE key >= ? AND key < ? ORDER BY key", (low, high)
        )
        return [(bytes(k), bytes(v)) for k, v in self.cursor.fetchall()]

    def scan_page(self, low: bytes, high: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        return self.scan_state(low, high)[:limit]  # the replay runs no query

    def write(self, tx_ids: list[bytes], rows: dict[bytes, StateRow]) -> None:
        """One chunk's transaction IDs (IntegrityError from SQLite on a repeat) and the
        current values it leaves."""
        self.cursor.executemany("INSERT INTO tx_ids (tx_id) VALUES (?)", [(t,) for t in tx_ids])
        self.cursor.executemany(upsert_state("?"), list(rows.values()))


class ScratchView(StateView):
    """A chunk's view of the replayed state: the scratch, overlaid by the chunk's writes."""

    def __post_init__(self) -> None:
        self.reads = ScratchReads(self.conn)
        self._driver = self.reads


def state_rows(
    position: int,
    entry: bytes,
    writes: Sequence[tuple[bytes, bytes]],
    quotable: Sequence[bytes],
    into: dict[bytes, StateRow],
) -> None:
    """What each write leaves in the scratch: its value whole, and what of the entry it
    quotes, as the ledger found when it stored it (embedded.quoting)."""
    parts = parts_of(entry, quotable)
    for key, value in writes:
        _, at, start, length = stored(value, parts)
        into[key] = (key, position, value, at, start, length)
