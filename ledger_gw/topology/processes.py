"""The parties' services as plain child processes (`ledger-gw ...`), each started in its
own directory with only that directory, its output in a log file there."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ledger_gw import outbound
from ledger_gw.errors import ConfigError
from ledger_gw.files import SECRET

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ledger_gw.cli", *args]


@dataclass
class Service:
    """One running party: what it is, where it answers, its process and its log."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        stop(self.process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a gateway drains, the node finishes its appends), then SIGKILL."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _environment(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without its ledger settings: a party is told its own."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_GW_")}
    return {**inherited, **extra}


def start(
    name: str,
    url: str,
    command: list[str],
    log: Path,
    ready: Callable[[], bool],
    env: Mapping[str, str] | None = None,
) -> Service:
    """Start the command, return once ``ready()`` (a clear error if it exits first).
    Refused if something listens at ``url`` already: it would answer ``ready()`` for
    the service, which then fails to listen, and be handed what is meant for it."""
    port = urllib.parse.urlsplit(url).port
    if port is not None and listening(port)():
        raise ConfigError(f"{name}: {HOST}:{port} is in use by another process")
    # Its owner's only, whatever the umask: a gateway's log holds the paths it served,
    # pseudonymous IDs among them.
    with os.fdopen(os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, SECRET), "ab") as out:
        os.fchmod(out.fileno(), SECRET)
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=_environment(env or {})
        )
    service = Service(name, url, process, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if process.poll() is not None:
            raise ConfigError(f"{name} stopped (status {process.returncode}): see {log}")
        if time.monotonic() > deadline:
            service.stop()
            raise ConfigError(f"{name} did not start in {START_TIMEOUT_S:.0f} s: see {log}")
        time.sleep(0.2)
    return service


def listening(port: int) -> Callable[[], bool]:
    def check() -> bool:
        with socket.socket() as s:
            return s.connect_ex((HOST, port)) == 0

    return check


def answers_ready(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with outbound.urlopen(f"{url}/readyz", timeout=5) as answer:
                return int(answer.status) == 200
        except (urllib.error.URLError, OSError, http.client.HTTPException):
            return False  # not up, or not (yet) the gateway answering there

    return check


def start_node(directory: Path, port: int) -> Service:
    command = cli("log", "serve", "--dir", str(directory), "--host", HOST, "--port", str(port))
    url = f"https://{HOST}:{port}"
    return start("log node", url, command, directory / "node.log", listening(port))


def start_witness(org: str, directory: Path, port: int, consortium_file: Path) -> Service:
    command = cli(
        "witness",
        "serve",
        *("--org", org, "--dir", str(directory), "--host", HOST, "--port", str(port)),
        *("--consortium", str(consortium_file)),
    )
    url = f"http://{HOST}:{port}"
    return start(f"{org} witness", url, command, directory / "witness.log", listening(port))


def start_gateway(
    org: str,
    directory: Path,
    port: int,
    node_url: str,
    *,
    workers: int = 1,
    sync_interval_s: float = 5.0,
) -> Service:
    command = cli(
        "serve",
        *("--dir", str(directory), "--host", HOST, "--port", str(port)),
        *("--workers", str(workers), "--log-url", node_url),
    )
    env = {"LEDGER_GW_ORGS": org, "LEDGER_GW_SYNC_INTERVAL": str(sync_interval_s)}
    url = f"http://{HOST}:{port}"
    log = directory / "gateway.log"
    return start(f"{org} gateway", url, command, log, answers_ready(url), env)
