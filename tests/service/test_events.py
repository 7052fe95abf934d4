"""Submitting events: one or a batch, idempotent replays, refusals that change nothing."""

from __future__ import annotations

import pytest

from ledger_gw.errors import RejectedError
from ledger_gw.services import events
from ledger_gw.services.gateway import Gateway
from tests.service.conftest import MakeCaller
from tests.support import events as ev
from tests.support.memory_ledger import MemoryLedger


def test_submit_appends_once_and_a_replay_returns_the_original(
    gateway: Gateway, ledger: MemoryLedger, caller: MakeCaller
) -> None:
    a = caller("AGENCY-A")
    grant = ev.entitlement_granted(ev.pid())
    result, status = events.submit(gateway, a, grant)
    assert status == "accepted"
    assert (result["type"], result["entitlement_id"]) == (
        "entitlement.granted",
        grant["entitlement_id"],
    )
    assert ledger.size() == 1
    again, status = events.submit(gateway, a, grant)
    assert (again, status) == (result, "replayed")
    assert ledger.size() == 1


def test_events_are_signed_as_the_callers_organisation(
    gateway: Gateway, ledger: MemoryLedger, caller: MakeCaller
) -> None:
    referral = ev.referral_created(ev.pid(), to_org="AGENCY-B")
    events.submit(gateway, caller("AGENCY-A"), referral)
    accept = ev.referral_step("accepted", referral["referral_id"])
    with pytest.raises(RejectedError) as info:  # only the receiver may accept
        events.submit(gateway, caller("AGENCY-A"), accept)
    assert info.value.kind == "forbidden"
    assert ledger.size() == 1
    result, _ = events.submit(gateway, caller("AGENCY-B"), accept)
    assert result["state"] == "accepted"
    assert ledger.size() == 2


def test_a_reused_event_id_with_other_content_conflicts(
    gateway: Gateway, ledger: MemoryLedger, caller: MakeCaller
) -> None:
    a = caller("AGENCY-A")
    grant = ev.entitlement_granted(ev.pid())
    events.submit(gateway, a, grant)
    with pytest.raises(RejectedError) as info:
        events.submit(gateway, a, {**grant, "amount": "151.00"})
    assert info.value.kind == "conflict"
    assert ledger.size() == 1


def test_batch_reports_each_event(
    gateway: Gateway, ledger: MemoryLedger, caller: MakeCaller
) -> None:
    a = caller("AGENCY-A")
    person = ev.pid()
    earlier = ev.entitlement_granted(person)
    events.submit(gateway, a, earlier)
    grant = ev.entitlement_granted(person, assistance_type="food", modality="voucher")
    referral = ev.referral_created(person)
    accept_own = ev.referral_step("accepted", referral["referral_id"])
    out = events.submit_batch(gateway, a, [grant, referral, accept_own, earlier])
    assert [x["event_id"] for x in out] == [
        e["event_id"] for e in (grant, referral, accept_own, earlier)
    ]
    assert [x["status"] for x in out] == ["accepted", "accepted", "rejected", "replayed"]
    assert out[2]["error"]["kind"] == "forbidden"
    assert out[3]["result"]["entitlement_id"] == earlier["entitlement_id"]
    assert ledger.size() == 3


def test_a_later_event_of_a_batch_sees_the_earlier_ones(
    gateway: Gateway, caller: MakeCaller
) -> None:
    grant = ev.entitlement_granted(ev.pid())
    delivery = ev.delivery(grant["entitlement_id"], "150.00")
    out = events.submit_batch(gateway, caller("AGENCY-A"), [grant, delivery])
    assert [x["status"] for x in out] == ["accepted", "accepted"]
    assert out[1]["result"]["remaining"] == "0"


def test_a_malformed_event_refuses_the_whole_batch(
    gateway: Gateway, ledger: MemoryLedger, caller: MakeCaller
) -> None:
    bad = {**ev.entitlement_granted(ev.pid()), "currency": "XYZ"}
    with pytest.raises(RejectedError) as info:
        events.submit_batch(gateway, caller("AGENCY-A"), [ev.entitlement_granted(ev.pid()), bad])
    assert (info.value.kind, info.value.field) == ("validation", "events[1].currency")
    assert ledger.size() == 0


@pytest.mark.parametrize(
    ("batch", "code"),
    [
        ([], "invalid_value"),
        ([ev.consent_granted(ev.pid())] * 2, "duplicate_event_id"),
        ([{}] * 1001, "too_large"),
        (["not an event"], "invalid_type"),
    ],
)
def test_batch_shape(
    gateway: Gateway, ledger: MemoryLedger, caller: MakeCaller, batch: list[object], code: str
) -> None:
    with pytest.raises(RejectedError) as info:
        events.submit_batch(gateway, caller("AGENCY-A"), batch)
    assert (info.value.kind, info.value.code) == ("validation", code)
    assert ledger.size() == 0


def test_a_gateway_signs_only_for_the_organisations_it_serves(
    gateway: Gateway, ledger: MemoryLedger, caller: MakeCaller
) -> None:
    a = caller("AGENCY-A")
    gateway.signers.pop("AGENCY-A")
    with pytest.raises(RejectedError) as info:
        events.submit(gateway, a, ev.entitlement_granted(ev.pid()))
    assert (info.value.kind, info.value.code) == ("forbidden", "org_not_served")
    assert ledger.size() == 0
