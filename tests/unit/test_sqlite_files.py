"""An SQLite engine knows when the file it opened is no longer the one at its path."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

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
