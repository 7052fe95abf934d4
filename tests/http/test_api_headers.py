"""Security headers on every answer; person-level JSON is never stored by a cache."""

from __future__ import annotations

import pytest
from api_helpers import Api
from flask.testing import FlaskClient

from api import headers
from api.dashboard.views import CSP
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


def test_no_answer_but_a_page_runs_anything(api: Api, client: FlaskClient) -> None:
    """JSON, a problem or a file opened as a page loads nothing, framed or not."""
    answers = [
        api.as_("AGENCY-A").get(f"/v1/persons/{new_held_id()}/history?purpose=referral"),
        api.as_("AGENCY-A").post("/v1/events", json={"not": "an event"}),
        client.get("/openapi.json"),
        client.get("/nothing"),
        client.get("/docs/assets/swagger-ui-bundle.js"),
    ]
    for r in answers:
        assert r.headers["Content-Security-Policy"] == headers.CSP
        r.close()


def test_the_docs_page_runs_only_this_gateways_scripts(client: FlaskClient) -> None:
    with client.get("/docs") as r:
        policy = r.headers["Content-Security-Policy"]
        page = r.get_data(as_text=True)
    assert "script-src 'self';" in policy
    assert "'unsafe-inline'" not in policy
    assert "'unsafe-eval'" not in policy
    assert "<script>" not in page  # every script is a file the page names
    for script in ("swagger-ui-standalone-preset.js", "swagger-ui-bundle.js", "start.js"):
        assert f'<script src="/docs/assets/{script}"></script>' in page
        with client.get(f"/docs/assets/{script}") as asset:
            assert asset.status_code == 200


def test_the_dashboard_keeps_its_own_headers(client: FlaskClient) -> None:
    r = client.get("/dashboard/login")
    _secured(r.headers)
    assert "frame-ancestors" in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("GET", "/dashboard/no/such/page", 404),
        ("DELETE", "/dashboard/login", 405),
        ("PUT", "/dashboard/persons", 405),
        ("GET", "/dashboard", 308),
    ],
)
def test_a_dashboard_path_no_page_answers_has_the_pages_headers(
    client: FlaskClient, method: str, url: str, status: int
) -> None:
    """Left in a browser's cache and history, or framed by another site, as a page."""
    r = client.open(url, method=method)
    assert r.status_code == status
    _secured(r.headers)
    assert r.headers.get("Cache-Control") == "no-store"
    assert r.headers.get("Content-Security-Policy") == CSP


def test_no_answer_is_stored_unless_it_says_so(client: FlaskClient) -> None:
    """Errors and pages outside /v1/ too; the documentation's static files keep their
    own caching (revalidated by ETag), as the log's tiles do."""
    for url in ("/nothing", "/healthz", "/openapi.json", "/docs"):
        with client.get(url) as r:
            assert r.headers.get("Cache-Control") == "no-store", url
    with client.get("/docs/assets/swagger-ui.css") as r:
        assert r.status_code == 200
        assert r.headers["Cache-Control"] == "no-cache"
        assert "ETag" in r.headers


def test_405_says_which_methods_are_allowed(api: Api) -> None:
    r = api.as_("AGENCY-A").delete("/v1/events")
    assert r.status_code == 405
    assert set(r.headers["Allow"].split(", ")) >= {"POST"}
    assert r.headers["Cache-Control"] == "no-store"
