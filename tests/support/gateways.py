"""A real gateway on this test's own ledger file and off-chain stores, on SQLite or on
a PostgreSQL database of the session's server, for tests that hold on both."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from ledger_gw.bootstrap import open_gateway
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway


@contextmanager
def gateway_on(
    request: pytest.FixtureRequest, consortium: Path, tmp_path: Path, orgs: Sequence[str]
) -> Iterator[Gateway]:
    """``request.param`` names the stores' database: "sqlite" or "postgresql"."""
    if request.param == "sqlite":
        template = f"sqlite:///{tmp_path}/offchain-{{org}}.db"
    else:
        template = request.getfixturevalue("pg_database")(*orgs)
    config = GatewayConfig(
        directory=consortium,
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        offchain_url=template,
        orgs=tuple(orgs),
    )
    gw = open_gateway(config)
    try:
        yield gw
    finally:
        gw.close()
