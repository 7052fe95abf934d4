"""gunicorn serving the log node over mutual TLS, in the process that starts it.

One worker: the ledger's writer thread group-commits what the worker's threads hand it,
so no appending process is needed; the clients are the members' gateways, few and
authenticated by the TLS handshake before any request is read.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

from api import logs
from api.node import create_node_app
from ledger_gw.bootstrap import NodeServing
from ledger_gw.node.service import LogNode


class NodeServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, serving: NodeServing, open_node: Callable[[], LogNode]) -> None:
        self.serving = serving
        self.open_node = open_node
        self.node: LogNode | None = None  # the worker's, once loaded
        super().__init__()

    def load_config(self) -> None:
        settings: dict[str, Any] = {
            "bind": [self.serving.bind],
            "workers": 1,
            "worker_class": "api.worker.NodeWorker",  # handshakes and reads off-thread
            "threads": self.serving.threads,
            "preload_app": False,
            "timeout": 60,
            "graceful_timeout": 10,
            "keepalive": 5,
            "logconfig_dict": logs.LOGGING,
            "certfile": str(self.serving.cert),
            "keyfile": str(self.serving.key),
            "ca_certs": str(self.serving.client_cas),
            "cert_reqs": ssl.CERT_REQUIRED,
            "worker_exit": _worker_exit,
        }
        for name, value in settings.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        app = create_node_app(self.open_node)  # in the worker, after the fork
        self.node = app.extensions["ledger_gw_node"]
        return app


def _worker_exit(arbiter: Any, worker: Any) -> None:
    """The worker's last checkpoint offered to the witnesses, its ledger closed."""
    server: NodeServer = arbiter.app
    if server.node is not None:
        server.node.close()


def serve_node(serving: NodeServing, open_node: Callable[[], LogNode]) -> None:
    """Runs until gunicorn's master is told to stop (SIGTERM, SIGINT)."""
    NodeServer(serving, open_node).run()
