"""One person registered twice at once at one agency, as a double-submitted form does:
on PostgreSQL both requests look her up before either has committed. The one that
comes second is told she is registered (409 `already_registered`, naming her
registration), not that the database failed."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import RejectedError
from ledger_gw.offchain.models import Person
from ledger_gw.services import registrations
from ledger_gw.services.access import Caller, Role
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import Workspace
from tests.support.gateways import gateway_on

FATIMA = {"given_name": "Fatima", "family_name": "Al-Hassan", "date_of_birth": "1991-03-14"}
ORGS = ("AGENCY-A",)


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("race") / "ws"
    Workspace.create(root, DEMO)
    return root


@pytest.fixture(params=["postgresql"])
def pg_gateway(
    request: pytest.FixtureRequest, consortium: Path, tmp_path: Path
) -> Iterator[Gateway]:
    with gateway_on(request, consortium, tmp_path, ORGS) as gw:
        yield gw


def _waiting_on_a_lock(gateway: Gateway) -> bool:
    with gateway.stores["AGENCY-A"].engine.connect() as conn:
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        return bool(conn.execute(text(waiting)).scalar())


def test_the_second_of_two_registrations_at_once_is_told_she_is_registered(
    pg_gateway: Gateway,
) -> None:
    gw = pg_gateway
    a = Caller("t", "AGENCY-A", Role.AGENCY_WRITER)
    first = str(uuid.uuid4())
    with gw.stores["AGENCY-A"].engine.connect() as conn, ThreadPoolExecutor(1) as pool:
        # The first request, its insert made and not yet committed.
        pid = gw.pseudonym_key.pseudonym(FATIMA)
        conn.execute(insert(Person).values(id=first, pid=pid, attributes=FATIMA))
        # The second: its lookup does not see her, its insert waits on the first's.
        second = pool.submit(registrations.register, gw, a, FATIMA)
        deadline = time.monotonic() + 30
        while not _waiting_on_a_lock(gw):
            assert not second.done(), second.result()
            assert time.monotonic() < deadline, "the second registration never reached its insert"
            time.sleep(0.05)
        conn.commit()
        with pytest.raises(RejectedError) as info:
            second.result(timeout=30)
    assert (info.value.code, info.value.details) == ("already_registered", {"person_id": first})
    page = registrations.search(gw, a)
    assert [p["person_id"] for p in page.items] == [first]
