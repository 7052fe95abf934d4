"""OpenAPI document, offline docs, health, metrics, problem+json and no leaked tracebacks."""

from __future__ import annotations

import pytest
from api_helpers import Api
from flask import Flask
from flask.testing import FlaskClient

from ledger_gw.errors import InternalError, LedgerError, UnavailableError
from ledger_gw.services import queries
from tests.support.events import PID, entitlement_granted

UNDOCUMENTED = {
    "/",  # the landing page, HTML like the dashboard's
    "/openapi.json",
    "/docs",
    "/docs/assets/<path:filename>",
    "/static/<path:filename>",
}
# /v1 operations a bearer token does not open: each authenticates its caller otherwise.
NOT_BEARER = {
    ("/v1/validity/{height}", "GET"): set(),  # hashes and signatures, for any member
    ("/v1/handovers/{referral_id}", "GET"): {"401", "403"},  # signed by the receiving org
}


def test_openapi_describes_every_route_and_error(app: Flask, client: FlaskClient) -> None:
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for rule in app.url_map.iter_rules():
        if rule.rule in UNDOCUMENTED or rule.rule.startswith("/dashboard"):
            continue  # the dashboard's HTML pages are not part of the API
        path = rule.rule.replace("<uuid:", "<").replace("<int:", "<").replace("<path:", "<")
        path = path.replace("<", "{").replace(">", "}")
        assert path in paths, path
        for method in rule.methods - {"HEAD", "OPTIONS"}:  # type: ignore[operator]
            op = paths[path][method.lower()]
            if (path, method) in NOT_BEARER:
                assert NOT_BEARER[path, method] | {"503"} <= set(op["responses"]), path
                assert "security" not in op or op["security"] != [{"bearerAuth": []}], path
            elif path.startswith("/v1/"):
                assert {"401", "403", "503"} <= set(op["responses"]), (path, method)
                assert op["security"] == [{"bearerAuth": []}]
                problem = op["responses"]["403"]["content"]["application/problem+json"]
                assert problem["schema"]["$ref"].endswith("/Problem")


def test_docs_work_offline(client: FlaskClient) -> None:
    page = client.get("/docs").get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in page
    assert "http://" not in page
    assert "https://" not in page
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        with client.get(f"/docs/assets/{asset}") as r:
            assert r.status_code == 200
    # Swagger UI's own demo page would load a third party's API into this origin.
    for asset in ("index.html", "swagger-initializer.js", "oauth2-redirect.html"):
        assert client.get(f"/docs/assets/{asset}").status_code == 404


def test_health_ready_metrics(api: Api, client: FlaskClient) -> None:
    assert client.get("/healthz").json["status"] == "ok"
    assert client.get("/readyz").json["status"] == "ready"
    api.as_("AGENCY-A").post("/v1/events", json=entitlement_granted(PID))
    text = client.get("/metrics").get_data(as_text=True)
    assert "ledger_gw_http_requests_total" in text
    assert 'ledger_gw_events_total{outcome="accepted"}' in text


def test_clients_without_a_token_cannot_grow_the_metrics(client: FlaskClient) -> None:
    """Each method and path a client invents would otherwise be a series of its own, in
    every worker, for as long as the gateway runs."""
    for i in range(40):
        client.open(f"/no-such-{i}", method=f"PROBE{i}X")
        client.get(f"/v1/persons/invented-{i}/nothing")
    text = client.get("/metrics").get_data(as_text=True)
    assert "PROBE" not in text
    assert "invented" not in text
    assert 'method="other",route="unmatched"' in text


def test_readyz_503_when_a_database_is_gone(app: Flask, client: FlaskClient) -> None:
    gw = app.extensions["ledger_gw"]
    from ledger_gw.offchain.store import OffchainStore

    gw.stores["AGENCY-A"] = OffchainStore("AGENCY-A", "sqlite:////nonexistent/dir/x.db")
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.headers["Content-Type"] == "application/problem+json"


def test_unexpected_error_is_500_without_traceback(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(*_: object) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(queries, "history", boom)
    r = api.as_("AGENCY-A").get(f"/v1/persons/{PID}/history?purpose=referral")
    body = r.get_data(as_text=True)
    assert r.status_code == 500
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json["code"] == "internal_error"
    assert "Traceback" not in body
    assert "secret" not in body
    assert "RuntimeError" not in body
    assert "secret internals" in caplog.text  # the operator sees it


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (UnavailableError("postgres at 10.0.0.7 refused", code="ledger_unavailable"), 503),
        (InternalError("postgres at 10.0.0.7: KeyError", code="contract_failure"), 500),
    ],
)
def test_a_fault_in_a_route_is_told_without_its_message(
    api: Api,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    fault: LedgerError,
    status: int,
) -> None:
    def fail(*_: object) -> None:
        raise fault

    monkeypatch.setattr(queries, "history", fail)
    r = api.as_("AGENCY-A").get(f"/v1/persons/{PID}/history?purpose=referral")
    assert (r.status_code, r.json["code"], r.json["status"]) == (status, fault.code, status)
    assert r.headers["Content-Type"] == "application/problem+json"
    assert "10.0.0.7" not in r.get_data(as_text=True)
    assert "10.0.0.7" in caplog.text


def test_unknown_route_and_method(client: FlaskClient, api: Api) -> None:
    r = client.get("/v1/nothing")
    assert (r.status_code, r.json["code"]) == (404, "not_found")
    r = api.as_("AGENCY-A").delete("/v1/events")
    assert r.status_code == 405
    assert r.headers["Content-Type"] == "application/problem+json"
