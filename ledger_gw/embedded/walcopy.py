"""Copying SQLite's write-ahead log back into the database file, off the writer's path.

In WAL mode a commit appends pages to the WAL; a checkpoint later copies them into the
database file and syncs it. Left to SQLite, the committing thread does that copy every
few thousand pages and every caller in its batch waits for it: at a million entries,
most of a commit's time. Here a thread of its own copies after each commit, without
locks that block the writer or readers (PASSIVE), while the writer goes on appending.
A crash at any moment loses nothing: the WAL holds every committed page until copied.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine

_log = logging.getLogger(__name__)
PAUSE = 0.2  # seconds between copies at most: each one ends with a sync of the file


class WalCopier:
    """Started by the ledger's writer; `committed()` after each commit wakes it up."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._wakeup = threading.Condition()
        self._pending = False
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="ledger-wal-copy", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        with self._wakeup:
            self._pending = True
            self._wakeup.notify()

    def close(self) -> None:
        with self._wakeup:
            self._closing = True
            self._wakeup.notify()
        self._thread.join()

    def _run(self) -> None:
        raw = self._engine.raw_connection()  # outside any transaction, as checkpoints must be
        try:
            while True:
                with self._wakeup:
                    while not self._pending and not self._closing:
                        self._wakeup.wait()
                    if self._closing:
                        return
                    self._pending = False
                try:
                    raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except Exception:  # SQLite's own checkpoint on commit remains as a fallback
                    _log.warning("copying the WAL into the database failed", exc_info=True)
                time.sleep(PAUSE)
        finally:
            raw.close()
