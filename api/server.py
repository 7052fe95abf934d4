"""gunicorn serving the gateway, in the process that starts it (`ledger-gw serve`).

On the embedded ledger, the master starts one appending process (see
ledger_gw.embedded.appender) and restarts it should it die: workers hand it their
signed transactions and read the ledger directly. Each worker opens its own ledger
after the fork (no preload). The master migrates the off-chain databases and creates
the ledger's tables once before forking, so that workers never race on DDL; it then
hands its workers a configuration that says so, with the appender's socket and key.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

from api import logs, metrics
from api.app import create_app
from ledger_gw.bootstrap import Serving, open_gateway, start_appender
from ledger_gw.services.config import GatewayConfig


class GatewayServer(BaseApplication):  # type: ignore[misc]
    """gunicorn's application: its hooks and its workers read `config` from it."""

    def __init__(self, config: GatewayConfig, serving: Serving) -> None:
        self.config = config
        self.serving = serving
        self.stop_appender: Callable[[], None] = lambda: None
        self.own_metrics: str | None = None  # a metrics directory it made, not was given
        super().__init__()

    def load_config(self) -> None:
        settings: dict[str, Any] = {
            "bind": [self.serving.bind],
            "workers": self.serving.workers,
            "worker_class": "api.worker.BufferingWorker",  # reads requests whole first
            "threads": self.serving.threads,  # the ledger group-commits concurrent requests
            "preload_app": False,
            "timeout": 60,
            "graceful_timeout": 10,
            "keepalive": 5,
            "logconfig_dict": logs.LOGGING,  # JSON lines, each with its request ID
            "on_starting": _on_starting,
            "on_exit": _on_exit,
            "child_exit": _child_exit,
            "post_fork": _post_fork,
        }
        for name, value in settings.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        return create_app(self.config)  # in each worker, after the fork

    def start_appender(self) -> None:
        """Migrate once, then start the appending process and tell the workers of it."""
        open_gateway(self.config).close()
        self.config, self.stop_appender = start_appender(replace(self.config, migrate=False))


def _on_starting(arbiter: Any) -> None:
    server: GatewayServer = arbiter.app
    server.start_appender()
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # read by prometheus-client
        server.own_metrics = tempfile.mkdtemp(prefix="ledger-gw-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = server.own_metrics


def _on_exit(arbiter: Any) -> None:
    server: GatewayServer = arbiter.app
    server.stop_appender()
    if server.own_metrics is not None:  # made for this run: a run's counts end with it
        shutil.rmtree(server.own_metrics, ignore_errors=True)


def _post_fork(arbiter: Any, worker: Any) -> None:
    metrics.count_in_directory()


def _child_exit(arbiter: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def serve(config: GatewayConfig, serving: Serving) -> None:
    """Runs until gunicorn's master is told to stop (SIGTERM, SIGINT)."""
    GatewayServer(config, serving).run()
