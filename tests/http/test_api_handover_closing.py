"""A referral closed while the receiver's fetch is under way, before its package is
released: the fetch is refused and the package goes, as for a referral closed before."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from api_helpers import Api, sealed_referral
from sqlalchemy import select

from ledger_gw.errors import TransitionError
from ledger_gw.handover import request as signed
from ledger_gw.offchain.models import SealedHandover
from ledger_gw.services import handover
from ledger_gw.services.gateway import Gateway
from tests.support import events as ev


@pytest.mark.parametrize("closing", ["cancelled", "declined"])
def test_a_referral_closed_during_the_fetch_is_not_released(
    api: Api, gateway: Gateway, monkeypatch: pytest.MonkeyPatch, closing: str
) -> None:
    rid = sealed_referral(api)
    closer = "AGENCY-A" if closing == "cancelled" else "AGENCY-B"
    remember: Callable[..., None] = handover._remember

    def then_closed(*args: Any) -> None:
        """The fetch has read the referral, still open; now its organisation closes it."""
        remember(*args)
        r = api.as_(closer).post("/v1/events", json=ev.referral_step(closing, rid))
        assert r.status_code == 201, r.get_json()

    monkeypatch.setattr(handover, "_remember", then_closed)
    path = handover.path_of(rid)
    headers = signed.sign(
        gateway.workspace.signer("AGENCY-B"), "GET", path, dt.datetime.now(dt.UTC)
    )
    with pytest.raises(TransitionError) as refused:
        handover.release(gateway, rid, headers)
    assert refused.value.code == "referral_closed"
    with gateway.store("AGENCY-A").reading() as s:
        assert s.scalars(select(SealedHandover.referral_id)).all() == []
