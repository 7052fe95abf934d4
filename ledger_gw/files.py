"""Files this library writes: each with a mode of its own, whatever the umask.

A key file re-issued over one whose mode a copy or a restore loosened must not keep that
mode, and under a umask of 000 a directory or the consortium file written with the
default mode is anyone's to edit: the trust root, or a key swapped beside it.
"""

from __future__ import annotations

import os
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


def write_file(path: Path, data: bytes, mode: int) -> None:
    """``data`` at ``path`` (replaced if there), with exactly ``mode``."""
    make_dirs(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), mode)
        f.write(data)
