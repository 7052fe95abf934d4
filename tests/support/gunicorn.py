"""A real `ledger-gw serve` (gunicorn) on loopback, for the end-to-end and browser tiers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gunicorn(
    directory: Path,
    metrics_dir: Path | None,
    workers: int = 2,
    environ: Mapping[str, str] | None = None,
    log_name: str = "gunicorn.log",
    port: int | None = None,
) -> Iterator[str]:
    """Serve the consortium in `directory`; yields the base URL once /readyz answers 200.

    Without `metrics_dir`, PROMETHEUS_MULTIPROC_DIR is left unset, as an operator would:
    `ledger-gw serve` then makes its own.

    `environ` adds to the environment (e.g. LEDGER_GW_ORGS for one organisation's gateway).
    `port`, if given, is where to listen (a server restarted where its clients expect it).
    Stopped with SIGTERM (then SIGKILL after 30 s); its log is `directory/<log_name>`.
    """
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(environ or {})
    if metrics_dir is not None:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    command = ["serve", "--dir", str(directory), "--host", "127.0.0.1", "--port", str(port)]
    log_path = directory / log_name
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ledger_gw.cli", *command, "--workers", str(workers)],
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
                    raise RuntimeError(log_path.read_text())
                time.sleep(0.2)
            yield url
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
