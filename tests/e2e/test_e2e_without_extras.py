"""`make run` installs the package alone, without the `fabric` extra: the embedded ledger,
the gateway, the CLI and the demo must work without Fabric's protocol buffers and gRPC,
which only the Fabric backend and the checks of Fabric's evidence need.

Each test runs Python with those packages made unimportable (a ``sitecustomize`` on
PYTHONPATH, which every process the test starts, gunicorn's workers and the appender
among them, reads first), as on a machine where they were never installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from ledger_gw.topology.processes import HOST, answers_ready, cli, free_port, start

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
#: The packages of the `fabric` extra.
EXTRA = ("fabric_protos", "grpc", "google.protobuf", "google.rpc")
#: The modules that are Fabric's own, and may need them.
FABRIC_ONLY = (
    "ledger_gw.fabric.",
    "ledger_gw.protos",
    "ledger_gw.audit.fabric_",
    "ledger_gw.demo.fabric",
    "ledger_gw.demo.ping",
)
#: Modules that are not imported as a library: entry points run as scripts.
SCRIPTS = ("api.wsgi", ".__main__", ".migrations.")

IMPORT_ALL = f"""
import importlib, pkgutil
import api, chaincode, ledger_gw
for package in (api, chaincode, ledger_gw):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if any(s in module.name or module.name.endswith(s) for s in {SCRIPTS!r}):
            continue
        try:
            importlib.import_module(module.name)
        except ImportError as exc:
            print(module.name, exc, sep="\\t")
"""


def _without_extra(tmp_path: Path) -> dict[str, str]:
    """An environment whose Python cannot import the `fabric` extra's packages."""
    site = tmp_path / "no-fabric-extra"
    site.mkdir()
    blocked = "".join(f"sys.modules[{name!r}] = None\n" for name in EXTRA)
    (site / "sitecustomize.py").write_text(f"import sys\n{blocked}")
    path = os.pathsep.join(p for p in (str(site), str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


def test_only_fabrics_own_modules_need_the_fabric_extra(tmp_path: Path) -> None:
    env = _without_extra(tmp_path)
    blocked = subprocess.run(
        [sys.executable, "-c", "import grpc"], env=env, capture_output=True, text=True
    )
    assert blocked.returncode != 0  # the extra is out of reach indeed
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    failed = dict(line.split("\t", 1) for line in done.stdout.splitlines())
    assert failed, "the Fabric backend's modules should have needed the extra"
    assert {m: e for m, e in failed.items() if not m.startswith(FABRIC_ONLY)} == {}


def test_the_demo_is_served_without_the_fabric_extra(tmp_path: Path) -> None:
    """What `make run` does: `serve --demo` on a fresh directory, the journey seeded."""
    directory = tmp_path / "demo"
    url = f"http://{HOST}:{free_port()}"
    port = url.rsplit(":", 1)[1]
    command = cli("serve", "--demo", "--dir", str(directory), "--host", HOST, "--port", port)
    served = start(
        "gateway",
        url,
        [*command, "--workers", "1"],
        tmp_path / "gateway.log",
        answers_ready(url),
        env=_without_extra(tmp_path),
    )
    try:
        tokens = json.loads((directory / "demo-tokens.json").read_text())
        auditor = {"Authorization": f"Bearer {tokens['AUDITOR-X/auditor']}"}
        checkpoint = requests.get(f"{url}/v1/log/checkpoint", headers=auditor, timeout=10)
        assert checkpoint.status_code == 200, checkpoint.text
        assert int(checkpoint.text.split("\n")[1]) > 0  # Fatima's journey is on the ledger
        assert requests.get(f"{url}/openapi.json", timeout=10).status_code == 200
    finally:
        served.stop()
    assert "Traceback" not in (tmp_path / "gateway.log").read_text()


def test_the_journey_is_played_without_the_fabric_extra(tmp_path: Path) -> None:
    """What `make demo` does."""
    done = subprocess.run(
        cli("demo", "--dir", str(tmp_path / "journey")),
        env=_without_extra(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr
