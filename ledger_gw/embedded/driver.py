"""Hot-path statements, run on the DB-API cursor inside a SQLAlchemy transaction.

Each append reads a few keys per transaction and writes a few rows; compiling a
SQLAlchemy statement costs more than running it, so these few statements are
plain SQL that SQLite and PostgreSQL both accept. Only the parameter marker
differs (a fixed token, never data: every value is bound).

On PostgreSQL every statement is a round trip to the server, and costs the client more
than the rows it carries: the log's size, the committed transaction IDs that start an
append and the keys its batch reads first come in one statement; a batch's rows go as
arrays, one per column, all of them in one statement with the checkpoint. The writer
appends optimistically there (ledger_gw.embedded.database): no transaction spans the
two statements, and the log's unique positions refuse an append whole when another
appender committed after its head was read (`StaleHead`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from ledger_gw.embedded.packing import pack, unpack
from ledger_gw.embedded.quoting import parts_of, restored, stored
from ledger_gw.errors import UnavailableError
from ledger_gw.log.merkle import NodeID

WRITE_LOCK_ID = 0x4C454447  # "LEDG": PostgreSQL's advisory lock that serialises appenders
_MAX_SEQ = "SELECT max(seq) FROM log"
_UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE


def storage_failure(exc: BaseException) -> str:
    """Why the storage failed, as its driver said it in the first line (a full disk, a
    malformed file), after the driver's error class: never the statement and its values,
    which SQLAlchemy's message adds below."""
    cause = getattr(exc, "orig", None) or exc
    said = str(cause).strip().splitlines()
    return f"{cause.__class__.__name__}: {said[0]}" if said else cause.__class__.__name__


class StaleHead(Exception):  # noqa: N818 (a condition, not a failure: the caller retries)
    """Another appender committed after this one read the log's head: nothing of this
    append was written."""


def upsert_state(mark: str) -> str:
    """Each written key's row as its last write leaves it, `mark` being the driver's
    parameter mark (the verifier's scratch writes its replayed state with it too)."""
    marks = ", ".join([mark] * 6)
    return (
        f"INSERT INTO state (key, seq, value, quote_at, quote_from, quote_len) VALUES ({marks})"  # noqa: S608
        " ON CONFLICT (key) DO UPDATE SET seq = excluded.seq, value = excluded.value,"
        " quote_at = excluded.quote_at, quote_from = excluded.quote_from,"
        " quote_len = excluded.quote_len"
    )


