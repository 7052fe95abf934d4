"""Hand-over attacks on a real gateway serving both agencies (SQLite ledger, real keys,
real HPKE): a referring agency that records the hash of another person's package under
a referral, and a copied fetch replayed once its package is sealed again. Neither hands
anyone a registration."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from api_helpers import Api, sealed_referral
from sqlalchemy import func, select

from ledger_gw.errors import AuthenticationError
from ledger_gw.handover import request as signed
from ledger_gw.handover.package import Binding, new_handover, seal
from ledger_gw.offchain.models import Person, SealedHandover
from ledger_gw.services import handover
from ledger_gw.services.gateway import Gateway

AMINA = {"given_name": "Amina", "family_name": "Haddad", "date_of_birth": "1988-07-02"}


def _persons(gateway: Gateway, org: str) -> int:
    with gateway.store(org).reading() as s:
        return int(s.scalar(select(func.count()).select_from(Person)) or 0)


def _take(api: Api, rid: str) -> Any:
    return api.as_("AGENCY-B").post("/v1/registrations/from-referral", json={"referral_id": rid})


def test_a_package_about_another_person_is_not_prefilled(api: Api, gateway: Gateway) -> None:
    """AGENCY-A refers Fatima, then swaps in Amina's registration, sealed to B for this
    referral, and records that package's hash on the ledger as its latest hand-over: the
    hash matches, the package opens, and it still names someone the referral does not."""
    a = api.as_("AGENCY-A")
    r = a.post("/v1/registrations", json={"attributes": AMINA})
    assert r.status_code == 201, r.get_json()
    amina = r.get_json()["pid"]
    rid = sealed_referral(api)
    swapped = new_handover(Binding(rid, "AGENCY-A", "AGENCY-B"), amina, AMINA, "insulin")
    with gateway.store("AGENCY-A").session() as s:
        row = s.get(SealedHandover, rid)
        assert row is not None
        row.sealed = seal(swapped, gateway.workspace.consortium.handover_key("AGENCY-B"))
        row.document_hash = swapped.document_hash
    recorded = {
        "event_id": str(uuid.uuid4()),
        "type": "referral.handed_over",
        "referral_id": rid,
        "document_hash": swapped.document_hash,
    }
    assert a.post("/v1/events", json=recorded).status_code == 201
    taken = _take(api, rid)
    assert taken.status_code == 422, taken.get_json()
    assert taken.get_json()["code"] == "handover_mismatch"
    assert "Amina" not in taken.get_data(as_text=True)
    assert _persons(gateway, "AGENCY-B") == 0


def test_a_copied_fetch_dated_ahead_is_refused_for_as_long_as_its_time_is_accepted(
    api: Api, gateway: Gateway
) -> None:
    """B's gateway, its clock four minutes fast, fetches the package; someone copies the
    request. The package is sealed again (B's gateway failed after fetching it), and the
    copy is replayed eight minutes later: its time is still within five minutes of A's
    clock, so its nonce must still be remembered."""
    rid = sealed_referral(api)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    path = handover.path_of(rid)
    copied = signed.sign(
        gateway.workspace.signer("AGENCY-B"), "GET", path, now + dt.timedelta(minutes=4)
    )
    assert handover.release(gateway, rid, copied, now)  # the honest fetch
    resealed = api.as_("AGENCY-A").post("/v1/handovers", json={"referral_id": rid, "note": "x"})
    assert resealed.status_code == 201, resealed.get_json()
    later = now + dt.timedelta(minutes=8)
    with pytest.raises(AuthenticationError) as replayed:
        handover.release(gateway, rid, copied, later)
    assert replayed.value.code == "request_replayed"
    with gateway.store("AGENCY-A").reading() as s:
        assert s.get(SealedHandover, rid) is not None  # still there for B's next fetch
    assert _take(api, rid).status_code == 200
