"""What a power loss could keep of what a test wrote: the fsyncs and renames made, in
order, to judge whether each file was on disk before a later step relied on it; a
process killed at a step; what a directory holds, to show a refusal changed nothing;
the umask a file is made under.

A file's content survives once the file was fsynced; a rename, once its directory was
fsynced after it. Nothing else is recorded: the calls go through to the real files.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

_Path = str | os.PathLike[str]


def _where(path: _Path) -> Path:
    """``path`` with its directory resolved and its own name not (it may be a symlink)."""
    p = Path(path)
    return Path(os.path.realpath(p.parent)) / p.name


@dataclass
class Journal:
    events: list[tuple[str, Path, Path | None]] = field(default_factory=list)

    @classmethod
    def record(cls, monkeypatch: pytest.MonkeyPatch) -> Journal:
        journal = cls()
        fsync, replace = os.fsync, os.replace

        def recording_fsync(fd: int) -> None:
            journal.events.append(("fsync", _where(os.readlink(f"/proc/self/fd/{fd}")), None))
            fsync(fd)

        def recording_replace(source: _Path, target: _Path) -> None:
            replace(source, target)
            journal.events.append(("rename", _where(target), _where(source)))

        monkeypatch.setattr(os, "fsync", recording_fsync)
        monkeypatch.setattr(os, "replace", recording_replace)
        return journal

    def renamed(self, path: Path) -> int:
        """When the last rename onto ``path`` happened."""
        path = _where(path)
        found = [i for i, (kind, p, _) in enumerate(self.events) if kind == "rename" and p == path]
        assert found, f"nothing was renamed onto {path}"
        return found[-1]

    def on_disk(self, path: Path) -> int:
        """When ``path``, as last renamed into place, would survive a power loss: its
        content fsynced (under whatever name) before the rename, its directory after."""
        at = self.renamed(path)
        source = self.events[at][2]
        assert source is not None
        synced = [
            i for i, (kind, p, _) in enumerate(self.events[:at]) if kind == "fsync" and p == source
        ]
        content = synced[-1] if synced else self.on_disk(source)
        assert content < at
        directory = _where(path).parent
        entry = [
            i
            for i, (kind, p, _) in enumerate(self.events)
            if i > at and kind == "fsync" and p == directory
        ]
        assert entry, f"{path.parent} was not fsynced after {path.name} was renamed into it"
        return max(content, entry[0])


def killed_at(monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    """The process dies as it would put the file (or directory) of ``step`` in place."""
    real = os.replace

    def replace(source: _Path, target: _Path) -> None:
        if step in (Path(target).name, Path(target).parent.name):
            raise OSError("killed")
        real(source, target)

    monkeypatch.setattr(os, "replace", replace)


def digests(directory: Path) -> dict[str, str]:
    """Every file under ``directory``, by relative path, with the SHA-256 of its bytes."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def lose_sqlite(path: Path) -> None:
    """A SQLite database gone, as after a restore that missed it: its file and its
    write-ahead log."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """The process's umask set to ``mask`` for the block: under 0, a file made with the
    default mode is anyone's to write; under 022, anyone's to read."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def sqlite_copy(source: Path, target: Path) -> None:
    """The whole database at ``source`` written over ``target`` (SQLite's backup API, its
    write-ahead log's pages included), as a backup restored would be."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
