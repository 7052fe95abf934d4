"""Two fetches of one package at the same moment, on PostgreSQL (on SQLite a writer
takes the database's lock before it reads): it is released once, the other fetch finds
nothing awaits, and the referring agency's audit log shows one release."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Callable

import pytest
from api_helpers import Api, sealed_referral
from sqlalchemy import Engine, create_engine, select, text

from ledger_gw.errors import NotFoundError
from ledger_gw.handover import request as signed
from ledger_gw.offchain.models import AuditRecord
from ledger_gw.offchain.store import org_url
from ledger_gw.services import handover
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway

ORGS = ("AGENCY-A", "AGENCY-B")


@pytest.fixture
def config(config: GatewayConfig, pg_database: Callable[..., str]) -> GatewayConfig:
    return dataclasses.replace(config, offchain_url=pg_database(*ORGS), orgs=ORGS)


def _waiting_on_locks(engine: Engine) -> int:
    """Sessions of the database waiting for a lock (asked in a transaction of its own:
    within one, PostgreSQL answers from the snapshot it took first)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


@pytest.mark.filterwarnings("default")  # as in production: a warning fails no fetch
def test_two_fetches_at_once_release_it_once(
    api: Api, gateway: Gateway, config: GatewayConfig
) -> None:
    rid = sealed_referral(api)
    path = handover.path_of(rid)
    results: list[bytes | Exception] = []

    def fetch() -> None:
        headers = signed.sign(
            gateway.workspace.signer("AGENCY-B"), "GET", path, dt.datetime.now(dt.UTC)
        )
        try:
            results.append(handover.release(gateway, rid, headers))
        except Exception as exc:  # what the fetch came to is its result
            results.append(exc)

    # A third connection holds the package's row while both fetches start, so that both
    # reach it before either deletes it; then lets go of it, changing nothing.
    engine = create_engine(org_url(config.offchain_url, "AGENCY-A"))
    try:
        with engine.connect() as holder:
            held = holder.begin()
            holder.execute(
                text("SELECT 1 FROM handovers WHERE referral_id = :r FOR UPDATE"), {"r": rid}
            )
            threads = [threading.Thread(target=fetch) for _ in range(2)]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 30
            while _waiting_on_locks(engine) < 2:
                assert time.monotonic() < deadline, "the fetches never reached the package"
                time.sleep(0.05)
            held.rollback()
            for thread in threads:
                thread.join(60)
    finally:
        engine.dispose()
    released = [r for r in results if isinstance(r, bytes)]
    refused = [r for r in results if isinstance(r, NotFoundError)]
    assert (len(released), len(refused)) == (1, 1), results
    assert refused[0].code == "handover_not_found"
    with gateway.store("AGENCY-A").reading() as s:
        query = select(AuditRecord).where(AuditRecord.route == handover.RELEASE_ROUTE)
        rows = [(r.token_id, r.status, r.code) for r in s.scalars(query.order_by(AuditRecord.id))]
    assert rows == [("AGENCY-B", 200, None), ("AGENCY-B", 404, "handover_not_found")]
