"""A served ledger whose files disappear under it (a fresh demo replayed in the served
directory, an operator's mistake) is not ready: the process would keep reading the
deleted files and fail the next write."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from ledger_gw.bootstrap import embedded_ledger
from ledger_gw.demo.consortium import DEMO
from ledger_gw.workspace import Workspace
from tests.support.gunicorn import gunicorn

pytestmark = pytest.mark.slow


def readiness(url: str) -> tuple[int, str]:
    answer = requests.get(f"{url}/readyz", timeout=10)
    return answer.status_code, answer.json().get("code", answer.json().get("status"))


def test_readyz_fails_when_the_served_directory_is_deleted_and_made_again(
    tmp_path: Path,
) -> None:
    root = tmp_path / "served"
    embedded_ledger(Workspace.create(root, DEMO)).close()
    with gunicorn(root, None, workers=1) as url:
        assert readiness(url) == (200, "ready")
        shutil.rmtree(root)
        assert readiness(url) == (503, "not_ready")
        # what `ledger-gw demo --fresh` did to the directory `make run` served
        embedded_ledger(Workspace.create(root, DEMO)).close()
        for _ in range(4):  # whichever worker answers
            status, code = readiness(url)
            assert (status, code) == (503, "not_ready")
