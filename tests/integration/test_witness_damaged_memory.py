"""A witness whose state file is damaged does not start: not on what is left of it, where
a size gone to 0 would have it trust the next checkpoint it sees (a fork of what it
cosigned included), nor afresh over it (--new-memory), which would forget what it holds.
It says so in one line with a code, and leaves the file as it found it."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from ledger_gw.errors import ConfigError
from ledger_gw.log.checkpoint import Checkpoint, sign_checkpoint
from ledger_gw.topology.processes import cli
from ledger_gw.witness import TrustedLog, WitnessHome
from ledger_gw.witness.home import STATE_FILE
from ledger_gw.workspace import Workspace
from tests.support.cli import clean_failure

ORG = "AUDITOR-X"
START_S = 20.0  # a witness that started would serve until killed


@pytest.fixture
def log(workspace: Workspace) -> TrustedLog:
    return TrustedLog.from_vkey(workspace.consortium.origin, workspace.consortium.log_vkey)


def _add(workspace: Workspace, root: bytes, old: int = 0) -> bytes:
    """An add-checkpoint request for a tree of 3 with ``root``, signed by the log."""
    cp = Checkpoint(workspace.consortium.origin, 3, root * 32)
    return f"old {old}\n\n{sign_checkpoint(cp, workspace.log_signer())}".encode()


def _cosigned(workspace: Workspace, log: TrustedLog, root: Path) -> WitnessHome:
    """A witness that has cosigned tree 3 (root 01…) and stopped."""
    home = WitnessHome.create(root, ORG)
    witness = home.open([log])
    witness.add_checkpoint(_add(workspace, b"\x01"))
    witness.store.close()
    return home


def _sql(statement: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        with closing(sqlite3.connect(path)) as db, db:
            db.execute(statement)

    damage.__name__ = statement
    return damage


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _overwritten_header(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(b"\0" * 100 + data[100:])


DAMAGE = [
    _truncated,
    _overwritten_header,
    _sql("UPDATE witnessed SET size = 0"),  # would trust any checkpoint from old size 0
    _sql("UPDATE witnessed SET size = 2"),
    _sql("UPDATE witnessed SET root_hash = zeroblob(32)"),
    _sql("UPDATE witnessed SET size = 'three'"),
]


def _serve(home: Path, log: TrustedLog, *extra: str) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen(
        cli(
            *("witness", "serve", "--org", ORG, "--dir", str(home), "--port", "0"),
            *("--log-vkey", log.verifier.vkey, "--origin", log.origin, *extra),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=START_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("the witness started on a damaged memory")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda d: d.__name__)
def test_a_witness_does_not_start_on_a_damaged_memory_nor_afresh_over_it(
    damage: Callable[[Path], None], workspace: Workspace, log: TrustedLog, tmp_path: Path
) -> None:
    home = _cosigned(workspace, log, tmp_path / "w")
    state = home.root / STATE_FILE
    damage(state)
    before = state.read_bytes()
    for extra in ((), ("--new-memory",)):
        line = clean_failure(_serve(home.root, log, *extra))
        assert "witness_memory_damaged" in line
        assert "restore it from a backup" in line
        assert state.read_bytes() == before


def test_a_memory_whose_size_went_to_zero_is_not_a_memory_that_trusts_anything(
    workspace: Workspace, log: TrustedLog, tmp_path: Path
) -> None:
    home = _cosigned(workspace, log, tmp_path / "w")
    _sql("UPDATE witnessed SET size = 0")(home.root / STATE_FILE)
    refused = ""
    try:
        witness = home.open([log])
    except ConfigError as exc:
        refused = exc.code
    else:
        try:
            fork = witness.add_checkpoint(_add(workspace, b"\x02"))
        finally:
            witness.store.close()
        pytest.fail(f"it opened, and cosigned a fork of tree 3 from size 0: {fork.cosignature}")
    assert refused == "witness_memory_damaged"


def test_its_own_memory_still_opens(workspace: Workspace, log: TrustedLog, tmp_path: Path) -> None:
    home = _cosigned(workspace, log, tmp_path / "w")
    witness = home.open([log])
    try:
        latest = witness.latest(log.origin)
        assert latest is not None
        assert (latest.size, latest.root_hash) == (3, b"\x01" * 32)
    finally:
        witness.store.close()
