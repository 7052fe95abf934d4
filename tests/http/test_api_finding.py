"""Finding things: an agency's referral inbox and outbox, its own registrations, cursor
pagination on every list, the withheld count of consent-gated answers."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from api_helpers import Api

from ledger_gw.services import registrations
from tests.support.events import (
    consent_granted,
    entitlement_granted,
    pid,
    referral_created,
    referral_step,
)

FATIMA = {"given_name": "Fatima", "family_name": "Hassan", "date_of_birth": "1990-03-01"}
OMAR = {"given_name": "Omar", "family_name": "Haddad", "date_of_birth": "1985-07-12"}


def _post(api: Api, org: str, event: dict[str, Any]) -> dict[str, Any]:
    response = api.as_(org).post("/v1/events", json=event)
    assert response.status_code == 201, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def _all_pages(api: Api, org: str, url: str, key: str, role: str = "agency-writer") -> list[Any]:
    """Follow `next` to the end, checking each page's Link header on the way."""
    items: list[Any] = []
    response = api.as_(org, role).get(url)
    while True:
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        items += body[key]
        if body["next"] is None:
            assert "Link" not in response.headers
            return items
        link = response.headers["Link"]
        assert link.endswith('rel="next"')
        assert body["next"] in link
        response = api.as_(org, role).get(link[1 : link.index(">")])


def _searched(api: Api, org: str, q: str, limit: int, role: str = "agency-writer") -> list[Any]:
    """Every page of a search, sending `next` back as `cursor` with the same terms; no
    page names a URL to follow, since its terms would be in it."""
    items: list[Any] = []
    body: dict[str, Any] = {"q": q, "limit": limit}
    while True:
        response = api.as_(org, role).post("/v1/registrations/search", json=body)
        assert response.status_code == 200, response.get_json()
        assert "Link" not in response.headers
        items += response.get_json()["registrations"]
        if response.get_json()["next"] is None:
            return items
        body["cursor"] = response.get_json()["next"]


def test_inbox_and_outbox_hold_only_the_agencys_own_referrals(api: Api) -> None:
    to_b = [referral_created(pid(), "AGENCY-B") for _ in range(3)]
    to_c = referral_created(pid(), "AGENCY-C")
    from_b = referral_created(pid(), "AGENCY-C")
    for org, event in [*(("AGENCY-A", e) for e in [*to_b, to_c]), ("AGENCY-B", from_b)]:
        _post(api, org, event)
    _post(api, "AGENCY-B", referral_step("accepted", to_b[1]["referral_id"]))

    def ids(org: str, query: str, role: str = "agency-writer") -> list[str]:
        url = f"/v1/referrals?{query}&limit=2"
        return [r["referral_id"] for r in _all_pages(api, org, url, "referrals", role)]

    assert ids("AGENCY-B", "direction=incoming") == [r["referral_id"] for r in to_b]
    assert ids("AGENCY-B", "direction=incoming", "agency-reader") == ids(
        "AGENCY-B", "direction=incoming"
    )
    assert ids("AGENCY-B", "direction=outgoing") == [from_b["referral_id"]]
    assert ids("AGENCY-C", "direction=incoming") == [to_c["referral_id"], from_b["referral_id"]]
    assert ids("AGENCY-A", "direction=incoming") == []
    assert len(ids("AGENCY-A", "direction=outgoing")) == 4
    assert ids("AGENCY-B", "direction=incoming&state=accepted") == [to_b[1]["referral_id"]]
    assert ids("AGENCY-B", "direction=incoming&state=created") == [
        to_b[0]["referral_id"],
        to_b[2]["referral_id"],
    ]
    page = api.as_("AGENCY-B").get("/v1/referrals?direction=incoming&limit=1").get_json()
    assert page["referrals"][0]["from_org"] == "AGENCY-A"
    assert page["referrals"][0]["state"] == "created"


@pytest.mark.parametrize(
    "query",
    [
        "",
        "direction=sideways",
        "direction=incoming&state=lost",
        "direction=incoming&limit=0",
        "direction=incoming&limit=201",
        "direction=incoming&cursor=not-a-cursor",
    ],
)
def test_bad_listing_arguments_are_422(api: Api, query: str) -> None:
    response = api.as_("AGENCY-B").get(f"/v1/referrals?{query}")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"


