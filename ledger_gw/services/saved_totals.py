"""The report totals a gateway saves in its state directory, so that a start folds only
the records logged since they were saved.

The file holds counts per day, organisation and programme, the closed months' frozen
lattices and the anchor they were folded at: nothing that names a person beyond the
pseudonymous IDs the ledger itself holds, and it never goes on the ledger. It is a
cache, and nothing in it is trusted: it is signed with the key of the organisation the
gateway signs for, and the signature is checked with that key, which the gateway holds
(never with anything read from the file), before a byte of it is decoded; a file of
another version, another location cut or another key, or not signed, is refused (None)
and the log folded again. The anchor it names is then checked against the log itself
(:meth:`ledger_gw.interfaces.VerifiableLog.records` with ``since``), so totals of another
ledger, or of a log since replaced, are refused too. Decoding runs with an unpickler
restricted to the totals' own classes, a second wall behind the signature. The file is
written to a temporary file and renamed over the old one, so a crash leaves either.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger_gw.errors import AuthenticationError
from ledger_gw.files import SECRET, write_file
from ledger_gw.identity import Signer, verify_low_s
from ledger_gw.interfaces import Anchor
from ledger_gw.reports.aggregates import Aggregates

MAGIC = b"ledger-gw report totals v3\n"  # v3: cubes suppressed by reports.disclosure
TUNE_GC = True  # off only for the benchmark's comparison
_ALLOWED = {
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "int"),
    ("builtins", "dict"),
    ("builtins", "list"),
    ("collections", "defaultdict"),
    ("collections", "OrderedDict"),
    ("datetime", "datetime"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("decimal", "Decimal"),
    ("ledger_gw.interfaces", "Anchor"),
    ("ledger_gw.reports.aggregates", "Aggregates"),
    ("ledger_gw.reports.monthly", "MonthlyReleases"),
    ("ledger_gw.reports.monthly", "_Granted"),
    ("ledger_gw.reports.days", "Day"),
    ("ledger_gw.reports.overlaps", "Overlaps"),
    ("ledger_gw.reports.accountability", "_Ent"),
    ("ledger_gw.reports.accountability", "_Ref"),
    ("ledger_gw.reports.accountability", "_Tally"),
    ("ledger_gw.reports.accountability", "Cube"),
    ("ledger_gw.reports.accountability", "ReportQuery"),
}


class _TotalsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of the report totals")
        return super().find_class(module, name)


@dataclass(frozen=True)
class SavedTotals:
    """Where a gateway keeps its totals for one location cut, and the key that signs them."""

    path: Path
    signer: Signer
    location_chars: int

    def _signed(self, payload: bytes) -> bytes:
        """What the signature covers: the format, the location cut and the payload."""
        return MAGIC + str(self.location_chars).encode() + b"\n" + hashlib.sha256(payload).digest()

    def save(self, aggregates: Aggregates, anchor: Anchor) -> None:
        """Write the totals and their anchor, signed, whole or not at all."""
        payload = pickle.dumps((anchor, aggregates), protocol=5)
        signature = base64.b64encode(self.signer.sign(self._signed(payload)))
        write_file(self.path, MAGIC + signature + b"\n" + payload, SECRET)

    def load(self) -> tuple[Aggregates, Anchor] | None:
        """The saved totals and their anchor; None when absent or not signed by our key."""
        try:
            with self.path.open("rb") as f:  # in parts: no copy of a payload of megabytes
                magic, signature, payload = f.readline(), f.readline(), f.read()
        except OSError:
            return None
        if magic != MAGIC:
            return None
        try:
            verify_low_s(
                self.signer.key.public_key(),
                base64.b64decode(signature.rstrip(b"\n"), validate=True),
                self._signed(payload),
            )
        except (AuthenticationError, ValueError):
            return None
        return _decode(payload, self.location_chars)


def _decode(payload: bytes, location_chars: int) -> tuple[Aggregates, Anchor] | None:
    collecting = TUNE_GC and gc.isenabled()
    if collecting:
        gc.disable()  # a million new objects, none in a cycle: no collection while read
    try:
        anchor, aggregates = _TotalsUnpickler(io.BytesIO(payload)).load()
    except Exception:  # a refused class, or bytes we signed but cannot read (a version)
        return None
    finally:
        if collecting:
            gc.freeze()  # kept for the process's life: never scanned (refcounts still free)
            gc.enable()
    if (
        not isinstance(aggregates, Aggregates)
        or not isinstance(anchor, Anchor)
        or aggregates.location_chars != location_chars
    ):
        return None
    return aggregates, anchor
