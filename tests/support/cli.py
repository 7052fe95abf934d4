"""The `ledger-gw` command as an operator runs it: a process of its own, and what a clean
refusal looks like."""

from __future__ import annotations

import subprocess
import sys


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger_gw.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def clean_failure(done: subprocess.CompletedProcess[str]) -> str:
    """Exit status 1, exactly one line on stderr, no traceback anywhere: that line."""
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]
