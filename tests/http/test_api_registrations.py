"""Registrations: personal data off-chain, per organisation; erasure is crypto-shredding."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import pytest
from api_helpers import Api

from ledger_gw.offchain.models import Person
from ledger_gw.pseudonym import MAX_ATTRIBUTE_CHARS
from ledger_gw.services.gateway import Gateway

FATIMA = {"given_name": "Fatima", "family_name": "Al-Hassan", "date_of_birth": "1991-03-14"}


def _register(api: Api, org: str = "AGENCY-A", **body: object) -> dict[str, object]:
    r = api.as_(org).post("/v1/registrations", json={"attributes": FATIMA, **body})
    assert r.status_code == 201, r.json
    return dict(r.json)


def test_register_returns_keyed_pid_read_correct(api: Api) -> None:
    out = _register(api)
    assert str(out["pid"]).startswith("k1.")
    url = f"/v1/registrations/{out['person_id']}"
    r = api.as_("AGENCY-A", "agency-reader").get(url)
    assert r.status_code == 200
    assert r.json["attributes"] == FATIMA
    fixed = {**FATIMA, "family_name": "Al Hassan"}
    r = api.as_("AGENCY-A").patch(url, json={"attributes": fixed})
    assert r.status_code == 200
    assert r.json["attributes"] == fixed
    assert r.json["pid"] == out["pid"]  # the ledger refers to it: it stays


def test_same_person_twice_conflicts_and_pseudonym_finds_her(api: Api) -> None:
    out = _register(api)
    r = api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": FATIMA})
    assert r.status_code == 409
    assert r.json["code"] == "already_registered"
    typed = {"given_name": " FATIMA ", "family_name": "al-hassan", "date_of_birth": "1991-03-14"}
    r = api.as_("AGENCY-A", "agency-reader").post("/v1/pseudonyms", json={"attributes": typed})
    assert r.json == {"pid": out["pid"], "scheme": "keyed", "registered": True}


def test_invisible_characters_do_not_register_her_twice(api: Api) -> None:
    """A right-to-left mark that an Arabic keyboard adds, or a hyphen pasted from a
    document, is the same person to whoever reads the name."""
    _register(api)
    pasted = {**FATIMA, "given_name": "Fatima\u200f", "family_name": "Al\u2011Hassan"}
    r = api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": pasted})
    assert r.status_code == 409
    assert r.json["code"] == "already_registered"
    unseen = {**FATIMA, "given_name": "\u200b\u200f"}
    r = api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": unseen})
    assert r.status_code == 422
    assert r.json["code"] == "invalid_identity_attributes"


def test_a_registration_made_before_the_folding_is_still_found(api: Api, gateway: Gateway) -> None:
    """Registered, before invisible characters were folded, from a name holding a
    right-to-left mark: her ID was derived with it. The same name typed again finds
    that registration, and the pseudonym route gives the ID the ledger knows her by."""
    typed = {**FATIMA, "given_name": "Fatima\u200f"}
    now, earlier = gateway.pseudonym_key.pseudonyms(typed)  # the same key, unfolded
    assert now == gateway.pseudonym_key.pseudonym(typed) != earlier
    with gateway.store("AGENCY-A").session() as s:
        s.add(Person(id=str(uuid.uuid4()), pid=earlier, attributes=typed))
    r = api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": typed})
    assert (r.status_code, r.json["code"]) == (409, "already_registered")
    r = api.as_("AGENCY-A").post("/v1/pseudonyms", json={"attributes": typed})
    assert r.json == {"pid": earlier, "scheme": "keyed", "registered": True}


def test_times_read_back_are_rfc3339_with_their_offset(api: Api) -> None:
    """SQLite keeps no time zone: a time read back must still say it is UTC."""
    created = api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": FATIMA}).json
    read = api.as_("AGENCY-A", "agency-reader").get(f"/v1/registrations/{created['person_id']}")
    listed = api.as_("AGENCY-A", "agency-reader").get("/v1/registrations").json["registrations"]
    for view in (created, read.json, listed[0]):
        for name in ("created_at", "updated_at"):
            assert view[name].endswith("+00:00"), (name, view[name])


def test_held_ids(api: Api) -> None:
    out = _register(api, id_scheme="held")
    assert str(out["pid"]).startswith("h.")
    r = api.as_("AGENCY-A").post("/v1/pseudonyms", json={"held_id": out["pid"]})
    assert r.json == {"pid": out["pid"], "scheme": "held", "registered": True}
    r = api.as_("AGENCY-A").post("/v1/pseudonyms", json={"held_id": "k1.notaheldid"})
    assert r.status_code == 422
    assert r.json["field"] == "held_id"


def test_bad_attributes_are_422_with_field(api: Api) -> None:
    for body in (
        {"attributes": {}},
        {"attributes": {"Given Name": "x"}},
        {"attributes": {"date_of_birth": "14/03/1991"}},
        {"attributes": {"given_name": 5}},
        {},
    ):
        r = api.as_("AGENCY-A").post("/v1/registrations", json=body)
        assert r.status_code == 422, body
        assert r.json["field"].startswith("attributes")
        assert r.headers["Content-Type"] == "application/problem+json"


def test_other_organisation_cannot_see_registration(api: Api) -> None:
    out = _register(api)
    r = api.as_("AGENCY-B").get(f"/v1/registrations/{out['person_id']}")
    assert r.status_code == 404
    r = api.as_("AGENCY-B").post("/v1/pseudonyms", json={"attributes": FATIMA})
    assert r.json["registered"] is False  # B's store does not know her


def test_documents_and_erasure_shred_salts(api: Api, tmp_path: Path) -> None:
    out = _register(api)
    base = f"/v1/registrations/{out['person_id']}"
    r = api.as_("AGENCY-A").post(
        f"{base}/documents", json={"kind": "consent_form", "content": "signed form"}
    )
    assert r.status_code == 201
    doc = r.json
    assert len(doc["hash"]) == 64
    r = api.as_("AGENCY-A").get(f"{base}/documents/{doc['document_id']}")
    assert r.json["content"] == "signed form"
    r = api.as_("AGENCY-A").post(f"{base}/documents", json={"kind": "diary", "content": "x"})
    assert r.status_code == 422
    assert r.json["field"] == "kind"

    assert api.as_("AGENCY-A").delete(base).status_code == 204
    assert api.as_("AGENCY-A").get(base).status_code == 404
    assert api.as_("AGENCY-A").get(f"{base}/documents/{doc['document_id']}").status_code == 404
    assert api.as_("AGENCY-A").delete(base).status_code == 404
    db = sqlite3.connect(tmp_path / "offchain-AGENCY-A.db")
    try:
        assert db.execute("SELECT count(*) FROM persons").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM documents").fetchone() == (0,)
        raw = b"".join(
            bytes(str(row), "utf-8") for row in db.execute("SELECT * FROM audit_log").fetchall()
        )
        assert b"Fatima" not in raw  # the audit log names pseudonyms, never a person
    finally:
        db.close()


def test_reader_cannot_write_registrations(api: Api) -> None:
    r = api.as_("AGENCY-A", "agency-reader").post("/v1/registrations", json={"attributes": FATIMA})
    assert r.status_code == 403
    assert r.json["code"] == "role_forbidden"


@pytest.mark.parametrize("route", ["/v1/registrations", "/v1/pseudonyms"])
def test_identity_attributes_are_bounded_and_refused_fast(api: Api, route: str) -> None:
    flood = {f"a{i}": "x" for i in range(100_000)}
    started = time.perf_counter()
    r = api.as_("AGENCY-A").post(route, json={"attributes": flood})
    assert time.perf_counter() - started < 1.0
    assert (r.status_code, r.json["field"]) == (422, "attributes")
    for attributes in (
        {"given_name": "Fatima", "favourite_colour": "blue"},
        {"given_name": "F" * (MAX_ATTRIBUTE_CHARS + 1)},
    ):
        r = api.as_("AGENCY-A").post(route, json={"attributes": attributes})
        assert (r.status_code, r.json["field"]) == (422, "attributes"), attributes
        assert r.headers["Content-Type"] == "application/problem+json"
    r = api.as_("AGENCY-A").post(
        route, json={"attributes": {"given_name": "F" * MAX_ATTRIBUTE_CHARS}}
    )
    assert r.status_code in (200, 201)
