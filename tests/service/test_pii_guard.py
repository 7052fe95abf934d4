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
        amount="999999999",
    )
    events.submit(gateway, caller("AGENCY-A"), grant)
    assert ledger.size() == 1