def test_a_cursor_is_bound_to_its_list(api: Api) -> None:
    """A forged cursor, or one from another list, is refused rather than misread."""
    for _ in range(2):
        _post(api, "AGENCY-A", referral_created(pid(), "AGENCY-B"))

    outbox = api.as_("AGENCY-A").get("/v1/referrals?direction=outgoing&limit=1").get_json()
    cursor = outbox["next"]
    assert cursor is not None
    inbox = api.as_("AGENCY-B").get(f"/v1/referrals?direction=incoming&cursor={cursor}")
    assert inbox.status_code == 422
    assert inbox.get_json()["code"] == "invalid_cursor"
    for forged_key in (b'["registrations",1]', b'["registrations","yesterday","x"]'):
        forged = base64.urlsafe_b64encode(forged_key).decode()
        response = api.as_("AGENCY-A").get(f"/v1/registrations?cursor={forged}")
        assert response.status_code == 422
        assert response.get_json()["code"] == "invalid_cursor"


def test_donors_and_auditors_have_no_inbox_and_no_registrations(api: Api) -> None:
    assert api.as_("DONOR-Y", "donor").get("/v1/referrals?direction=incoming").status_code == 403
    assert api.as_("AUDITOR-X", "auditor").get("/v1/registrations").status_code == 403
    assert api.as_("AGENCY-A", "admin").get("/v1/registrations").status_code == 403


def test_registrations_search_only_the_agencys_own_people(api: Api) -> None:
    fatima_a = api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": FATIMA})
    omar_a = api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": OMAR})
    fatima_b = api.as_("AGENCY-B").post("/v1/registrations", json={"attributes": FATIMA})
    assert {fatima_a.status_code, omar_a.status_code, fatima_b.status_code} == {201}

    def found(org: str, q: str) -> list[str]:
        return [r["person_id"] for r in _searched(api, org, q, limit=1)]

    assert found("AGENCY-A", "fATiMa") == [fatima_a.get_json()["person_id"]]
    assert found("AGENCY-A", "hadd") == [omar_a.get_json()["person_id"]]
    assert found("AGENCY-A", "h") == [
        fatima_a.get_json()["person_id"],
        omar_a.get_json()["person_id"],
    ]
    assert found("AGENCY-B", "Fatima") == [fatima_b.get_json()["person_id"]]
    assert found("AGENCY-B", "Omar") == []  # AGENCY-A's Omar is not B's to find
    assert found("AGENCY-C", "Fatima") == []
    pid_a = fatima_a.get_json()["pid"]
    assert found("AGENCY-A", pid_a) == [fatima_a.get_json()["person_id"]]
    every = api.as_("AGENCY-A", "agency-reader").get("/v1/registrations").get_json()
    assert [r["attributes"] for r in every["registrations"]] == [FATIMA, OMAR]


def test_search_terms_in_a_url_are_refused_and_not_searched(api: Api) -> None:
    """A URL stays in browsers' histories and proxies' logs: names and birth dates typed
    into a search must not travel in one. A client that still sends them there is told
    so by a stable code, and gets no registration back."""
    made = api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": FATIMA})
    assert made.status_code == 201
    for url in (
        "/v1/registrations?q=Fatima",
        "/v1/registrations?q=",
        "/v1/registrations?q=x&limit=5",
    ):
        refused = api.as_("AGENCY-A").get(url)
        assert refused.status_code == 400
        assert refused.headers["Content-Type"] == "application/problem+json"
        body = refused.get_json()
        assert (body["code"], body["field"]) == ("search_terms_in_url", "q")
        assert "Fatima" not in refused.get_data(as_text=True)
    listed = api.as_("AGENCY-A").get("/v1/registrations").get_json()["registrations"]
    assert [r["person_id"] for r in listed] == [made.get_json()["person_id"]]
    also = api.as_("AGENCY-A").post("/v1/registrations/search?q=Fatima", json={"q": "x"})
    assert (also.status_code, also.get_json()["code"]) == (400, "search_terms_in_url")


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "q"), ({"q": ""}, "q"), ({"q": "x" * 201}, "q"), ({"q": "a", "limit": 0}, "limit"),
     ({"q": "a", "page": 2}, "page")],
)  # fmt: skip
def test_a_malformed_search_is_refused(api: Api, body: dict[str, Any], field: str) -> None:
    refused = api.as_("AGENCY-A").post("/v1/registrations/search", json=body)
    assert refused.status_code == 422
    assert field in str(refused.get_json())


