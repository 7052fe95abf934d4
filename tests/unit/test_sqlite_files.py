"""An SQLite engine knows when the file it opened is no longer the one at its path."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import text

from ledger_gw.embedded.database import make_engine
from ledger_gw.sqlite import file_gone, sqlite_engine


def test_a_deleted_or_replaced_database_file_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    engine = sqlite_engine(f"sqlite:///{path}", 1000, {})
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert file_gone(engine) is None
    path.unlink()
    assert file_gone(engine) == f"{path} is gone"
    path.write_bytes(b"")  # another file at the same path
    assert file_gone(engine) == f"{path} was replaced by another file"
    with engine.connect() as conn:  # the open connection still answers: hence the check
        assert conn.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()


def test_a_database_in_memory_is_never_gone() -> None:
    engine = sqlite_engine("sqlite://", 1000, {})
    assert file_gone(engine) is None
    engine.dispose()


def test_a_new_ledger_has_16_kib_pages_and_an_existing_database_keeps_its_own(
    tmp_path: Path,
) -> None:
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:  # made elsewhere, at SQLite's default size
        conn.execute("CREATE TABLE t (x)")
    for path, expected in ((tmp_path / "new.db", 16384), (old, 4096)):
        engine = make_engine(f"sqlite:///{path}")
        try:
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA page_size").scalar() == expected
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        finally:
            engine.dispose()
