"""The `ledger-gw` command as an operator runs it: a process of its own, and what a clean
refusal looks like."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

import pytest

from ledger_gw.topology.processes import cli, stop


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The command run in a process of its own; ``env`` added to this one's environment."""
    return subprocess.run(
        [sys.executable, "-m", "ledger_gw.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )


def own_pin(directory: object) -> tuple[str, str]:
    """``--consortium`` pinned to a directory's own file: a verifier trusts only the file
    its caller names, and a test's caller knows the directory is its own."""
    return ("--consortium", f"{directory}/consortium.json")


def clean_failure(done: subprocess.CompletedProcess[str]) -> str:
    """Exit status 1, exactly one line on stderr, no traceback anywhere: that line."""
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def refused_to_serve(
    *args: str, env: Mapping[str, str] | None = None, wait_s: float = 30
) -> subprocess.CompletedProcess[str]:
    """A command that serves until stopped (``ledger-gw serve``, ``log serve``), run where
    it must refuse to start: a failure if it still runs after ``wait_s``. No LEDGER_GW_
    variable of this process passes to it, only ``env``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_GW_")}
    pipe = subprocess.PIPE
    with subprocess.Popen(
        cli(*args), stdout=pipe, stderr=pipe, env={**environ, **(env or {})}
    ) as p:
        try:
            out, err = p.communicate(timeout=wait_s)
        except subprocess.TimeoutExpired:
            stop(p)
            pytest.fail(f"`ledger-gw {' '.join(args)}` started serving")
    return subprocess.CompletedProcess(args, p.returncode, out.decode(), err.decode())
