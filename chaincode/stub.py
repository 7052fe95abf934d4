"""The only window the contract has on the world.

Mirrors the subset of Fabric's ChaincodeStub the contract needs, so that an
in-process implementation (embedded ledger) and a Fabric shim can both serve it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

Role = Literal["agency", "auditor", "donor"]
ROLES: tuple[Role, ...] = ("agency", "auditor", "donor")


@dataclass(frozen=True)
class Identity:
    """The submitting organisation, as established by signature checks outside the contract."""

    org_id: str
    role: Role


class Stub(Protocol):
    @property
    def tx_id(self) -> str: ...

    @property
    def tx_timestamp(self) -> datetime:
        """Timezone-aware UTC time set by the submitter and recorded with the transaction."""
        ...

    @property
    def creator(self) -> Identity: ...

    def get_state(self, key: str) -> bytes | None: ...

    def get_states(self, keys: Sequence[str]) -> list[bytes | None]:
        """Each key's value, in order: one request where the peer takes several at once
        (Fabric 3.1's multiple-key reads), one each elsewhere."""
        ...

    def put_state(self, key: str, value: bytes) -> None: ...

    def get_state_by_partial_composite_key(
        self, object_type: str, attributes: Sequence[str]
    ) -> Iterator[tuple[str, bytes]]:
        """Keys in ascending order, as Fabric returns them."""
        ...

    def get_state_page(self, start: str, end: str, limit: int) -> list[tuple[str, bytes]]:
        """At most `limit` keys from `start` up to, not including, `end`, in ascending
        order, for queries only (Fabric pages a range only where nothing is written)."""
        ...

    def set_event(self, name: str, payload: bytes) -> None: ...


_SEP = "\x00"
MAX_UNICODE = "\U0010ffff"  # above every character: the end of a partial key's range


def composite_key(object_type: str, attributes: Sequence[str]) -> str:
    """Fabric's composite key layout: U+0000, type, then each attribute followed by U+0000."""
    key = _SEP + _SEP.join((object_type, *attributes, ""))
    # One separator before and after each part: any more means a part held one.
    if key.count(_SEP) != len(attributes) + 2 or MAX_UNICODE in key:
        raise ValueError("composite key parts may not contain U+0000 or U+10FFFF")
    return key


def split_composite_key(key: str) -> tuple[str, list[str]]:
    parts = key[1:].split(_SEP)[:-1]
    return parts[0], parts[1:]
