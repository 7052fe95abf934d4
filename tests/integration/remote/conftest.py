"""A log node and two agencies' gateways, each its own process in its own directory,
over real mutual TLS on loopback, with two member witnesses (in threads) and a quorum
of two. The node's directory holds the consortium file and the log key only; each
agency's holds its own organisation's keys and its own off-chain database."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from ledger_gw.bootstrap import open_gateway
from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import IntegrityError
from ledger_gw.remote.receipts import Receipts
from ledger_gw.services.access import issue_token
from ledger_gw.services.config import GatewayConfig
from ledger_gw.topology import processes
from ledger_gw.topology.layout import lay_out, pin_node_certificate
from ledger_gw.topology.processes import free_port
from ledger_gw.topology.processes import stop as _stop
from ledger_gw.workspace import Workspace
from tests.support.witnesses import TestWitnesses

AGENCIES = ("AGENCY-A", "AGENCY-B")
WAIT_S = 60.0


def _until(done: Any, what: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        assert proc is None or proc.poll() is None, f"{what}: the process exited"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def caught(receipts: Receipts) -> str:
    """Why the receipts' checks fail, once a cosigned checkpoint covers what they look at."""
    deadline = time.monotonic() + 30
    while receipts.broken() is None:
        assert time.monotonic() < deadline, "the node was never caught"
        with contextlib.suppress(IntegrityError):
            receipts.check()
        time.sleep(0.1)
    return str(receipts.broken())


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


def start_node(node: Path, port: int) -> subprocess.Popen[bytes]:
    return processes.start_node(node, port).process


@contextmanager
def remote_site(base: Path) -> Iterator[Site]:
    """A log node, its witnesses and both agencies' gateways under ``base``, until the
    block ends (any test restarts the node through ``Site.node_proc``)."""
    operator = base / "operator"
    ws = Workspace.create(operator, DEMO)
    witnesses = TestWitnesses(ws, base / "witnesses")
    layout = lay_out(operator, base / "site", AGENCIES, (), {})
    node = layout.node
    port = free_port()
    node_proc = start_node(node, port)
    node_url = f"https://127.0.0.1:{port}"
    pin_node_certificate(layout)
    agencies: dict[str, Agency] = {}
    procs = [node_proc]
    try:
        for org in AGENCIES:
            root = layout.agency(org)
            subprocess.run(
                processes.cli("log", "client-cert", "--dir", str(root), "--org", org), check=True
            )
            config = GatewayConfig(directory=root, orgs=(org,), backend="remote", log_url=node_url)
            gw = open_gateway(config)
            try:
                token = issue_token(gw.store(org), gw.org_role(org), "agency-writer")[1]
            finally:
                gw.close()
            gateway = processes.start_gateway(org, root, free_port(), node_url, sync_interval_s=0.5)
            procs.append(gateway.process)
            agencies[org] = Agency(org, root, gateway.url, token)
        made = Site(operator, node, node_url, node_proc, agencies, witnesses)
        try:
            yield made
        finally:
            procs.append(made.node_proc)  # a test may have restarted the node
    finally:
        for proc in procs:
            _stop(proc)
        witnesses.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with remote_site(tmp_path_factory.mktemp("remote")) as made:
        yield made
