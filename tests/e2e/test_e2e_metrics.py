"""/metrics under `ledger-gw serve` as an operator runs it: no PROMETHEUS_MULTIPROC_DIR set
beforehand, several workers, counters that add up every worker's requests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from ledger_gw.demo.consortium import DEMO
from ledger_gw.workspace import Workspace
from tests.support.gunicorn import gunicorn

REQUESTS = 60
_COUNT = re.compile(
    r'^ledger_gw_http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)$', re.M
)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("metrics") / "ws"
    Workspace.create(root, DEMO)
    with gunicorn(root, None, workers=3) as base:
        yield base


def _get(address: str) -> int:
    with requests.Session() as session:  # a connection of its own: any worker may take it
        return session.get(address, timeout=10).status_code


def test_counters_add_up_every_workers_requests(url: str) -> None:
    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(_get, [f"{url}/healthz"] * REQUESTS))
    assert statuses == [200] * REQUESTS
    text = requests.get(f"{url}/metrics", timeout=10).text
    counted = _COUNT.search(text)
    assert counted is not None, text[:2000]
    assert float(counted.group(1)) == REQUESTS
    assert re.search(r"^ledger_gw_http_request_seconds_count\{.*\} [1-9]", text, re.M)


def test_the_metrics_directory_it_made_goes_when_it_stops(tmp_path: Path) -> None:
    """Each run's counts end with it: a directory left behind per run fills /tmp."""
    root = tmp_path / "ws"
    Workspace.create(root, DEMO)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with gunicorn(root, None, workers=1, environ={"TMPDIR": str(scratch)}) as base:
        assert requests.get(f"{base}/metrics", timeout=10).status_code == 200
        assert len(list(scratch.glob("ledger-gw-metrics-*"))) == 1
    assert list(scratch.glob("ledger-gw-metrics-*")) == []
