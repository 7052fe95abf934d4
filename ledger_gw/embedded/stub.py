"""The contract's stub over the embedded ledger's state.

Reads see committed state plus the earlier transactions of the same batch (which
commit together), never the transaction's own writes: the same rule as Fabric,
where reads come from the committed ledger and writes are buffered.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from chaincode.stub import Identity, composite_key
from ledger_gw.embedded.driver import Driver


def _upper_bound(prefix: bytes) -> bytes:
    # Composite prefixes end in 0x00, so the bound never overflows.
    return prefix[:-1] + bytes([prefix[-1] + 1])


@dataclass
class StateView:
    """Committed state in `conn`, overlaid by the writes of the batch so far.

    The contract reads a few keys per transaction, so these reads go straight to
    the DB-API cursor of the SQLAlchemy connection (same transaction, same
    snapshot): building a statement costs more than running it.
    """

    conn: Connection
    overlay: dict[bytes, bytes] = field(default_factory=dict)
    _sorted: list[bytes] | None = None  # overlay keys in order, made when a scan needs them

    def __post_init__(self) -> None:
        self._driver = Driver(self.conn)

    def get(self, key: bytes) -> bytes | None:
        if key in self.overlay:
            return self.overlay[key]
        return self._driver.get_state(key)

    def scan(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        upper = _upper_bound(prefix)
        rows = dict(self._driver.scan_state(prefix, upper))
        if self._sorted is None:
            self._sorted = sorted(self.overlay)
        first = bisect.bisect_left(self._sorted, prefix)
        last = bisect.bisect_left(self._sorted, upper, lo=first)
        if first == last:
            return list(rows.items())
        for key in self._sorted[first:last]:
            rows[key] = self.overlay[key]
        return sorted(rows.items())

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

    def put_state(self, key: str, value: bytes) -> None:
        self.writes[key.encode()] = bytes(value)

    def get_state_by_partial_composite_key(
        self, object_type: str, attributes: Sequence[str]
    ) -> Iterator[tuple[str, bytes]]:
        prefix = composite_key(object_type, attributes).encode()
        for key, value in self._view.scan(prefix):
            yield key.decode(), value

    def set_event(self, name: str, payload: bytes) -> None:
        self.events.append((name, bytes(payload)))
