"""`network.sh deploy` puts another chaincode beside the contract, never over it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

NETWORK_SH = Path(__file__).resolve().parents[2] / "network" / "network.sh"


def _deploy(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FABRIC_STATE": str(state), "FABRIC_HOME": "/nonexistent"}
    return subprocess.run(
        [str(NETWORK_SH), "deploy", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("ledger", "7", "--", "true"), "bad chaincode name"),  # the contract's own name
        (("Bare", "7", "--", "true"), "bad chaincode name"),
        (("../x", "7", "--", "true"), "bad chaincode name"),
        (("bare", "5", "--", "true"), "PORT_OFFSET is 6..49"),  # the contract's port
        (("bare", "2", "--", "true"), "PORT_OFFSET is 6..49"),  # the peer's chaincode port
        (("bare", "x", "--", "true"), "PORT_OFFSET is 6..49"),
        (("bare", "7", "true"), "usage"),
        (("bare", "7", "--", "true"), "no network up"),
    ],
)
def test_deploy_refuses_and_changes_nothing(
    tmp_path: Path, args: tuple[str, ...], reason: str
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    done = _deploy(state, *args)
    assert done.returncode != 0
    assert reason in done.stderr
    assert list(state.iterdir()) == []
