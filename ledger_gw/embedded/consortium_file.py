"""The consortium file a running ledger was opened from, read again when it changes.

`ledger-gw key rotate` rewrites the file while gateways, the log node and the appending
process run. A process that kept the keys it started with would take the rotated-out
key (lost, perhaps stolen) for transactions after the rotation and refuse the new one
until restarted; verify, which judges each entry by the file, would then refuse the
log. So the ledger looks at the file's (mtime, size, inode) at most once a second when
admitting, and before each append, and takes the members' signing keys from it when it
changes.

It takes nothing else while running. What else changed (members, roles, CAs, witnesses,
the log's origin or key) is logged as an error and left for a restart, which reads the
file whole; a member's keys are taken only when the file extends them as a rotation
does (closing the current period, listing new keys), never when it rewrites a key's past
(a period reopened or moved would let a retired key sign again), and a file that does
not read is not taken at all: in both cases the ledger logs an error and keeps the keys
it has. A change left for a restart (a member added, say) holds back no later rotation:
were the file refused whole, the rotated-out key would sign on until the restart.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ledger_gw.consortium import Consortium
from ledger_gw.errors import LedgerError
from ledger_gw.identity import Authenticator, KeyPeriod

log = logging.getLogger(__name__)

#: Seconds between looks at the file from the admitting threads (the writer looks before
#: each append).
CHECK_EVERY_S = 1.0

_Stat = tuple[int, int, int] | None  # (mtime, size, inode); None: no file
_UNREAD: _Stat = (-1, -1, -1)  # no file's: the file may be newer than what was given


class ConsortiumFile:
    """The consortium in force and its authenticator, from ``path`` when given (None:
    the consortium given stays, as for a ledger made from one in memory)."""

    def __init__(
        self,
        consortium: Consortium,
        path: Path | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consortium = consortium
        self._auth = consortium.authenticator()
        self._path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._seen = _UNREAD
        self._looked = -float("inf")

    @property
    def consortium(self) -> Consortium:
        return self._consortium

    def authenticator(self, *, now: bool = False) -> Authenticator:
        """The keys in force; ``now``: looking at the file first, whenever it was last."""
        if self._path is not None and (now or self._clock() - self._looked >= CHECK_EVERY_S):
            self._look(self._path)
        return self._auth

    def _look(self, path: Path) -> None:
        with self._lock:
            self._looked = self._clock()
            seen = _stat(path)
            if seen == self._seen:
                return
            self._seen = seen
            if seen is None:
                log.error("%s is gone: keeping the signing keys in force", path)
                return
            try:
                found = Consortium.load(path)
            except (LedgerError, OSError, ValueError) as exc:
                log.error("%s does not read (%s): keeping the signing keys in force", path, exc)
                return
            taken, left = _rotated(self._consortium, found)
            if left:
                log.error(
                    "%s changed %s: not taken while running (restart to read the file whole)",
                    path,
                    ", ".join(left),
                )
            if taken is not self._consortium:
                self._consortium, self._auth = taken, taken.authenticator()
                log.info("%s: took the members' new signing keys", path)


def _stat(path: Path) -> _Stat:
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_mtime_ns, found.st_size, found.st_ino


def _rotated(old: Consortium, new: Consortium) -> tuple[Consortium, list[str]]:
    """``old`` with each member's signing keys as ``new`` extends them (``old`` itself
    when none is), and what else ``new`` changes, which is not taken."""
    orgs, left = dict(old.organisations), []
    for org_id, org in old.organisations.items():
        listed = new.organisations.get(org_id)
        if listed is None or listed.signing_keys == org.signing_keys:
            continue
        if _extends(org.signing_keys, listed.signing_keys):
            orgs[org_id] = replace(org, signing_keys=listed.signing_keys)
        else:
            left.append(f"{org_id}'s past signing keys")
    taken = replace(old, organisations=orgs) if orgs != old.organisations else old
    if old.organisations.keys() != new.organisations.keys():
        left.append("the members")
    elif _keyless(old) != _keyless(new):
        left.append("more than signing keys")
    return taken, left


def _extends(old: tuple[KeyPeriod, ...], new: tuple[KeyPeriod, ...]) -> bool:
    """Whether ``new`` is ``old`` with its open periods closed, perhaps, and keys added:
    what rotations make. A key's period reopened or moved would let it sign again."""
    if len(new) < len(old):
        return False
    added = {p.fingerprint for p in new[len(old) :]}
    if added & {p.fingerprint for p in old}:
        return False  # a key listed again: a retired one would sign once more
    for was, now in zip(old, new, strict=False):
        closed = was.valid_until is None and now.valid_until is not None
        if now != was and not (closed and now == replace(was, valid_until=now.valid_until)):
            return False
    return True


def _keyless(consortium: Consortium) -> dict[str, Any]:
    form = consortium.to_dict()
    for org in form["organisations"]:
        org.pop("signing_keys", None)
    return form