def test_only_agencies_search(api: Api) -> None:
    for org, role in (("DONOR-Y", "donor"), ("AUDITOR-X", "auditor"), ("AGENCY-A", "admin")):
        searched = api.as_(org, role).post("/v1/registrations/search", json={"q": "a"})
        assert searched.status_code == 403


def test_a_search_page_reads_a_bounded_number_of_registrations(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each registration is decrypted to be searched: a page reads at most so many, and
    a text found nowhere among them gives an empty page that goes on, not a read of the
    agency's whole list."""
    monkeypatch.setattr(registrations, "MAX_SCANNED", 3)
    people = [
        {"given_name": f"Person{i}", "family_name": "Nadir", "date_of_birth": "1990-01-02"}
        for i in range(7)
    ]
    ids = []
    for attributes in people:
        made = api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": attributes})
        assert made.status_code == 201
        ids.append(made.get_json()["person_id"])
    reader = api.as_("AGENCY-A", "agency-reader")
    first = reader.post("/v1/registrations/search", json={"q": "person6", "limit": 5})
    assert first.get_json()["registrations"] == []  # three read, none of them her
    assert first.get_json()["next"] is not None
    assert [r["person_id"] for r in _searched(api, "AGENCY-A", "person6", 5)] == [ids[6]]
    assert len(reader.get("/v1/registrations?limit=5").get_json()["registrations"]) == 5


def test_already_registered_names_the_existing_registration(api: Api) -> None:
    first = api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": FATIMA})
    again = api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": FATIMA})
    assert again.status_code == 409
    body = again.get_json()
    assert body["code"] == "already_registered"
    assert body["person_id"] == first.get_json()["person_id"]
    listed = api.as_("AGENCY-A").get("/v1/registrations").get_json()["registrations"]
    assert [r["person_id"] for r in listed] == [first.get_json()["person_id"]]


def test_history_and_entitlements_count_what_consent_withholds(api: Api) -> None:
    person = pid()
    granted = _post(api, "AGENCY-A", entitlement_granted(person))
    _post(api, "AGENCY-A", entitlement_granted(person, assistance_type="food", modality="voucher"))
    history_url = f"/v1/persons/{person}/history?purpose=deduplication"
    entitlements_url = f"/v1/persons/{person}/entitlements?purpose=deduplication"

    own = api.as_("AGENCY-A").get(history_url).get_json()
    assert (len(own["events"]), own["withheld"]) == (2, 0)
    other = api.as_("AGENCY-B").get(history_url).get_json()
    assert (other["events"], other["withheld"]) == ([], 2)
    other_ents = api.as_("AGENCY-B").get(entitlements_url).get_json()
    assert (other_ents["entitlements"], other_ents["withheld"]) == ([], 2)

    _post(api, "AGENCY-A", referral_created(person, "AGENCY-C"))
    _post(
        api,
        "AGENCY-A",
        consent_granted(
            person, ["AGENCY-B"], purposes=["deduplication"], categories=["entitlements"]
        ),
    )
    seen = api.as_("AGENCY-B").get(history_url).get_json()
    assert [r["event"]["type"] for r in seen["events"]] == [
        "entitlement.granted",
        "entitlement.granted",
        "consent.granted",  # B is its grantee: a party to it
    ]
    assert seen["withheld"] == 1  # the referral to C: her consent covers only entitlements
    ents = api.as_("AGENCY-B").get(entitlements_url).get_json()
    assert (len(ents["entitlements"]), ents["withheld"]) == (2, 0)
    paged = _all_pages(api, "AGENCY-B", entitlements_url + "&limit=1", "entitlements")
    assert paged == ents["entitlements"]
    assert granted["event_id"] in [
        r["event"]["event_id"]
        for r in _all_pages(api, "AGENCY-A", history_url + "&limit=1", "events")
    ]
