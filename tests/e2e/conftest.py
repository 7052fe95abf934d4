"""A real gunicorn (2 workers) on a free loopback port, started and stopped per module."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pytest
from e2e_server import Server

from ledger_gw.bootstrap import open_gateway
from ledger_gw.demo.consortium import DEMO
from ledger_gw.services.access import issue_token
from ledger_gw.services.config import GatewayConfig
from ledger_gw.workspace import Workspace
from tests.support.gunicorn import gunicorn

TOKENS = (
    ("AGENCY-A", "agency-writer"),
    ("AGENCY-B", "agency-writer"),
    ("AGENCY-C", "agency-writer"),
    ("AUDITOR-X", "auditor"),
)


@contextmanager
def serving(
    tmp_path_factory: pytest.TempPathFactory, environ: Mapping[str, str] | None = None
) -> Iterator[Server]:
    """The demo consortium served, a token for each of TOKENS; ``environ`` as `gunicorn`."""
    root = tmp_path_factory.mktemp("e2e") / "ws"
    Workspace.create(root, DEMO)
    gw = open_gateway(GatewayConfig(directory=root))
    try:
        tokens = {
            org: issue_token(gw.store(org), gw.org_role(org), role)[1] for org, role in TOKENS
        }
    finally:
        gw.close()
    with gunicorn(root, tmp_path_factory.mktemp("metrics"), environ=environ) as url:
        yield Server(url, root, tokens)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory) as served:
        yield served
