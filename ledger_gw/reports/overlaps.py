"""Which open grants each grant overlaps, judged from the log as the contract judges them.

The contract names to a granter only the overlapping grants it may read for
deduplication (:mod:`chaincode.amendments`), so the answers on the log no longer hold
every overlap. A donor's count of possible duplicates (a month on its lattice,
suppressed as one), as all organisations' figures, is of every one, whoever granted
it: reports read the whole log, and find them again here, in log order, with the
contract's own notion of open and of overlapping. One organisation's own figures (any
period, at any checkpoint) count only those the contract named to it (:func:`named`):
an agency padding probe grants past k would otherwise read in its own report another
agency's grant to her, which the amendment keeps from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chaincode.entitlements import OPEN_STATES, TRANSITIONS, overlapping
from ledger_gw.interfaces import Record

_ENDING = frozenset(kind for kind, step in TRANSITIONS.items() if step.target not in OPEN_STATES)


class Overlaps:
    """Her open grants of each assistance type, as the records folded so far leave them."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}
        self._of: dict[str, tuple[str, str]] = {}  # each open grant's person and type

    def add(self, event: Mapping[str, Any]) -> list[str]:
        """The open grants a grant overlaps; [] for any other event, which may end one."""
        kind = event.get("type")
        if kind == "entitlement.granted":
            eid, start, end = str(event["entitlement_id"]), str(event["start"]), str(event["end"])
            key = (str(event["pid"]), str(event["assistance_type"]))
            held = self._open.setdefault(key, {})
            found = overlapping(
                [{"entitlement_id": i, "start": s, "end": e} for i, (s, e) in held.items()],
                start,
                end,
            )
            held[eid] = (start, end)
            self._of[eid] = key
            return found
        if kind in _ENDING and str(event["entitlement_id"]) in self._of:
            eid = str(event["entitlement_id"])
            key = self._of.pop(eid)
            del self._open[key][eid]
            if not self._open[key]:
                del self._open[key]
        return []


def named(record: Record) -> list[str]:
    """The grants a grant's record says the contract named to its granter ([] for any
    other record)."""
    if record.event.get("type") != "entitlement.granted":
        return []
    return [str(d) for d in record.result.get("possible_duplicate_of") or []]


def flagged(records: Iterable[Record]) -> dict[int, list[str]]:
    """Each grant's overlaps, by its position, over records in log order from the start."""
    overlaps = Overlaps()
    found: dict[int, list[str]] = {}
    for record in records:
        duplicates = overlaps.add(record.event)
        if duplicates:
            found[record.position] = duplicates
    return found