class Driver:
    def __init__(self, conn: Connection) -> None:
        m = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        self.mark = m
        # Whether a statement costs a round trip to a server (PostgreSQL) rather than a
        # call into the library (SQLite).
        self.remote = conn.dialect.name == "postgresql"
        self.cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        current = _CURRENT  # the entry is read only for a value that quotes it
        self._get = f"{current} WHERE s.key = {m}"
        self._scan = f"{current} WHERE s.key >= {m} AND s.key < {m} ORDER BY s.key"
        self._page = f"{self._scan} LIMIT {m}"
        self._node = f"SELECT hash FROM nodes WHERE level = {m} AND idx = {m}"  # noqa: S608

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """The rows of a read. One that fails is the ledger's storage failing, not the
        transaction whose contract made it (embedded.simulation)."""
        try:
            self.cursor.execute(sql, tuple(params))
            return list(self.cursor.fetchall())
        except Exception as exc:
            raise UnavailableError(f"ledger storage failed: {storage_failure(exc)}") from exc

    def get_state(self, key: bytes) -> bytes | None:
        rows = self._all(self._get, (key,))
        return _value(rows[0]) if rows else None

    def scan_state(self, low: bytes, high: bytes) -> list[tuple[bytes, bytes]]:
        return [(bytes(row[0]), _value(row)) for row in self._all(self._scan, (low, high))]

    def scan_page(self, low: bytes, high: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        rows = self._all(self._page, (low, high, limit))
        return [(bytes(row[0]), _value(row)) for row in rows]

    def node_hash(self, level: int, index: int) -> bytes | None:
        rows = self._all(self._node, (level, index))
        return bytes(rows[0][0]) if rows else None

    def log_size(self) -> int:
        last = self._all(_MAX_SEQ)[0][0]
        return 0 if last is None else int(last) + 1

    def _committed(self, tx_ids: Sequence[str]) -> list[tuple[str, int, bytes]]:
        """Which of `tx_ids` the log holds, on SQLite (PostgreSQL's head asks with
        `_COMMITTED`): (transaction ID, position, entry)."""
        ids = [bytes.fromhex(t) for t in tx_ids]
        marks = ", ".join([self.mark] * len(tx_ids))
        rows = self._all(f"SELECT tx_id, seq, entry FROM log WHERE tx_id IN ({marks})", ids)  # noqa: S608
        return [_committed_row(*row) for row in rows]

    def head(self, tx_ids: Sequence[str], keys: Sequence[bytes] = ()) -> Head:
        """The log's size, which of `tx_ids` it holds, and the current values of those of
        `keys` that have one: on SQLite under the write lock (BEGIN IMMEDIATE); on
        PostgreSQL in one statement, whose append fails if another came between them."""
        if not self.remote:
            values = {key: self.get_state(key) for key in keys}
            found = {key: value for key, value in values.items() if value is not None}
            return Head(self.log_size(), self._committed(tx_ids), found)
        ids = [bytes.fromhex(t) for t in tx_ids]
        head = [(_SIZE, ()), (_COMMITTED, (ids,))]
        if keys:
            head.append((_GET_MANY, (list(keys),)))
        self.cursor.execute(*_tagged(head))
        return Head(*_untagged(self.cursor.fetchall()))

    def append(self, rows: Rows, checkpoint: tuple[int, str]) -> None:
        """On PostgreSQL one statement, atomic on its own: StaleHead, with nothing
        written, when another append took a position of these rows first."""
        if self.remote:
            try:
                self.cursor.execute(*rows.as_statement(checkpoint))
            except Exception as exc:
                if getattr(exc, "sqlstate", None) == _UNIQUE_VIOLATION:
                    raise StaleHead(str(exc)) from exc
                raise
            return
        m = self.mark
        c = self.cursor
        c.executemany(
            f"INSERT INTO log (seq, tx_id, timestamp, entry) VALUES ({m}, {m}, {m}, {m})",  # noqa: S608
            rows.log,
        )
        c.executemany(
            f"INSERT INTO certificates (ref, pem) VALUES ({m}, {m}) "  # noqa: S608
            "ON CONFLICT (ref) DO NOTHING",
            list(rows.certificates.items()),
        )
        c.executemany(f"INSERT INTO nodes (level, idx, hash) VALUES ({m}, {m}, {m})", rows.nodes)  # noqa: S608
        c.executemany(upsert_state(m), list(rows.state.values()))
        c.execute(f"INSERT INTO checkpoints (size, note) VALUES ({m}, {m})", checkpoint)  # noqa: S608


@dataclass
class Head:
    """What an append starts from (`Driver.head`)."""

    size: int  # the log's
    committed: list[tuple[str, int, bytes]]  # (transaction ID, position, entry as written)
    values: dict[bytes, bytes]  # of the keys asked for, those that have a value


@dataclass
class Rows:
    """The rows one batch of appended transactions adds to the ledger's tables, entries
    and values in their stored form (embedded.packing)."""

    log: list[tuple[int, bytes, str, bytes]] = field(default_factory=list)
    certificates: dict[str, str] = field(default_factory=dict)  # reference → PEM, new ones
    nodes: list[tuple[int, int, bytes]] = field(default_factory=list)
    # key → (key, seq, value, quote_at, quote_from, quote_len): the last write wins
    state: dict[bytes, tuple[bytes, int, bytes, int | None, int | None, int | None]] = field(
        default_factory=dict
    )

    def add(
        self,
        position: int,
        tx_id: str,
        timestamp: str,
        entry: bytes,
        writes: Sequence[tuple[bytes, bytes]],
        new_nodes: Sequence[tuple[NodeID, bytes]],
        quotable: Sequence[bytes] = (),
    ) -> None:
        """`quotable`: the parts of `entry` its writes may contain (its result, its
        arguments), which they then quote rather than copy."""
        self.log.append((position, bytes.fromhex(tx_id), timestamp, pack(entry)))
        self.nodes.extend((n.level, n.index, h) for n, h in new_nodes)
        parts = parts_of(entry, quotable)
        for key, value in writes:
            kept, at, start, length = stored(value, parts)
            self.state[key] = (key, position, pack(kept), at, start, length)

    def as_statement(self, checkpoint: tuple[int, str]) -> tuple[str, tuple[Any, ...]]:
        """One PostgreSQL statement that writes these rows and the checkpoint: a
        statement costs the client more than its rows, which go as a column array each,
        unnested by the server, one table per part of the statement.

        Every part takes its rows through the append lock, shared: optimistic appends
        never wait for one another (the log's positions decide between them), but none
        writes while an appender holds the lock itself (`database.lock_for_append`)."""
        parts = [(_INSERT_LOG, _columns(self.log, 4))]
        if self.certificates:
            parts.append((_INSERT_CERTIFICATES, _columns(list(self.certificates.items()), 2)))
        parts.append((_INSERT_NODES, _columns(self.nodes, 3)))
        parts.append((_UPSERT_STATE, _columns(list(self.state.values()), 6)))
        tables = ", ".join(f"w{i} AS ({sql})" for i, (sql, _) in enumerate(parts))
        params = (WRITE_LOCK_ID, *(column for _, columns in parts for column in columns))
        insert = "INSERT INTO checkpoints (size, note) SELECT %s::int8, %s::text FROM held"
        return f"WITH {_HELD}, {tables} {insert}", (*params, *checkpoint)


_HELD = "held AS (SELECT pg_advisory_xact_lock_shared(%s))"
_INSERT_LOG = (
    "INSERT INTO log (seq, tx_id, timestamp, entry)"
    " SELECT r.* FROM held, unnest(%s::int8[], %b::bytea[], %s::text[], %b::bytea[]) AS r"
)
_INSERT_CERTIFICATES = (
    "INSERT INTO certificates (ref, pem)"
    " SELECT r.* FROM held, unnest(%s::text[], %s::text[]) AS r"
    " ON CONFLICT (ref) DO NOTHING"
)
_INSERT_NODES = (
    "INSERT INTO nodes (level, idx, hash)"
    " SELECT r.* FROM held, unnest(%s::int4[], %s::int8[], %b::bytea[]) AS r"
)
_UPSERT_STATE = (
    "INSERT INTO state (key, seq, value, quote_at, quote_from, quote_len)"
    " SELECT r.* FROM held, unnest(%b::bytea[], %s::int8[], %b::bytea[], %s::int4[],"
    " %s::int4[], %s::int4[]) AS r"
    " ON CONFLICT (key) DO UPDATE SET seq = excluded.seq, value = excluded.value,"
    " quote_at = excluded.quote_at, quote_from = excluded.quote_from,"
    " quote_len = excluded.quote_len"
)


def _columns(rows: Sequence[Sequence[Any]], width: int) -> tuple[list[Any], ...]:
    return tuple([row[i] for row in rows] for i in range(width))


def _tagged(statements: Sequence[tuple[str, tuple[Any, ...]]]) -> tuple[str, tuple[Any, ...]]:
    """Statements whose rows share one shape, tagged by what they answer, as one: each
    statement on PostgreSQL costs the client more than the rows it returns."""
    sql = " UNION ALL ".join(f"({part})" for part, _ in statements)
    return sql, tuple(p for _, params in statements for p in params)


def _untagged(rows: Sequence[Any]) -> tuple[int, list[tuple[str, int, bytes]], dict[bytes, bytes]]:
    """What `_tagged` statements returned: the log's size, the committed transactions
    asked for, and the values of the keys asked for."""
    size = 0
    committed: list[tuple[str, int, bytes]] = []
    found: dict[bytes, bytes] = {}
    for tag, key, seq, *value in rows:
        if tag == _SIZE_TAG:
            size = 0 if seq is None else int(seq) + 1
        elif tag == _COMMITTED_TAG:
            committed.append(_committed_row(key, seq, value[-1]))
        elif tag == _KEY_TAG:
            found[bytes(key)] = _value((key, *value))
    return size, committed, found


# Every tagged row: tag, key (or transaction ID), seq, value, quote_at, quote_from,
# quote_len, the entry (quoted, or committed). The tags, as the statements spell them:
_SIZE_TAG, _COMMITTED_TAG, _KEY_TAG = 0, 1, 2
_SIZE = (
    "SELECT 0, NULL::bytea, max(seq), NULL::bytea, NULL::int4, NULL::int4,"
    " NULL::int4, NULL::bytea FROM log"
)
_COMMITTED = (
    "SELECT 1, tx_id, seq, NULL::bytea, NULL::int4, NULL::int4, NULL::int4,"
    " entry FROM log WHERE tx_id = ANY(%b::bytea[])"
)
# The entry a value quotes, looked up by its position for each row that quotes one: a
# join would let the planner hash the whole log, whose cost grows with it.
_QUOTED = "(SELECT l.entry FROM log l WHERE s.quote_at IS NOT NULL AND l.seq = s.seq)"
_GET_MANY = (
    f"SELECT 2, s.key, s.seq, s.value, s.quote_at, s.quote_from, s.quote_len, {_QUOTED}"  # noqa: S608
    " FROM state s WHERE s.key = ANY(%b::bytea[])"
)
_CURRENT = (
    "SELECT s.key, s.value, s.quote_at, s.quote_from, s.quote_len, l.entry"
    " FROM state s LEFT JOIN log l ON s.quote_at IS NOT NULL AND l.seq = s.seq"
)


def _committed_row(tx_id: Any, seq: Any, entry: Any) -> tuple[str, int, bytes]:
    """A log row found by transaction ID, as `Head.committed` lists it."""
    return bytes(tx_id).hex(), int(seq), unpack(bytes(entry))


def _value(row: Sequence[Any]) -> bytes:
    """A value as written, from a row of ``key, value, quote_at, quote_from, quote_len,
    the entry quoted``."""
    _, value, at, start, length, entry = row
    named = entry is not None and start is not None and length is not None
    part = unpack(bytes(entry))[start : start + length] if named else None
    return restored(unpack(bytes(value)), at, part)
