"""Over HTTP: a registration corrected is found by her corrected attributes, under the
pseudonymous ID she keeps (POST /v1/pseudonyms, POST /v1/registrations, the search by
that ID), as is one registered from a referral by the attributes she gave; a correction
into another registration's identity is refused."""

from __future__ import annotations

from api_helpers import Api, sealed_referral

from tests.support import events as ev

TYPED = {"given_name": "Fatima", "family_name": "Al-Hasan", "date_of_birth": "1987-04-12"}
CORRECTED = {**TYPED, "family_name": "Al-Hassan"}
OMAR = {"given_name": "Omar", "family_name": "Haddad", "date_of_birth": "1985-07-30"}


def test_corrected_she_is_found_by_her_corrected_attributes(api: Api) -> None:
    writer = api.as_("AGENCY-A")
    r = writer.post("/v1/registrations", json={"attributes": TYPED})
    assert r.status_code == 201, r.json
    person_id, pid = r.json["person_id"], r.json["pid"]
    r = writer.patch(f"/v1/registrations/{person_id}", json={"attributes": CORRECTED})
    assert (r.status_code, r.json["pid"]) == (200, pid)

    r = api.as_("AGENCY-A", "agency-reader").post("/v1/pseudonyms", json={"attributes": CORRECTED})
    assert r.json == {"pid": pid, "scheme": "keyed", "registered": True}
    r = writer.post("/v1/registrations", json={"attributes": CORRECTED})
    assert (r.status_code, r.json["code"], r.json["person_id"]) == (
        409,
        "already_registered",
        person_id,
    )
    r = writer.post("/v1/registrations/search", json={"q": pid})
    assert [p["person_id"] for p in r.json["registrations"]] == [person_id]


def test_a_correction_into_another_registration_is_refused(api: Api) -> None:
    writer = api.as_("AGENCY-A")
    fatima = writer.post("/v1/registrations", json={"attributes": CORRECTED}).json
    omar = writer.post("/v1/registrations", json={"attributes": OMAR}).json
    r = writer.patch(f"/v1/registrations/{omar['person_id']}", json={"attributes": CORRECTED})
    assert (r.status_code, r.json["code"], r.json["person_id"]) == (
        409,
        "already_registered",
        fatima["person_id"],
    )
    assert r.headers["Content-Type"] == "application/problem+json"
    assert writer.get(f"/v1/registrations/{omar['person_id']}").json["attributes"] == OMAR
    r = writer.post("/v1/pseudonyms", json={"attributes": CORRECTED})
    assert r.json["pid"] == fatima["pid"]


def test_registered_from_a_referral_she_is_found_by_the_attributes_she_gave(api: Api) -> None:
    """The receiver registers her under the referral's ID, with what she tells it has
    changed: a walk-in at the receiver with those attributes is her, not someone new."""
    rid = sealed_referral(api, TYPED)
    b = api.as_("AGENCY-B")
    r = b.post("/v1/events", json=ev.referral_step("accepted", rid))
    assert r.status_code == 201, r.json
    r = b.post("/v1/registrations", json={"attributes": CORRECTED, "referral_id": rid})
    assert r.status_code == 201, r.json
    person_id, pid = r.json["person_id"], r.json["pid"]

    r = b.post("/v1/registrations", json={"attributes": CORRECTED})
    assert (r.status_code, r.json["code"], r.json["person_id"]) == (
        409,
        "already_registered",
        person_id,
    )
    r = b.post("/v1/pseudonyms", json={"attributes": CORRECTED})
    assert r.json == {"pid": pid, "scheme": "keyed", "registered": True}
