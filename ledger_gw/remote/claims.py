"""What an auditor's gateway has read of a log node's log, kept so that the next audit
bundle reads only what is new.

A bundle holds every record of its subject's person up to its anchor: one left out would
pass unseen, so the node's word on which records those are counts for nothing, and the
log is read whole, every entry's signature checked. This index keeps what that reading
found: each person's log positions, the person each referral and entitlement is about,
and the Merkle tree's border at the size read to. The next read starts at that size:
the new entries are hashed onto the kept border, and the root they give must be the
anchor's, which proves what was read before a prefix of the anchor's tree.

The index is the gateway's own file (0600), beside its receipts: it holds pseudonymous
IDs and positions only, as the log does.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ledger_gw import sqlite
from ledger_gw.interfaces import Record
from ledger_gw.log.merkle import CompactRange

_SCHEMA = """
create table if not exists people (
    pid text not null, position integer not null, leaf blob not null,
    primary key (pid, position)) without rowid;
create table if not exists subjects (subject text primary key, pid text not null) without rowid;
create table if not exists border (
    id integer primary key check (id = 1), size integer not null, hashes blob not null);
"""

_OBJECTS = ("referral_id", "entitlement_id")  # what a claim names: a referral, an entitlement


@dataclass
class Reading:
    """The records read beyond the index, before their root is checked: nothing of them
    is kept until it is (:meth:`ClaimIndex.keep`)."""

    tree: CompactRange
    people: list[tuple[str, int, bytes]] = field(default_factory=list)
    subjects: dict[str, str] = field(default_factory=dict)

    def add(self, record: Record, leaf: bytes, known: ClaimIndex) -> None:
        """Her record (and its leaf hash): a person's, when its event names her, or a
        referral or an entitlement of hers (read earlier, or in this reading)."""
        event = record.event
        pid = event.get("pid")
        if not isinstance(pid, str):
            named = [event[k] for k in _OBJECTS if isinstance(event.get(k), str)]
            pid = next(
                (p for s in named if (p := self.subjects.get(s) or known.person_of(s))), None
            )
        if pid is None:
            return
        self.people.append((pid, record.position, leaf))
        for name in _OBJECTS:
            subject = event.get(name)
            if isinstance(subject, str) and event.get("pid") == pid:
                self.subjects.setdefault(subject, pid)


class ClaimIndex:
    """The index in its file, opened when an auditor first asks for a bundle."""

    def __init__(self, path: Path | None) -> None:
        self.path = path  # None: in memory, for as long as it is open
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            if self.path is None:
                db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("pragma journal_mode=wal")
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    def border(self) -> CompactRange:
        """The tree as far as the index has read it."""
        with self._lock:
            row = self._open().execute("select size, hashes from border").fetchone()
        if row is None:
            return CompactRange()
        size, hashes = int(row[0]), bytes(row[1])
        return CompactRange(size, [hashes[i : i + 32] for i in range(0, len(hashes), 32)])

    def person_of(self, subject: str) -> str | None:
        with self._lock:
            row = (
                self._open()
                .execute("select pid from subjects where subject = ?", (subject,))
                .fetchone()
            )
        return None if row is None else str(row[0])

    def positions(self, pid: str, below: int) -> list[tuple[int, bytes]]:
        """Her records' positions before ``below``, in log order, each with the leaf hash
        its entry had when it was read and proven."""
        with self._lock:
            rows = (
                self._open()
                .execute(
                    "select position, leaf from people where pid = ? and position < ? "
                    "order by position",
                    (pid, below),
                )
                .fetchall()
            )
        return [(int(r[0]), bytes(r[1])) for r in rows]

    def keep(self, reading: Reading) -> None:
        """What a reading found, once its root proved it; a reading another thread or
        process took further meanwhile stays."""
        hashes = b"".join(reading.tree.hashes)
        with self._lock, sqlite.immediate(self._open()) as db:
            db.executemany("insert or ignore into people values (?, ?, ?)", reading.people)
            db.executemany("insert or ignore into subjects values (?, ?)", reading.subjects.items())
            db.execute(
                "insert into border values (1, ?, ?) on conflict (id) do update set "
                "size = excluded.size, hashes = excluded.hashes where excluded.size > size",
                (reading.tree.size, hashes),
            )

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
