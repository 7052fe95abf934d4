"""Key and trust-root files on real disk: written whole, on disk before the call returns,
never through a symlink found at their path."""

from __future__ import annotations

import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ledger_gw.files import PUBLIC, SECRET, write_file
from tests.support.disk import Journal

# A write that fails part-way, as on a full disk: the process may write 100 bytes.
_FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    from pathlib import Path
    from ledger_gw.files import SECRET, write_file
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100, resource.RLIM_INFINITY))
    write_file(Path(sys.argv[1]), b"new key " * 100, SECRET)
    """
)


def test_a_symlink_at_the_path_is_replaced_not_written_through(tmp_path: Path) -> None:
    """A symlink planted in a key directory (by whoever may write it, or left by a
    careless copy) must not send a private key to the file it names, nor create one
    where it points."""
    shared = tmp_path / "shared"
    shared.mkdir()
    notes = shared / "notes.txt"
    notes.write_bytes(b"someone else's file")
    notes.chmod(0o644)
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "signer.key").symlink_to(notes)
    (keys / "tls.key").symlink_to(shared / "absent.key")  # dangling: would be created
    write_file(keys / "signer.key", b"private", SECRET)
    write_file(keys / "tls.key", b"private too", SECRET)
    assert notes.read_bytes() == b"someone else's file"
    assert stat.S_IMODE(notes.stat().st_mode) == 0o644
    assert sorted(p.name for p in shared.iterdir()) == ["notes.txt"]
    for name, data in (("signer.key", b"private"), ("tls.key", b"private too")):
        mode = (keys / name).lstat().st_mode
        assert stat.S_ISREG(mode), name
        assert stat.S_IMODE(mode) == 0o600, name
        assert (keys / name).read_bytes() == data
    assert sorted(p.name for p in keys.iterdir()) == ["signer.key", "tls.key"]


def test_a_write_that_fails_part_way_leaves_the_old_file_whole(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "tls-client.key"
    write_file(key, b"old key", SECRET)
    failed = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(key)], capture_output=True, text=True, check=False
    )
    assert failed.returncode != 0
    assert "File too large" in failed.stderr
    assert key.read_bytes() == b"old key"
    assert [p.name for p in key.parent.iterdir()] == ["tls-client.key"]  # no stray part


def test_the_content_and_the_rename_are_on_disk_when_the_write_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "new" / "dir" / "ca.pem"
    journal = Journal.record(monkeypatch)
    write_file(path, b"certificate", PUBLIC)
    assert journal.on_disk(path) == len(journal.events) - 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    # the directories it made are themselves recorded in their parents
    synced = {p for kind, p, _ in journal.events if kind == "fsync"}
    assert {tmp_path, tmp_path / "new", tmp_path / "new" / "dir"} <= synced
