"""Files this library writes: each with a mode of its own, whatever the umask, and
on disk, whole, when the call returns.

A key file re-issued over one whose mode a copy or a restore loosened must not keep that
mode, and under a umask of 000 a directory or the consortium file written with the
default mode is anyone's to edit: the trust root, or a key swapped beside it. A file is
written beside its path and renamed over it, so that a crash (of the process or the
machine) leaves the old file or the new one, never an empty or half-written one, and a
symlink found at the path is replaced, never written through (a private key sent
wherever it points).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

SECRET = 0o600  # private keys, tokens
PUBLIC = 0o644  # certificates, the consortium file: anyone may read, only its owner write
DIRECTORY = 0o755


def make_dirs(path: Path) -> None:
    """``path`` and its missing parents, none writable by others."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir(mode=DIRECTORY, exist_ok=True)
        os.chmod(directory, DIRECTORY)
        _sync_directory(directory.parent)


def write_file(path: Path, data: bytes, mode: int) -> None:
    """``data`` at ``path`` (replaced if there, a symlink there included), with exactly
    ``mode``, whole or not at all."""
    make_dirs(path.parent)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        replace_file(Path(temporary), path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def replace_file(source: Path, target: Path) -> None:
    """``source`` renamed over ``target`` (in the same directory), the rename on disk
    when this returns: a step a later one may rely on having survived a crash."""
    os.replace(source, target)
    _sync_directory(target.parent)


def _sync_directory(path: Path) -> None:
    """The directory's entries (a file created, renamed or removed) on disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
