"""Prometheus metrics. Under gunicorn with several workers set PROMETHEUS_MULTIPROC_DIR
(an empty directory) so that /metrics adds up every worker's counters; `ledger-gw serve`
does this. With one process the default registry is exact."""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

REQUESTS = Counter(
    "ledger_gw_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "ledger_gw_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
AUTH_FAILURES = Counter(
    "ledger_gw_auth_failures_total", "Bearer tokens refused, by reason", ["code"]
)
EVENTS = Counter("ledger_gw_events_total", "Events submitted, by outcome", ["outcome"])


def _start() -> None:
    g.started = time.perf_counter()


# Labels take only these values: a client that needs no token chooses the method and
# the path, and a label value per request would grow every worker's series for ever.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _observe(response: Response) -> Response:
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    method = request.method if request.method in _METHODS else "other"
    started = g.get("started")
    if started is not None:
        LATENCY.labels(method, route).observe(time.perf_counter() - started)
    REQUESTS.labels(method, route, str(response.status_code)).inc()
    return response


def exposition() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        data = generate_latest(registry)
    else:
        data = generate_latest(REGISTRY)
    return Response(data, mimetype=CONTENT_TYPE_LATEST)


def count_in_directory() -> None:
    """In a worker, after the fork: keep its values in PROMETHEUS_MULTIPROC_DIR.

    prometheus_client picks where values live when it is first imported, which under
    `ledger-gw serve` is in gunicorn's master, before the master names the directory.
    Labelled values are made on first use, so a worker that picks again before it
    counts anything counts where /metrics adds every worker up."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_observe)
