"""A private key is read from a regular file of its owner's only, and never waited on."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from ledger_gw.errors import ConfigError
from ledger_gw.files import read_secret


def test_a_fifo_where_a_key_is_read_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "pseudonym.key"
    os.mkfifo(fifo, 0o600)  # its owner's only: the mode passes
    outcome: list[BaseException | bytes] = []

    def read() -> None:
        try:
            outcome.append(read_secret(fifo, "pseudonymisation key"))
        except BaseException as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # waiting for a writer: let it go, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(5)
        pytest.fail("read_secret waited on a FIFO")
    (refused,) = outcome
    assert isinstance(refused, ConfigError), refused
    assert refused.code == "not_a_file"
    assert str(fifo) in str(refused)


def test_a_key_of_its_owners_only_is_read(tmp_path: Path) -> None:
    key = tmp_path / "log.key"
    key.write_bytes(b"secret")
    key.chmod(0o600)
    assert read_secret(key, "log key") == b"secret"
    key.chmod(0o640)
    with pytest.raises(ConfigError) as open_to_group:
        read_secret(key, "log key")
    assert open_to_group.value.code == "key_not_private"
