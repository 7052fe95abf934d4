"""A real gunicorn (2 workers) on a free loopback port, started and stopped per module."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests
from e2e_server import Server

from ledger_gw.services.access import issue_token
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import Workspace

TOKENS = (
    ("AGENCY-A", "agency-writer"),
    ("AGENCY-B", "agency-writer"),
    ("AGENCY-C", "agency-writer"),
    ("AUDITOR-X", "auditor"),
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("e2e") / "ws"
    Workspace.create(root)
    gw = Gateway.open(GatewayConfig(directory=root))
    try:
        tokens = {
            org: issue_token(gw.store(org), gw.org_role(org), role)[1] for org, role in TOKENS
        }
    finally:
        gw.close()
    port = _free_port()
    env = {
        **os.environ,
        "LEDGER_GW_DIR": str(root),
        "LEDGER_GW_BIND": f"127.0.0.1:{port}",
        "LEDGER_GW_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path_factory.mktemp("metrics")),
    }
    log = (root / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:api.gunicorn_conf", "api.wsgi:app"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((root / "gunicorn.log").read_text())
            time.sleep(0.2)
        yield Server(url, root, tokens)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
