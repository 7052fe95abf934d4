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

import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ledger_gw.errors import ConfigError

SECRET = 0o600  # private keys, tokens
PUBLIC = 0o644  # certificates, the consortium file: anyone may read, only its owner write
DIRECTORY = 0o755
_MAX_SECRET = 1 << 20  # a key file is a few hundred bytes; a device path is read no further


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


def read_secret(path: Path, what: str) -> bytes:
    """A private key's bytes, refused if its group or others may read or write it, as
    ssh refuses such a key: a key readable by others is a key others may have copied,
    and one they may write is a key they may have swapped. The mode checked is the one
    of the file read, not of whatever the path named a moment before. Opened without
    waiting: a FIFO there, which no one writes, would hold the start for ever."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            found = os.fstat(f.fileno())
            if not stat.S_ISREG(found.st_mode):
                raise ConfigError(f"{what} {path} is not a regular file", code="not_a_file")
            mode = stat.S_IMODE(found.st_mode)
            data = f.read(_MAX_SECRET + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from exc
    if mode & 0o077:
        raise ConfigError(
            f"{what} {path} is open to group or others (mode {mode:04o}): "
            f"it must be its owner's only (chmod 600 {path})",
            code="key_not_private",
        )
    if len(data) > _MAX_SECRET:
        raise ConfigError(f"{what} {path} is larger than any key file")
    return data


def append_line(path: Path, line: str, mode: int) -> None:
    """``line`` appended to ``path`` (made with ``mode`` if missing), on disk when this
    returns: the file's bytes, and its entry in its directory when it was new."""
    make_dirs(path.parent)
    new = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
    try:
        os.write(fd, f"{line}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    if new:
        _sync_directory(path.parent)


@contextmanager
def locked(lock: Path) -> Iterator[None]:
    """An exclusive hold until the block ends, on the file ``lock`` (made its owner's
    only; a symlink there refused), so that processes that change one thing take turns.
    OSError when it cannot be opened."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, SECRET)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # and with it the hold


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
