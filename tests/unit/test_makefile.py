"""The two set-up commands a new user types: what `make run` and `make demo` would do."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def planned(target: str, tmp_path: Path) -> str:
    """The commands `make` would run from scratch (a venv that does not exist yet)."""
    done = subprocess.run(
        ["make", "--dry-run", "--always-make", target, f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_a_fresh_demo_never_deletes_the_directory_the_gateway_serves(tmp_path: Path) -> None:
    served = re.search(r"ledger-gw serve --demo --dir (\S+)", planned("run", tmp_path))
    replayed = re.search(r"ledger-gw demo --dir (\S+) --fresh", planned("demo", tmp_path))
    assert served
    assert replayed
    assert Path(served[1]) != Path(replayed[1])
    assert Path(served[1]) not in Path(replayed[1]).parents
    assert Path(replayed[1]) not in Path(served[1]).parents


def test_serving_installs_the_package_without_the_development_tools(tmp_path: Path) -> None:
    run = planned("run", tmp_path)
    assert "pip install --quiet -e .\n" in run
    assert "[dev]" not in run
    assert "[test]" not in run
    assert "-e '.[dev]'" in planned("lint", tmp_path)
