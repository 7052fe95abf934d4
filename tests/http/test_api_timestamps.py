"""Every timestamp the gateway answers with is an RFC 3339 instant: it carries its offset,
on a read from the database as much as on the answer to the write."""

from __future__ import annotations

import datetime as dt
import re

from api_helpers import Api

FATIMA = {"given_name": "Fatima", "family_name": "Al-Hassan", "date_of_birth": "1991-03-14"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def instant(value: object) -> dt.datetime:
    assert isinstance(value, str)
    assert RFC3339.match(value), value
    moment = dt.datetime.fromisoformat(value)
    assert moment.utcoffset() is not None
    return moment


def test_registration_and_document_timestamps_keep_their_zone_on_get(api: Api) -> None:
    before = dt.datetime.now(dt.UTC)
    agency = api.as_("AGENCY-A")
    created = agency.post("/v1/registrations", json={"attributes": FATIMA})
    assert created.status_code == 201
    url = f"/v1/registrations/{created.json['person_id']}"
    read = api.as_("AGENCY-A", "agency-reader").get(url)
    assert read.status_code == 200
    for name in ("created_at", "updated_at"):
        moment = instant(read.json[name])
        assert before - dt.timedelta(seconds=5) <= moment <= dt.datetime.now(dt.UTC)
        assert moment == instant(created.json[name])
    document = agency.post(f"{url}/documents", json={"kind": "other", "content": "x"})
    assert document.status_code == 201
    again = agency.get(f"{url}/documents/{document.json['document_id']}")
    assert again.status_code == 200
    assert instant(again.json["created_at"]) >= before - dt.timedelta(seconds=5)
