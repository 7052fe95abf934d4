"""The stored world state against the replayed one, a range of keys at a time.

After the replay, every key's row in the ledger's state must be the row the replay
left in its scratch (embedded.replay), and the ledger may hold no other. The verifying
process reads the stored rows in key order, from its one read snapshot; comparing them
(each stored value inflated) runs on the pool (embedded.verify_pool), a range at a
time, each range reading the scratch's rows of the same keys itself.
"""

from __future__ import annotations

import itertools
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import NamedTuple

from ledger_gw.embedded.packing import unpack
from ledger_gw.errors import IntegrityError

# key, seq, value (stored: deflated, without the part it quotes), quote_at, quote_from,
# quote_len; seq None when the stored one is no integer, and so names no log position
StoredRow = tuple[bytes, int | None, bytes, int | None, int | None, int | None]

_UNEXPLAINED = "state has rows the log does not explain, or lacks some"


class Range(NamedTuple):
    scratch: str  # the path of the replay's scratch database, committed
    low: bytes | None  # keys above this one (None: from the first)
    high: bytes | None  # up to this one (None: to the last)
    rows: list[StoredRow]  # the stored rows of these keys, in key order


class Compared(NamedTuple):
    rows: int
    failure: tuple[int | None, str] | None  # the first difference: position, what


def compare(task: Range) -> Compared:
    """A difference is reported at the log position its stored row names."""
    count = 0
    uri = f"{Path(task.scratch).as_uri()}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as scratch:
        # zip_longest: plain zip would swallow one extra row at the end unseen.
        for mine, theirs in itertools.zip_longest(task.rows, _replayed(scratch, task)):
            if mine is None or theirs is None:
                return Compared(count, (None, _UNEXPLAINED))
            count += 1
            try:
                inflated = (mine[0], mine[1], unpack(mine[2]), *mine[3:])
            except IntegrityError as exc:
                return Compared(count, (mine[1], str(exc)))
            if inflated != theirs:
                return Compared(count, (mine[1], "a state row differs from the replayed one"))
    return Compared(count, None)


def _replayed(scratch: sqlite3.Connection, task: Range) -> list[StoredRow]:
    """The scratch's rows of the range, each value cut as the ledger stores it: without
    the part it quotes."""
    where, bounds = [], []
    if task.low is not None:
        where.append("key > ?")
        bounds.append(task.low)
    if task.high is not None:
        where.append("key <= ?")
        bounds.append(task.high)
    sql = "SELECT key, seq, value, quote_at, quote_from, quote_len FROM state"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = []
    for key, seq, value, at, start, length in scratch.execute(sql + " ORDER BY key", bounds):
        kept = value if at is None else value[:at] + value[at + length :]
        rows.append((key, seq, kept, at, start, length))
    return rows
