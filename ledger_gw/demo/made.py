"""What the demo made, and only that, the demo deletes: a file it leaves in each
directory it makes (the consortium's, its witnesses'), which `ledger-gw demo --fresh`
and a new demo's witnesses look for before deleting a directory. Without it, a
directory is someone's own (a workspace `ledger-gw init` made, a copy of one, their
files), and nothing in it is deleted.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ledger_gw.errors import ConfigError
from ledger_gw.files import PUBLIC, write_file

MARKER = "made-by-ledger-gw-demo"
_TEXT = (
    "`ledger-gw demo` made this directory: `ledger-gw demo --fresh` deletes it, a new\n"
    "demo replaces its witnesses. Keep nothing of your own here. The demo deletes no\n"
    "directory without this file; never copy it into one.\n"
)


def mark_made(directory: Path) -> None:
    """``directory`` (made if missing) marked as the demo's to delete."""
    write_file(directory / MARKER, _TEXT.encode(), PUBLIC)


def remove_made(directory: Path, instead: str) -> None:
    """``directory`` deleted, when the demo made it (nothing to do when it is not
    there); otherwise ConfigError, saying what to do ``instead``, nothing deleted."""
    if not directory.exists() and not directory.is_symlink():
        return
    if directory.is_symlink() or not (directory / MARKER).is_file():
        raise ConfigError(
            f"{directory} was not made by `ledger-gw demo` (it holds no {MARKER}), so the "
            f"demo deletes nothing in it: {instead}",
            code="not_made_by_demo",
        )
    shutil.rmtree(directory)
