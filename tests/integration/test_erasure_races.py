"""Erasure against what runs beside it: a consent recorded for her meanwhile, a second
erasure of her. Real gateway, real SQLite ledger, off-chain stores on SQLite and on a
real PostgreSQL; the service functions each request would call, in threads of their
own, ordered by a hook on the store's own statements."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import ConflictError, NotFoundError, TransitionError
from ledger_gw.offchain.models import Person, SealedHandover
from ledger_gw.services import events, handover, queries, registrations
from ledger_gw.services.access import Caller, Role
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.gateways import gateway_on

ORGS = ("AGENCY-A", "AGENCY-B")
LAYLA = {"given_name": "Layla", "family_name": "Nasser", "date_of_birth": "1990-02-11"}
WRITER = Caller("t", "AGENCY-A", Role.AGENCY_WRITER)


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("erasure") / "ws"
    Workspace.create(root, DEMO)
    return root


@pytest.fixture(params=["sqlite", "postgresql"])
def gateway(request: pytest.FixtureRequest, consortium: Path, tmp_path: Path) -> Iterator[Gateway]:
    with gateway_on(request, consortium, tmp_path, ORGS) as gw:
        yield gw


def _while_she_is_deleted(gateway: Gateway, other: Callable[[], Any]) -> list[Any]:
    """Hook: once the statement deleting her has run, and before anything else of the
    erasure, `other` runs to its end in a thread of its own (another request); what it
    returned, or raised, is in the list."""
    done: list[Any] = []

    def run() -> None:
        try:
            done.append(other())
        except Exception as exc:  # reported to the test
            done.append(exc)

    def hook(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM PERSONS") and not done:
            thread = threading.Thread(target=run)
            thread.start()
            thread.join(20)
            assert done, "the other request did not finish while she was being deleted"

    event.listen(gateway.store("AGENCY-A").engine, "after_cursor_execute", hook)
    return done


def test_a_consent_recorded_for_her_while_she_is_erased_is_withdrawn_too(
    gateway: Gateway,
) -> None:
    """Another caseworker records a consent for her once the erasure has withdrawn the
    ones it found and is deleting her: it is withdrawn with them, so no other member
    reads what it opened once the erasure has answered."""
    person = registrations.register(gateway, WRITER, LAYLA)
    pid = person["pid"]
    events.submit(gateway, WRITER, ev.consent_granted(pid))
    meanwhile = ev.consent_granted(pid)
    done = _while_she_is_deleted(gateway, lambda: events.submit(gateway, WRITER, meanwhile))

    assert registrations.erase(gateway, WRITER, person["person_id"]) == pid

    assert done[0][1] == "accepted"  # recorded while the erasure ran
    consents = queries.consents(gateway, WRITER, pid)["consents"]
    assert meanwhile["consent_id"] in {c["consent_id"] for c in consents}
    assert [c for c in consents if c["active"]] == []
    assert {c["revoke_reason"] for c in consents} == {"person_request"}
    with pytest.raises(NotFoundError):
        registrations.get(gateway, WRITER, person["person_id"])


def test_a_consent_recorded_meanwhile_whose_withdrawal_is_refused_leaves_her_record(
    gateway: Gateway,
) -> None:
    """The withdrawal of the consent recorded meanwhile is refused (its event ID taken):
    the erasure is refused as a first withdrawal refused would be, her deletion is
    rolled back: she is there still, and so is that consent, active."""
    person = registrations.register(gateway, WRITER, LAYLA)
    pid = person["pid"]
    events.submit(gateway, WRITER, ev.consent_granted(pid))
    meanwhile = ev.consent_granted(pid)
    taken = str(uuid.uuid5(registrations._WITHDRAWALS, meanwhile["consent_id"]))

    def record() -> Any:
        events.submit(gateway, WRITER, meanwhile)
        return events.submit(gateway, WRITER, ev.entitlement_granted(pid, event_id=taken))

    _while_she_is_deleted(gateway, record)
    with pytest.raises(ConflictError) as refused:
        registrations.erase(gateway, WRITER, person["person_id"])
    assert refused.value.code == "consent_not_withdrawn"
    assert registrations.get(gateway, WRITER, person["person_id"])["pid"] == pid
    with gateway.store("AGENCY-A").reading() as s:
        assert s.scalar(select(func.count()).select_from(Person)) == 1
    consents = queries.consents(gateway, WRITER, pid)["consents"]
    assert [c["consent_id"] for c in consents if c["active"]] == [meanwhile["consent_id"]]


def test_a_consent_recorded_after_the_erasure_stays(gateway: Gateway) -> None:
    """Once the erasure has answered, a consent recorded for her is the agency's new
    word: the erasure does not reach it."""
    person = registrations.register(gateway, WRITER, LAYLA)
    registrations.erase(gateway, WRITER, person["person_id"])
    after = ev.consent_granted(person["pid"])
    events.submit(gateway, WRITER, after)
    (consent,) = queries.consents(gateway, WRITER, person["pid"])["consents"]
    assert (consent["consent_id"], consent["active"]) == (after["consent_id"], True)


def test_two_erasures_of_her_at_once_erase_her_once(gateway: Gateway) -> None:
    """One answers with her pid, the other finds her gone; her consents are withdrawn
    once (the same withdrawal replayed), and nothing stays of her."""
    person = registrations.register(gateway, WRITER, LAYLA)
    pid = person["pid"]
    for _ in range(3):
        events.submit(gateway, WRITER, ev.consent_granted(pid))
    start = threading.Barrier(2)

    def erase() -> str | None:
        start.wait()
        try:
            return registrations.erase(gateway, WRITER, person["person_id"])
        except NotFoundError:
            return None

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda _: erase(), range(2)))
    assert sorted(outcomes, key=str) == [None, pid]
    consents = queries.consents(gateway, WRITER, pid)["consents"]
    assert len(consents) == 3
    assert not any(c["active"] for c in consents)
    with pytest.raises(NotFoundError):
        registrations.get(gateway, WRITER, person["person_id"])


def _referred(gateway: Gateway) -> tuple[dict[str, Any], str]:
    """AGENCY-A registers her, records her consent to share with AGENCY-B and refers
    her there: (her registration, the referral's ID)."""
    person = registrations.register(gateway, WRITER, LAYLA)
    consent = ev.consent_granted(person["pid"], grantees=["AGENCY-B"])
    referral = ev.referral_created(person["pid"], consent_id=consent["consent_id"])
    events.submit_batch(gateway, WRITER, [consent, referral])
    return person, referral["referral_id"]


def test_erasing_her_while_her_hand_over_is_sealed_leaves_no_package(
    gateway: Gateway,
) -> None:
    """The erasure starts once the sealing has read her registration. Whichever goes
    first, the receiver fetches nothing: a package sealed first is deleted with her; a
    sealing that finds her erased is refused (404), and one the erasure's withdrawal of
    her consent overtook is refused by the ledger; never a store failure (503)."""
    person, rid = _referred(gateway)
    engine = gateway.store("AGENCY-A").engine
    deleting = threading.Event()
    erasure: list[Any] = []

    def erase() -> None:
        try:
            erasure.append(registrations.erase(gateway, WRITER, person["person_id"]))
        except Exception as exc:  # reported to the test
            erasure.append(exc)

    eraser = threading.Thread(target=erase)

    def hook(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        sql = statement.lstrip().upper()
        if sql.startswith("DELETE FROM PERSONS"):
            deleting.set()
        elif sql.startswith("SELECT PERSONS.") and eraser.ident is None:  # the sealing's
            eraser.start()
            # PostgreSQL: the erasure holds her while the sealing goes on; SQLite: the
            # sealing holds the store, and the erasure waits for it.
            deleting.wait(3)

    event.listen(engine, "after_cursor_execute", hook)
    try:
        sealed: Any = handover.prepare(gateway, WRITER, rid, "")
    except Exception as exc:  # reported to the test
        sealed = exc
    finally:
        event.remove(engine, "after_cursor_execute", hook)
    eraser.join(30)

    assert erasure == [person["pid"]]
    assert isinstance(sealed, dict | NotFoundError | TransitionError), sealed
    with gateway.store("AGENCY-A").reading() as s:
        assert s.scalar(select(func.count()).select_from(SealedHandover)) == 0
