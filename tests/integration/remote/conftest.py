"""A log node and two agencies' gateways, each its own process in its own directory,
over real mutual TLS on loopback, with two member witnesses (in threads) and a quorum
of two. The node's directory holds the consortium file and the log key only; each
agency's holds its own organisation's keys and its own off-chain database."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from ledger_gw.bootstrap import open_gateway
from ledger_gw.demo.consortium import DEMO
from ledger_gw.services.access import issue_token
from ledger_gw.services.config import GatewayConfig
from ledger_gw.workspace import Workspace
from tests.support.gunicorn import free_port
from tests.support.witnesses import TestWitnesses

AGENCIES = ("AGENCY-A", "AGENCY-B")
WAIT_S = 60.0


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ledger_gw.cli", *args]


def _until(done: Any, what: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        assert proc is None or proc.poll() is None, f"{what}: the process exited"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Agency:
    org: str
    root: Path
    url: str
    token: str

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.request(method, self.url + path, headers=headers, timeout=60, **kw)


@dataclass
class Site:
    operator: Path  # where the consortium was made (the demo's one directory)
    node: Path
    node_url: str
    node_proc: subprocess.Popen[bytes]
    agencies: dict[str, Agency]
    witnesses: TestWitnesses


def _start(command: list[str], log: Path, env: dict[str, str] | None = None) -> Any:
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_node(node: Path, port: int) -> subprocess.Popen[bytes]:
    proc = _start(_cli("log", "serve", "--dir", str(node), "--port", str(port)), node / "node.log")
    _until(lambda: _listening(port), "the log node", proc)
    return proc


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    import os

    base = tmp_path_factory.mktemp("remote")
    operator = base / "operator"
    ws = Workspace.create(operator, DEMO)
    witnesses = TestWitnesses(ws, base / "witnesses")
    node = base / "node"
    (node / "node").mkdir(parents=True)
    shutil.copy(operator / "consortium.json", node / "consortium.json")
    shutil.copy(operator / "node" / "log.key", node / "node" / "log.key")
    port = free_port()
    node_proc = start_node(node, port)
    node_url = f"https://127.0.0.1:{port}"
    agencies: dict[str, Agency] = {}
    procs = [node_proc]
    try:
        for org in AGENCIES:
            root = base / org
            (root / "node").mkdir(parents=True)
            shutil.copy(operator / "consortium.json", root / "consortium.json")
            shutil.copy(operator / "pseudonym.key", root / "pseudonym.key")
            shutil.copytree(operator / "orgs" / org, root / "orgs" / org)
            shutil.copy(node / "node" / "tls.pem", root / "node" / "tls.pem")  # pinned
            subprocess.run(_cli("log", "client-cert", "--dir", str(root), "--org", org), check=True)
            config = GatewayConfig(directory=root, orgs=(org,), backend="remote", log_url=node_url)
            gw = open_gateway(config)
            try:
                token = issue_token(gw.store(org), gw.org_role(org), "agency-writer")[1]
            finally:
                gw.close()
            gw_port = free_port()
            env = {**os.environ, "LEDGER_GW_ORGS": org, "LEDGER_GW_SYNC_INTERVAL": "0.5"}
            command = _cli("serve", "--dir", str(root), "--port", str(gw_port), "--workers", "1")
            proc = _start([*command, "--log-url", node_url], root / "gateway.log", env)
            procs.append(proc)
            url = f"http://127.0.0.1:{gw_port}"
            _until(lambda u=url: _ready(u), f"{org}'s gateway", proc)
            agencies[org] = Agency(org, root, url, token)
        made = Site(operator, node, node_url, node_proc, agencies, witnesses)
        yield made
        procs.append(made.node_proc)  # a test may have restarted the node
    finally:
        for proc in procs:
            _stop(proc)
        witnesses.close()


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=5).status_code == 200
    except requests.ConnectionError:
        return False
