"""The witness's memory: per log, the last checkpoint it cosigned, in its own SQLite file.

Deciding and remembering happen in one transaction that takes SQLite's write lock
before reading (BEGIN IMMEDIATE), and the write compares and swaps the size, so two
requests can never both advance from the same old size (tlog-witness requires this
to be atomic). A cosignature is only returned once the new size is on disk, and in
the state file itself: a rollback journal (journal_mode=DELETE), not WAL, which keeps
what was written in witness.db-wal until a checkpoint that a process stopped by a
signal never makes. So the file alone, copied or backed up while no cosignature is
being made, is the whole memory. synchronous=EXTRA: the journal's removal, which
commits, is on disk too, so that no power cut rolls back a size already answered. A
cosignature costs a millisecond or two either way, its signature and proof checks
included.

The file says whose memory it is (the ``memory`` table: the witness key it was made
for, and when). A file without that is no memory of this witness's: an empty one is
what a lost memory looks like once SQLite or a stale copy stands in for it, and one
made for another key remembers what another witness cosigned.

Each row keeps beside its size and root the checkpoint the witness cosigned, its
cosignature on it: a file SQLite cannot read whole, or whose row says other than its
note (a size or root damaged or edited, a size of 0 trusting anything), is damaged,
and the witness does not start on it.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    LargeBinary,
    MetaData,
    Row,
    String,
    Table,
    Text,
    create_engine,
    insert,
    inspect,
    make_url,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError

from ledger_gw.errors import ConfigError
from ledger_gw.log.checkpoint import Checkpoint
from ledger_gw.log.note import Note, NoteError, NoteVerifier, SigType, has_cosigned
from ledger_gw.sqlite import READ_ONLY, sqlite_engine
from ledger_gw.witness.core import Cosigned, Witnessed
from ledger_gw.witness.errors import SizeConflictError

_BUSY_TIMEOUT_MS = 30_000

metadata = MetaData()

witnessed = Table(
    "witnessed",
    metadata,
    Column("origin", String, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary, nullable=False),
    Column("note", Text, nullable=False),  # the checkpoint with this witness's cosignature
)

memory = Table(
    "memory",
    metadata,
    Column("witness", String, primary_key=True),  # the witness's cosignature (0x04) vkey
    Column("made", String, nullable=False),  # when, ISO 8601 UTC
)

Step = Callable[[Witnessed | None], Cosigned]


class MemoryLostError(ConfigError):
    """A witness's state file is missing, holds no memory or another witness's: opened
    as usual, SQLite would start an empty one, and the witness would trust the next
    checkpoint it sees."""

    code = "witness_memory_lost"


class MemoryDamagedError(ConfigError):
    """A witness's state file is damaged: started on it, the witness could trust a
    checkpoint it would have refused, and started afresh over it, forget what it holds."""

    code = "witness_memory_damaged"


#: SQLite's answers for a file that is not whole: damaged pages, or no database at all.
_DAMAGED = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


class WitnessStore:
    def __init__(
        self, url: str, *, witness: NoteVerifier | None = None, create: bool = True
    ) -> None:
        """The state file at ``url``, made if missing unless ``create`` is false. With
        ``witness``, only that witness's memory: the one made for its key, or (with
        ``create``) a new one made for it where the file holds none. MemoryLostError
        otherwise, and MemoryDamagedError for a damaged file, what it holds unchanged."""
        path = Path(make_url(url).database or "")
        if not create and not path.is_file():
            raise MemoryLostError(f"{path} is missing")
        # Replaces sqlite_engine's WAL: see the module's docstring.
        pragmas = {"journal_mode": "DELETE", "synchronous": "EXTRA"}
        self.engine: Engine = sqlite_engine(url, _BUSY_TIMEOUT_MS, pragmas)
        try:
            with self.engine.begin() as conn:
                if not create and not inspect(conn).has_table(witnessed.name):
                    raise MemoryLostError(f"{path} is not a witness state file")
                found = conn.exec_driver_sql("PRAGMA integrity_check").scalars().all()
                if found != ["ok"]:
                    raise MemoryDamagedError(_damaged(path, "; ".join(map(str, found[:3]))))
                metadata.create_all(conn)
                if witness is not None:
                    cosigner = witness.as_type(SigType.COSIGNATURE_V1)
                    _claim(conn, path, cosigner, create)
                    _check_rows(conn, path, cosigner)
        except DBAPIError as exc:
            self.engine.dispose()
            code = getattr(exc.orig, "sqlite_errorcode", None)
            if isinstance(code, int) and code & 0xFF in _DAMAGED:
                raise MemoryDamagedError(_damaged(path, str(exc.orig))) from None
            raise
        except BaseException:
            self.engine.dispose()
            raise

    def latest(self, origin: str) -> Witnessed | None:
        with self.engine.execution_options(**{READ_ONLY: True}).begin() as conn:
            row = conn.execute(select(witnessed).where(witnessed.c.origin == origin)).first()
        return None if row is None else _state(row)

    def advance(self, origin: str, step: Step) -> Cosigned:
        """Run ``step`` on the remembered state and keep its result, atomically.

        Whatever ``step`` raises leaves the memory unchanged.
        """
        with self.engine.begin() as conn:
            row = conn.execute(select(witnessed).where(witnessed.c.origin == origin)).first()
            before = None if row is None else _state(row)
            done = step(before)
            after = done.state
            values = {"size": after.size, "root_hash": after.root_hash, "note": after.note}
            if before is None:
                conn.execute(insert(witnessed).values(origin=origin, **values))
            else:
                swapped = conn.execute(
                    update(witnessed)
                    .where(witnessed.c.origin == origin, witnessed.c.size == before.size)
                    .values(**values)
                )
                if swapped.rowcount != 1:
                    raise SizeConflictError(self._size_now(origin))
        return done

    def _size_now(self, origin: str) -> int:
        now = self.latest(origin)
        return 0 if now is None else now.size

    def close(self) -> None:
        self.engine.dispose()


def _claim(conn: Connection, path: Path, witness: NoteVerifier, create: bool) -> None:
    """The memory in ``conn`` is ``witness``'s, or is made so here: where nothing says
    whose it is, if it is empty and ``create``, or if all it holds are checkpoints
    ``witness`` cosigned (a state file made before files said whose they were)."""
    made_for = set(conn.execute(select(memory.c.witness)).scalars())
    if made_for:
        if made_for != {witness.vkey}:
            raise MemoryLostError(
                f"{path} is the memory of another witness ({', '.join(sorted(made_for))}): "
                "not this one's to use, nor to start afresh over"
            )
        return
    notes = list(conn.execute(select(witnessed.c.note)).scalars())
    if not notes and not create:
        raise MemoryLostError(f"{path} holds no memory: no checkpoint, nothing saying whose")
    if not all(has_cosigned(note, witness) for note in notes):
        raise MemoryLostError(f"{path} holds checkpoints that {witness.name} did not cosign")
    made = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    conn.execute(insert(memory).values(witness=witness.vkey, made=made))


def _check_rows(conn: Connection, path: Path, witness: NoteVerifier) -> None:
    """MemoryDamagedError unless every row is the checkpoint its note holds, cosigned by
    ``witness``: a row whose size or root changed would have the witness trust a
    checkpoint it never cosigned an extension of."""
    for row in conn.execute(select(witnessed)):
        if not _vouched(row, witness):
            raise MemoryDamagedError(
                _damaged(path, f"its record of {row.origin!r} is not what {witness.name} cosigned")
            )


def _vouched(row: Row[Any], witness: NoteVerifier) -> bool:
    try:
        state = _state(row)
        note = Note.parse(state.note)
        cp = Checkpoint.parse(note.text)
    except (NoteError, TypeError, ValueError):  # a CheckpointError is a NoteError
        return False
    if (cp.origin, cp.size, cp.root_hash) != (state.origin, state.size, state.root_hash):
        return False
    ident = (witness.name, witness.key_id)
    body = note.text.encode()
    return any(
        (s.name, s.key_id) == ident and witness.verify(body, s.signature) for s in note.signatures
    )


def _damaged(path: Path, why: str) -> str:
    return (
        f"{path} is damaged ({why}): restore it from a backup. Moved aside, the witness "
        "can start afresh with --new-memory, trusting the next checkpoint it sees"
    )


def _state(row: Row[Any]) -> Witnessed:
    return Witnessed(str(row.origin), int(row.size), bytes(row.root_hash), str(row.note))


def witnessed_in(path: Path, origin: str) -> Witnessed | None:
    """What the witness whose state file ``path`` is last cosigned for ``origin``, read
    without writing a byte to it (a verifier reads a copy of another party's file)."""
    if not path.is_file():
        raise ConfigError(f"{path}: no witness state file there")
    engine = create_engine(f"sqlite:///{path.resolve().as_uri()}?mode=ro&uri=true")
    try:
        with engine.connect() as conn:
            row = conn.execute(select(witnessed).where(witnessed.c.origin == origin)).first()
    except DBAPIError as exc:
        raise ConfigError(f"{path}: not a witness state file ({exc.orig})") from None
    finally:
        engine.dispose()
    return None if row is None else _state(row)
