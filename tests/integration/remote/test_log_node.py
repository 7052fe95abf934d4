"""Agencies on their own machines: gateways append through a log node over mutual TLS."""

from __future__ import annotations

import pytest

from tests.integration.remote.conftest import Site
from tests.support import events as ev

pytestmark = pytest.mark.slow

NAME = "Zainab-Quetzalcoatl"  # a test person's registration data, to look for in bytes
BIRTH = "1977-03-14"


def test_register_grant_refer_and_history_through_the_node(site: Site) -> None:
    a, b = site.agencies["AGENCY-A"], site.agencies["AGENCY-B"]
    person = a.call(
        "POST",
        "/v1/registrations",
        json={"attributes": {"given_name": NAME, "date_of_birth": BIRTH}},
    )
    assert person.status_code == 201, person.text
    pid = person.json()["pid"]
    for event in (ev.consent_granted(pid), ev.entitlement_granted(pid)):
        r = a.call("POST", "/v1/events", json=event)
        assert r.status_code == 201, r.text
    referral = ev.referral_created(pid)
    assert a.call("POST", "/v1/events", json=referral).status_code == 201
    accepted = b.call(
        "POST", "/v1/events", json=ev.referral_step("accepted", referral["referral_id"])
    )
    assert accepted.status_code == 201, accepted.text
    history = b.call("GET", f"/v1/persons/{pid}/history", params={"purpose": "referral"})
    assert history.status_code == 200, history.text
    seen = [(e["org"], e["event"]["type"]) for e in history.json()["events"]]
    assert seen == [
        ("AGENCY-A", "consent.granted"),
        ("AGENCY-A", "entitlement.granted"),
        ("AGENCY-A", "referral.created"),
        ("AGENCY-B", "referral.accepted"),
    ]
