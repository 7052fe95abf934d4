"""A witness's key and its memory are made together and kept together: a witness whose
state file is gone has cosigned checkpoints it no longer remembers, and must not start
again from nothing, where it would cosign a fork of them."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ledger_gw.cli.witness import witness as witness_group
from ledger_gw.log.checkpoint import Checkpoint, sign_checkpoint
from ledger_gw.witness import RefusedError, TrustedLog, WitnessHome
from ledger_gw.witness.home import STATE_FILE
from ledger_gw.witness.store import MemoryLostError, WitnessStore
from ledger_gw.workspace import Workspace
from tests.support.cli import clean_failure

ORG = "AUDITOR-X"


@pytest.fixture
def log(workspace: Workspace) -> TrustedLog:
    return TrustedLog.from_vkey(workspace.consortium.origin, workspace.consortium.log_vkey)


def _add(workspace: Workspace, root: bytes, old: int = 0) -> bytes:
    """An add-checkpoint request for a tree of 3 with ``root``, signed by the log."""
    cp = Checkpoint(workspace.consortium.origin, 3, root * 32)
    return f"old {old}\n\n{sign_checkpoint(cp, workspace.log_signer())}".encode()


def _cosigned_then_forgotten(home: WitnessHome, log: TrustedLog, workspace: Workspace) -> None:
    """The witness cosigns a tree, then its state file (and WAL files) are lost."""
    witness = home.open([log])
    witness.add_checkpoint(_add(workspace, b"\x01"))
    witness.store.close()
    for suffix in ("", "-wal", "-shm"):
        home.root.joinpath(STATE_FILE + suffix).unlink(missing_ok=True)


def test_init_makes_the_memory_with_the_key(tmp_path: Path) -> None:
    made = CliRunner().invoke(witness_group, ["init", "--org", ORG, "--dir", str(tmp_path)])
    assert made.exit_code == 0, made.output
    assert (tmp_path / STATE_FILE).stat().st_mode & 0o777 == 0o600
    WitnessStore(f"sqlite:///{tmp_path / STATE_FILE}", create=False).close()


def test_a_witness_that_lost_its_memory_cosigns_no_fork(
    workspace: Workspace, log: TrustedLog, tmp_path: Path
) -> None:
    home = WitnessHome.create(tmp_path / "w", ORG)
    _cosigned_then_forgotten(home, log, workspace)
    with pytest.raises(MemoryLostError, match=r"lost its memory.*--new-memory"):
        home.open([log])
    assert not (home.root / STATE_FILE).exists()  # refusing made no empty memory
    (home.root / STATE_FILE).touch()  # an empty file is no memory either
    with pytest.raises(MemoryLostError, match="not a witness state file"):
        home.open([log])


def test_serve_refuses_to_start_without_its_memory(
    workspace: Workspace, log: TrustedLog, tmp_path: Path
) -> None:
    home = WitnessHome.create(tmp_path / "w", ORG)
    _cosigned_then_forgotten(home, log, workspace)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "ledger_gw.cli.witness", "serve"),
            *("--org", ORG, "--dir", str(home.root), "--port", "0"),
            *("--log-vkey", log.verifier.vkey, "--origin", log.origin),
        ],
        capture_output=True,
        text=True,
        timeout=30,  # a witness that started would serve until killed
        check=False,
    )
    assert "witness_memory_lost" in clean_failure(done)
    assert "--new-memory" in done.stderr


def test_new_memory_is_asked_for_and_says_what_it_means(
    workspace: Workspace, log: TrustedLog, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = WitnessHome.create(tmp_path / "w", ORG)
    with caplog.at_level(logging.WARNING):
        home.open([log]).store.close()
    assert not caplog.records  # its own memory, made by init: nothing to say
    _cosigned_then_forgotten(home, log, workspace)
    with caplog.at_level(logging.WARNING):
        afresh = home.open([log], new_memory=True)
    assert "will trust the next checkpoint" in caplog.text
    afresh.add_checkpoint(_add(workspace, b"\x02"))  # what it asked for: a fork, trusted
    with pytest.raises(RefusedError):
        afresh.add_checkpoint(_add(workspace, b"\x01", old=3))  # and held from then on
    afresh.store.close()
