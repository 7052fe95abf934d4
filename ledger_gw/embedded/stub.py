"""The contract's stub over the embedded ledger's state.

Reads see committed state plus the earlier transactions of the same batch (which
commit together), never the transaction's own writes: the same rule as Fabric,
where reads come from the committed ledger and writes are buffered.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection

from chaincode.stub import Identity, composite_key
from ledger_gw.embedded.driver import Driver, Head


def _upper_bound(prefix: bytes) -> bytes:
    # Composite prefixes end in 0x00, so the bound never overflows.
    return prefix[:-1] + bytes([prefix[-1] + 1])


class StateReads(Protocol):
    """Where a view reads committed state: the ledger's tables (embedded.driver), or a
    verifier's scratch (embedded.replay)."""

    remote: bool

    def get_state(self, key: bytes) -> bytes | None: ...

    def scan_state(self, low: bytes, high: bytes) -> list[tuple[bytes, bytes]]: ...

    def scan_page(self, low: bytes, high: bytes, limit: int) -> list[tuple[bytes, bytes]]: ...


@dataclass
class StateView:
    """Committed state in `conn`, overlaid by the writes of the batch so far.

    The contract reads a few keys per transaction, so these reads go straight to
    the DB-API cursor of the SQLAlchemy connection: building a statement costs more
    than running it. What was read from `conn` is kept for the view's life: committed
    state cannot change under a writer that holds the write lock (SQLite), and an
    optimistic writer's append is refused if it did (PostgreSQL, see
    embedded.database); `head` fills this in with its round trip.
    """

    conn: Connection
    overlay: dict[bytes, bytes] = field(default_factory=dict)
    _sorted: list[bytes] | None = None  # overlay keys in order, made when a scan needs them
    # Committed state read so far: each key's value (None: no value), each prefix's rows.
    _known: dict[bytes, bytes | None] = field(default_factory=dict)
    _scanned: dict[bytes, list[tuple[bytes, bytes]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._driver: StateReads = Driver(self.conn)

    @property
    def remote(self) -> bool:
        """Whether each read costs a round trip to a database server."""
        return self._driver.remote

    def get(self, key: bytes) -> bytes | None:
        if key in self.overlay:
            return self.overlay[key]
        known = self._known
        if key in known:
            return known[key]
        value = known[key] = self._driver.get_state(key)
        return value

    def scan(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        upper = _upper_bound(prefix)
        committed = self._scanned.get(prefix)
        if committed is None:
            committed = self._scanned[prefix] = self._driver.scan_state(prefix, upper)
        return self._overlaid(committed, prefix, upper)

    def page(self, low: bytes, high: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        """At most `limit` rows from `low` up to `high`: a query's, which writes nothing;
        a transaction that did write sees its batch's writes too, from a whole range."""
        if self.overlay:
            return self._overlaid(self._driver.scan_state(low, high), low, high)[:limit]
        return self._driver.scan_page(low, high, limit)

    def _overlaid(
        self, committed: list[tuple[bytes, bytes]], prefix: bytes, upper: bytes
    ) -> list[tuple[bytes, bytes]]:
        if self._sorted is None:
            self._sorted = sorted(self.overlay)
        first = bisect.bisect_left(self._sorted, prefix)
        last = bisect.bisect_left(self._sorted, upper, lo=first)
        if first == last:
            return list(committed)
        rows = dict(committed)
        for key in self._sorted[first:last]:
            rows[key] = self.overlay[key]
        return sorted(rows.items())

    def head(self, tx_ids: Sequence[str], keys: Iterable[bytes] = ()) -> Head:
        """The log's head (`Driver.head`), reading the committed values of `keys` with it."""
        if not isinstance(self._driver, Driver):
            raise TypeError("only the ledger's own tables have a head")
        wanted = [k for k in dict.fromkeys(keys) if k not in self._known]
        head = self._driver.head(tx_ids, wanted)
        for key in wanted:
            self._known[key] = head.values.get(key)
        return head

    def apply(self, writes: dict[bytes, bytes]) -> None:
        if self._sorted is not None:  # kept in order once a scan has needed it
            for key in writes:
                if key not in self.overlay:
                    bisect.insort(self._sorted, key)
        self.overlay.update(writes)


class TxStub:
    """One transaction's view: buffered writes, events, and who submitted it."""

    def __init__(self, view: StateView, creator: Identity, tx_id: str, timestamp: datetime) -> None:
        self._view = view
        self._creator = creator
        self._tx_id = tx_id
        self._timestamp = timestamp
        self.writes: dict[bytes, bytes] = {}
        self.events: list[tuple[str, bytes]] = []

    @property
    def tx_id(self) -> str:
        return self._tx_id

    @property
    def tx_timestamp(self) -> datetime:
        return self._timestamp

    @property
    def creator(self) -> Identity:
        return self._creator

    def get_state(self, key: str) -> bytes | None:
        return self._view.get(key.encode())

    def get_states(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self.get_state(key) for key in keys]

    def put_state(self, key: str, value: bytes) -> None:
        self.writes[key.encode()] = bytes(value)

    def get_state_by_partial_composite_key(
        self, object_type: str, attributes: Sequence[str]
    ) -> Iterator[tuple[str, bytes]]:
        prefix = composite_key(object_type, attributes).encode()
        for key, value in self._view.scan(prefix):
            yield key.decode(), value

    def get_state_page(self, start: str, end: str, limit: int) -> list[tuple[str, bytes]]:
        rows = self._view.page(start.encode(), end.encode(), limit)
        return [(key.decode(), value) for key, value in rows]

    def set_event(self, name: str, payload: bytes) -> None:
        self.events.append((name, bytes(payload)))
