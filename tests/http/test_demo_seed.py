"""The data `serve --demo` seeds (demo.seed) holds Fatima's whole journey: checked on
the ledger and the agencies' stores, and her card against a consortium pinned from disk."""

from __future__ import annotations

from typing import Any

from ledger_gw.consortium import Consortium
from ledger_gw.demo.seed import as_writer, seed_fatima
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.services import credentials, registrations
from ledger_gw.services.gateway import Gateway
from tests.support.witnesses import settled


def _events(gateway: Gateway) -> list[tuple[str, dict[str, Any]]]:
    assert isinstance(gateway.ledger, EmbeddedLedger)
    log = EmbeddedLog.of(gateway.ledger)
    return [(r.org, r.event) for r in log.records(log.anchor())]


def test_the_seeded_journey_holds_hand_over_registration_card_and_continued_grant(
    gateway: Gateway,
) -> None:
    journey = seed_fatima(gateway)
    settled(gateway.ledger)  # its witnesses cosigned the latest checkpoint
    pid, (first, second) = journey["pid"], journey["referrals"]
    events = _events(gateway)

    handed = [(o, e) for o, e in events if e.get("type") == "referral.handed_over"]
    assert [(o, e["referral_id"]) for o, e in handed] == [("AGENCY-A", first)]
    steps = [e["type"] for _, e in events if e.get("referral_id") == first]
    assert steps[steps.index("referral.handed_over") :] == [
        "referral.handed_over",
        "referral.accepted",
        "referral.completed",
    ]
    # AGENCY-B registered her from the hand-over: the same pseudonymous ID, no retyping
    assert registrations.is_registered(gateway, as_writer("AGENCY-B"), pid)
    assert not registrations.is_registered(gateway, as_writer("AGENCY-C"), pid)

    assert journey["credential"]
    pinned = Consortium.load(gateway.workspace.root / "consortium.json")
    verified = credentials.verify_offline(journey["credential"].encode(), pinned)
    assert verified.pid == pid
    granted = {
        e["entitlement_id"]: (o, e) for o, e in events if e.get("type") == "entitlement.granted"
    }
    assert verified.kind == verified.binding.kind == "entitlement"
    entitlement = verified.binding.ref
    assert granted[entitlement][0] == "AGENCY-A"

    continued = [
        (o, e) for o, e in granted.values() if e.get("continues_entitlement_id") == entitlement
    ]
    assert [(o, e["pid"]) for o, e in continued] == [("AGENCY-C", pid)]
    assert second in {e.get("referral_id") for _, e in events}
