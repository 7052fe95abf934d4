"""Before signing, the gateway refuses values that may carry personal data; the ledger
never sees them, alone or in a batch."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ledger_gw.errors import RejectedError
from ledger_gw.services import events
from ledger_gw.services.gateway import Gateway
from tests.service.conftest import MakeCaller
from tests.support import events as ev
from tests.support.memory_ledger import MemoryLedger

BIRTH_DATE = "1987-04-12"
CASES: list[tuple[dict[str, Any], str]] = [
    (ev.entitlement_granted(ev.pid(), programme="AL-HASSAN"), "programme"),
    (ev.entitlement_granted(ev.pid(), location="FATIMA"), "location"),
    (ev.entitlement_granted(ev.pid(), start=BIRTH_DATE), "start"),
    (ev.entitlement_granted(ev.pid(), amount="963944123456"), "amount"),
    # A phone number fits a P-code's shape; only the consortium's list tells them apart.
    (ev.entitlement_granted(ev.pid(), location="KE0712345679"), "location"),
    (ev.delivery(ev.uid(), "1", location="KE0712345679"), "location"),
    # 13 digits with a decimal point: nine before it, under the digit bound.
    (ev.entitlement_granted(ev.pid(), amount="963944123.4567"), "amount"),
    (ev.delivery(ev.uid(), "963944123.4567"), "amount"),
    (ev.entitlement_granted(ev.pid(), amount="2000.01"), "amount"),
    (ev.entitlement_granted(ev.pid(), currency="EUR"), "currency"),
    (ev.referral_created(ev.pid(), to_org="FATIMA"), "to_org"),
    (ev.consent_granted(ev.pid(), grantees=["AGENCY-B", "ALHASSAN"]), "grantees"),
    (ev.entitlement_granted("Fatima Al-Hassan"), "pid"),
    (ev.entitlement_granted(ev.pid(), notes="she lives behind the bakery"), "notes"),
]


@pytest.mark.parametrize(("event", "field"), CASES)
def test_refused_before_signing(
    gateway: Gateway, ledger: MemoryLedger, caller: MakeCaller, event: dict[str, Any], field: str
) -> None:
    a = caller("AGENCY-A")
    with pytest.raises(RejectedError) as info:
        events.submit(gateway, a, event)
    assert (info.value.kind, info.value.field) == ("validation", field)
    assert "Fatima" not in str(info.value)  # never echoed back
    assert "bakery" not in str(info.value)
    with pytest.raises(RejectedError) as info:
        events.submit_batch(gateway, a, [ev.entitlement_granted(ev.pid()), event])
    assert info.value.field == f"events[1].{field}"
    assert ledger.size() == 0


def test_plausible_values_pass(gateway: Gateway, ledger: MemoryLedger, caller: MakeCaller) -> None:
    today = dt.datetime.now(dt.UTC).date()
    grant = ev.entitlement_granted(
        ev.pid(),
        location="LB11",
        start=today.isoformat(),
        end=(today + dt.timedelta(days=30)).isoformat(),
        amount="2000",  # the demo consortium's ceiling for the programme
    )
    events.submit(gateway, caller("AGENCY-A"), grant)
    assert ledger.size() == 1


@pytest.mark.parametrize(
    ("event", "rule"),
    [
        (ev.entitlement_granted(ev.pid(), location="KE0712345679"), "unlisted_location"),
        (ev.entitlement_granted(ev.pid(), amount="963944123.45"), "above_ceiling"),
        (ev.entitlement_granted(ev.pid(), currency="EUR"), "wrong_currency"),
    ],
)
def test_refusal_names_the_rule(
    gateway: Gateway, ledger: MemoryLedger, caller: MakeCaller, event: dict[str, Any], rule: str
) -> None:
    with pytest.raises(RejectedError) as info:
        events.submit(gateway, caller("AGENCY-A"), event)
    assert info.value.code == rule
    assert ledger.size() == 0
