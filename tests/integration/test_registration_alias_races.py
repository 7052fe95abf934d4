"""A correction and a registration of the same person at once, at one agency: her
corrected attributes find one registration afterwards, never two. Real gateway, real
SQLite ledger, off-chain stores on SQLite and on a real PostgreSQL; the two requests in
threads of their own, the second let in once the correction has looked her up."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import RejectedError
from ledger_gw.services import registrations
from ledger_gw.services.access import Caller, Role
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import Workspace
from tests.support.gateways import gateway_on

A = Caller("t", "AGENCY-A", Role.AGENCY_WRITER)
TYPED = {"given_name": "Fatima", "family_name": "Al-Hasan", "date_of_birth": "1987-04-12"}
CORRECTED = {**TYPED, "family_name": "Al-Hassan"}
LAYLA = {"given_name": "Layla", "family_name": "Nasser", "date_of_birth": "1990-02-11"}


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("alias-races") / "ws"
    Workspace.create(root, DEMO)
    return root


@pytest.fixture(params=["sqlite", "postgresql"])
def gateway(request: pytest.FixtureRequest, consortium: Path, tmp_path: Path) -> Iterator[Gateway]:
    with gateway_on(request, consortium, tmp_path, ("AGENCY-A",)) as gw:
        yield gw


def _alongside_the_correction(gateway: Gateway, other: Callable[[], Any]) -> list[Any]:
    """Hook: once the correction has looked up whom her corrected attributes name, `other`
    runs in a thread of its own, given a second to finish before the correction goes on
    (SQLite's writers queue: it waits for the correction); what it returned, or raised,
    is in the list once the thread is joined (the second item)."""
    done: list[Any] = []
    corrector = threading.current_thread()

    def run() -> None:
        try:
            done.append(other())
        except Exception as exc:  # reported to the test
            done.append(exc)

    thread = threading.Thread(target=run)

    def hook(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if (
            threading.current_thread() is corrector
            and "person_aliases" in statement
            and statement.lstrip().upper().startswith("SELECT")
            and thread.ident is None
        ):
            thread.start()
            thread.join(1)

    event.listen(gateway.store("AGENCY-A").engine, "after_cursor_execute", hook)
    return [done, thread]


def _registrations(gateway: Gateway) -> list[str]:
    return [p["person_id"] for p in registrations.search(gateway, A).items]


def test_she_walks_in_with_her_corrected_name_while_it_is_corrected(gateway: Gateway) -> None:
    her = registrations.register(gateway, A, TYPED)
    done, thread = _alongside_the_correction(
        gateway, lambda: registrations.register(gateway, A, CORRECTED)
    )
    registrations.correct(gateway, A, her["person_id"], CORRECTED)
    thread.join(30)

    assert _registrations(gateway) == [her["person_id"]]
    [walk_in] = done
    assert isinstance(walk_in, RejectedError)
    assert walk_in.code == "already_registered"
    assert walk_in.details == {"person_id": her["person_id"]}
    assert registrations.keyed_pid(gateway, A, CORRECTED) == her["pid"]


def test_two_people_corrected_into_one_identity_at_once_one_is_refused(gateway: Gateway) -> None:
    her = registrations.register(gateway, A, TYPED)
    layla = registrations.register(gateway, A, LAYLA)
    done, thread = _alongside_the_correction(
        gateway, lambda: registrations.correct(gateway, A, layla["person_id"], CORRECTED)
    )
    registrations.correct(gateway, A, her["person_id"], CORRECTED)
    thread.join(30)

    [second] = done
    assert isinstance(second, RejectedError)
    assert second.code == "already_registered"
    assert second.details == {"person_id": her["person_id"]}
    assert registrations.get(gateway, A, layla["person_id"])["attributes"] == LAYLA
    assert registrations.keyed_pid(gateway, A, CORRECTED) == her["pid"]
