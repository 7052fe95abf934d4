"""The witness's memory: per log, the last checkpoint it cosigned, in its own SQLite file.

Deciding and remembering happen in one transaction that takes SQLite's write lock
before reading (BEGIN IMMEDIATE), and the write compares and swaps the size, so two
requests can never both advance from the same old size (tlog-witness requires this
to be atomic). WAL with synchronous=FULL: a cosignature is only returned once the
new size is on disk.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
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

Step = Callable[[Witnessed | None], Cosigned]


class MemoryLostError(ConfigError):
    """A witness's state file is missing or holds no memory: opened as usual, SQLite
    would start an empty one, and the witness would trust the next checkpoint it sees."""

    code = "witness_memory_lost"


class WitnessStore:
    def __init__(self, url: str, *, create: bool = True) -> None:
        """The state file at ``url``; with ``create`` false, only one that already
        holds a witness's memory (MemoryLostError otherwise)."""
        path = Path(make_url(url).database or "")
        if not create and not path.is_file():
            raise MemoryLostError(f"{path} is missing")
        self.engine: Engine = sqlite_engine(url, _BUSY_TIMEOUT_MS, {"synchronous": "FULL"})
        if not create and not inspect(self.engine).has_table(witnessed.name):
            self.engine.dispose()
            raise MemoryLostError(f"{path} is not a witness state file")
        metadata.create_all(self.engine)

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
