"""gunicorn settings for the gateway (`gunicorn -c python:api.gunicorn_conf api.wsgi:app`).

On the embedded ledger, the master starts one appending process (see
ledger_gw.embedded.appender) and restarts it should it die: workers hand it their
signed transactions and read the ledger directly. Each worker opens its own ledger
after the fork (no preload). The master migrates the off-chain databases and creates
the ledger's tables once before forking, so that workers never race on DDL.

Environment: LEDGER_GW_BIND (default 127.0.0.1:8080), LEDGER_GW_WORKERS (2),
LEDGER_GW_THREADS (8 threads per worker: the ledger group-commits concurrent requests),
plus GatewayConfig's variables.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

bind = os.environ.get("LEDGER_GW_BIND", "127.0.0.1:8080")
workers = int(os.environ.get("LEDGER_GW_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("LEDGER_GW_THREADS", "8"))
preload_app = False
timeout = 60
graceful_timeout = 10
keepalive = 5


_appender: Any = None


def on_starting(server: Any) -> None:
    from ledger_gw.embedded.appender import AppenderProcess
    from ledger_gw.services.config import GatewayConfig
    from ledger_gw.services.gateway import Gateway

    global _appender
    config = GatewayConfig.from_env()
    Gateway.open(config).close()  # migrations and ledger tables, once
    os.environ["LEDGER_GW_MIGRATE"] = "0"
    if config.backend == "embedded" and config.appender is None:
        _appender = AppenderProcess()
        _appender.start()
        os.environ.update(_appender.environ())
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ledger-gw-metrics-")


def on_exit(server: Any) -> None:
    if _appender is not None:
        _appender.stop()


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
