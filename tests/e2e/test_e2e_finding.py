"""Against gunicorn: the documented examples are accepted, a refused event lists all its
field errors, an agency pages through its inbox and finds its own people."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from e2e_server import Server

from ledger_gw.services import event_examples as ex
from tests.support import events as ev

pytestmark = pytest.mark.slow


def test_examples_errors_inbox_and_search_over_http(server: Server) -> None:
    s = requests.Session()
    spec = s.get(f"{server.url}/openapi.json", timeout=10).json()
    mapping = spec["components"]["schemas"]["Event"]["discriminator"]["mapping"]
    examples = {t: spec["components"]["schemas"][r.rsplit("/", 1)[1]] for t, r in mapping.items()}
    created = examples["referral.created"]["example"]
    first = s.post(
        f"{server.url}/v1/events",
        headers=server.headers("AGENCY-A"),  # the examples' sender: the first agency
        json=examples["consent.granted"]["example"],
        timeout=10,
    )
    assert first.status_code == 201, first.text
    sent = s.post(
        f"{server.url}/v1/events", headers=server.headers("AGENCY-A"), json=created, timeout=10
    )
    assert sent.status_code == 201, sent.text

    bad = {**ev.entitlement_granted(), "amount": "1,5", "currency": "usd", "pid": "Fatima"}
    refused = s.post(
        f"{server.url}/v1/events", headers=server.headers("AGENCY-A"), json=bad, timeout=10
    )
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["errors"]} == {"amount", "currency", "pid"}

    receiver = created["to_org"]
    inbox: list[dict[str, Any]] = []
    url = f"{server.url}/v1/referrals?direction=incoming&limit=1"
    while url:
        page = s.get(url, headers=server.headers(receiver), timeout=10)
        assert page.status_code == 200, page.text
        inbox += page.json()["referrals"]
        url = f"{server.url}{page.links['next']['url']}" if "next" in page.links else ""
    assert ex.REFERRAL_ID in [r["referral_id"] for r in inbox]

    a = server.headers("AGENCY-A")
    person = s.post(
        f"{server.url}/v1/registrations",
        headers=a,
        json={"attributes": {"given_name": "Zaynab", "date_of_birth": "1979-05-05"}},
        timeout=10,
    ).json()
    search = f"{server.url}/v1/registrations/search"
    found = s.post(search, headers=a, json={"q": "zayn"}, timeout=10).json()
    assert [r["person_id"] for r in found["registrations"]] == [person["person_id"]]
    other = s.post(search, headers=server.headers(receiver), json={"q": "zayn"}, timeout=10)
    assert other.json()["registrations"] == []
