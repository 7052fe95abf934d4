"""Security headers on every answer; person-level JSON is never stored by a cache."""

from __future__ import annotations

from api_helpers import Api
from flask.testing import FlaskClient

from ledger_gw.pseudonym import new_held_id

SECURE = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _secured(headers: object) -> None:
    for name, value in SECURE.items():
        assert headers.get(name) == value, name  # type: ignore[attr-defined]


def test_v1_json_is_secured_and_never_stored(api: Api) -> None:
    pid = new_held_id()
    for r in (
        api.as_("AGENCY-A").get(f"/v1/persons/{pid}/history?purpose=referral"),
        api.as_("AGENCY-A").get("/v1/nothing"),
        api.as_("AGENCY-A").post("/v1/events", json={"not": "an event"}),
    ):
        _secured(r.headers)
        assert r.headers["Cache-Control"] == "no-store"


def test_docs_openapi_and_health_are_secured(client: FlaskClient) -> None:
    for url in ("/docs", "/openapi.json", "/healthz", "/docs/assets/swagger-ui.css"):
        with client.get(url) as r:
            _secured(r.headers)


def test_the_dashboard_keeps_its_own_headers(client: FlaskClient) -> None:
    r = client.get("/dashboard/login")
    _secured(r.headers)
    assert "frame-ancestors" in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"] == "no-store"


def test_405_says_which_methods_are_allowed(api: Api) -> None:
    r = api.as_("AGENCY-A").delete("/v1/events")
    assert r.status_code == 405
    assert set(r.headers["Allow"].split(", ")) >= {"POST"}
    assert r.headers["Cache-Control"] == "no-store"
