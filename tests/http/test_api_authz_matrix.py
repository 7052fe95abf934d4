"""Every (organisation, role) × action: each allow and each deny, asserted.

Allowed calls must get past authorisation (any status but 401/403); denied ones get 403
with `role_forbidden`. Calls go to real routes with valid bodies, so "allowed" means the
gateway really served them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from api_helpers import Api, Tokens, bearer
from flask import Flask, request, request_finished
from flask.testing import FlaskClient

from ledger_gw.services.access import PERMISSIONS, ROLES_FOR_ORG, Action, Role
from tests.support.events import PID, entitlement_granted

ORGS = {"AGENCY-A": "agency", "AGENCY-B": "agency", "AUDITOR-X": "auditor", "DONOR-Y": "donor"}
PAIRS = [(org, role) for org, kind in ORGS.items() for role in sorted(ROLES_FOR_ORG[kind])]
FATIMA = {"given_name": "Fatima", "date_of_birth": "1991-03-14"}
NOBODY = "00000000-0000-4000-8000-000000000000"  # an ID nothing has

Call = Callable[[FlaskClient, dict[str, str]], Any]
CALLS: dict[str, tuple[Action, Call]] = {
    "register": (Action.REGISTRATIONS_WRITE, lambda c, h: c.post(
        "/v1/registrations", headers=h, json={"attributes": FATIMA})),
    "read registration": (Action.REGISTRATIONS_READ, lambda c, h: c.get(
        f"/v1/registrations/{NOBODY}", headers=h)),
    "list registrations": (Action.REGISTRATIONS_READ, lambda c, h: c.get(
        "/v1/registrations", headers=h)),
    "search registrations": (Action.REGISTRATIONS_READ, lambda c, h: c.post(
        "/v1/registrations/search", headers=h, json={"q": "Fatima"})),
    "correct registration": (Action.REGISTRATIONS_WRITE, lambda c, h: c.patch(
        f"/v1/registrations/{NOBODY}", headers=h, json={"attributes": FATIMA})),
    "erase registration": (Action.REGISTRATIONS_WRITE, lambda c, h: c.delete(
        f"/v1/registrations/{NOBODY}", headers=h)),
    "add document": (Action.REGISTRATIONS_WRITE, lambda c, h: c.post(
        f"/v1/registrations/{NOBODY}/documents", headers=h,
        json={"kind": "other", "content": "a note"})),
    "read document": (Action.REGISTRATIONS_READ, lambda c, h: c.get(
        f"/v1/registrations/{NOBODY}/documents/{NOBODY}", headers=h)),
    "register from referral": (Action.REGISTRATIONS_WRITE, lambda c, h: c.post(
        "/v1/registrations/from-referral", headers=h, json={"referral_id": NOBODY})),
    "seal hand-over": (Action.EVENTS_WRITE, lambda c, h: c.post(
        "/v1/handovers", headers=h, json={"referral_id": NOBODY})),
    "pseudonym": (Action.PSEUDONYMS, lambda c, h: c.post(
        "/v1/pseudonyms", headers=h, json={"attributes": FATIMA})),
    "submit event": (Action.EVENTS_WRITE, lambda c, h: c.post(
        "/v1/events", headers=h, json=entitlement_granted(PID))),
    "submit batch": (Action.EVENTS_WRITE, lambda c, h: c.post(
        "/v1/events/batch", headers=h, json={"events": [entitlement_granted(PID)]})),
    "outbox": (Action.EVENTS_WRITE, lambda c, h: c.get("/v1/outbox", headers=h)),
    "dismiss outbox item": (Action.EVENTS_WRITE, lambda c, h: c.delete("/v1/outbox/1", headers=h)),
    "history": (Action.PERSONS_READ, lambda c, h: c.get(
        f"/v1/persons/{PID}/history?purpose=referral", headers=h)),
    "entitlements": (Action.PERSONS_READ, lambda c, h: c.get(
        f"/v1/persons/{PID}/entitlements?purpose=deduplication", headers=h)),
    "consents": (Action.PERSONS_READ, lambda c, h: c.get(f"/v1/persons/{PID}/consents", headers=h)),
    "read event": (Action.PERSONS_READ, lambda c, h: c.get(f"/v1/events/{NOBODY}", headers=h)),
    "referral inbox": (Action.PERSONS_READ, lambda c, h: c.get(
        "/v1/referrals?direction=incoming", headers=h)),
    "referral": (Action.PERSONS_READ, lambda c, h: c.get(f"/v1/referrals/{NOBODY}", headers=h)),
    "referral chain": (Action.PERSONS_READ, lambda c, h: c.get(
        f"/v1/referrals/{NOBODY}/chain", headers=h)),
    "checkpoint": (Action.PROOFS_READ, lambda c, h: c.get("/v1/checkpoints/latest", headers=h)),
    "consistency": (Action.PROOFS_READ, lambda c, h: c.get(
        "/v1/proofs/consistency?size1=1", headers=h)),
    "inclusion": (Action.PROOFS_READ, lambda c, h: c.get(
        "/v1/proofs/inclusion?index=0", headers=h)),
    "checkpoint of a size": (Action.PROOFS_READ, lambda c, h: c.get(
        "/v1/checkpoints/1", headers=h)),
    "cosign": (Action.CHECKPOINTS_COSIGN, lambda c, h: c.post(
        "/v1/checkpoints/cosign", headers=h, json={})),
    "audit bundle": (Action.AUDIT_BUNDLES, lambda c, h: c.get(
        f"/v1/audit/bundles?subject={NOBODY}", headers=h)),
    "audit chain": (Action.AUDIT_BUNDLES, lambda c, h: c.get(
        f"/v1/audit/referrals/{NOBODY}/chain", headers=h)),
    "verify bundle": (Action.AUDIT_VERIFY, lambda c, h: c.post(
        "/v1/audit/bundles/verify", headers=h, json={"format": "x"})),
    "report": (Action.REPORTS_READ, lambda c, h: c.get(
        "/v1/reports/accountability?format=csv", headers=h)),
    "log checkpoint": (Action.PROOFS_READ, lambda c, h: c.get("/v1/log/checkpoint", headers=h)),
    "hash tile": (Action.PROOFS_READ, lambda c, h: c.get("/v1/log/tile/0/000.p/1", headers=h)),
    "entry bundle": (Action.LOG_ENTRIES, lambda c, h: c.get(
        "/v1/log/tile/entries/000.p/1", headers=h)),
    "issue credential": (Action.CREDENTIALS_ISSUE, lambda c, h: c.post("/v1/credentials",
        headers=h, json={"event_id": NOBODY,
                         "purpose": "referral"})),
    "verify credential": (Action.CREDENTIALS_VERIFY, lambda c, h: c.post(
        "/v1/credentials/verify", headers=h, json={"credential": "x"})),
}  # fmt: skip


@pytest.mark.parametrize(("org", "role"), PAIRS)
@pytest.mark.parametrize("name", sorted(CALLS))
def test_matrix(client: FlaskClient, tokens: Tokens, org: str, role: str, name: str) -> None:
    action, call = CALLS[name]
    r = call(client, bearer(tokens[org, role]))
    if Role(role) in PERMISSIONS[action]:
        assert r.status_code not in (401, 403), (org, role, name, r.json)
    else:
        assert r.status_code == 403, (org, role, name, r.json)
        assert r.json["code"] == "role_forbidden"


def test_every_route_a_token_opens_is_in_the_matrix(
    app: Flask, client: FlaskClient, tokens: Tokens
) -> None:
    """Each call reaches the route it names, whose view checks the action it is listed
    under; and every route that takes a bearer token is among them: a route added
    later is in the matrix, or this fails."""
    reached: dict[tuple[str, str], Action] = {}

    def note(sender: Flask, response: Any, **_: Any) -> None:
        view = app.view_functions[request.endpoint or ""]
        assert request.url_rule is not None
        reached[request.method, request.url_rule.rule] = view.__dict__["_required_action"]

    with request_finished.connected_to(note, app):
        for name, (action, call) in CALLS.items():
            before = dict(reached)
            call(client, bearer(tokens["AGENCY-A", "agency-writer"]))
            (route,) = set(reached.items()) - set(before.items())
            assert route[1] == action, (name, route)
    taking_tokens = {
        (method, rule.rule): view.__dict__["_required_action"]
        for rule in app.url_map.iter_rules()
        if "_required_action" in (view := app.view_functions[rule.endpoint]).__dict__
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert reached == taking_tokens


@pytest.mark.parametrize("name", sorted(CALLS))
def test_no_or_bad_token_is_401(client: FlaskClient, tokens: Tokens, name: str) -> None:
    _, call = CALLS[name]
    good = tokens["AGENCY-A", "agency-writer"]
    for headers in (
        {},
        {"Authorization": good},  # no scheme
        {"Authorization": "Basic abc"},
        bearer("lgw.AGENCY-A.0123456789abcdef." + "x" * 43),  # unknown
        bearer(good[:-1] + ("A" if good[-1] != "A" else "B")),  # wrong secret
        bearer(good.replace("AGENCY-A", "AGENCY-Z")),  # organisation not served
        bearer(good.replace("AGENCY-A", "AGENCY-B")),  # another org's database
    ):
        r = call(client, headers)
        assert r.status_code == 401, (headers, r.json)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert r.headers["Content-Type"] == "application/problem+json"


def test_revoked_token_is_401(api: Api, tokens: Tokens) -> None:
    from ledger_gw.services.access import authenticate, revoke_token

    assert api.as_("AGENCY-A").get("/v1/checkpoints/latest").status_code == 404
    store = api.client.application.extensions["ledger_gw"].store("AGENCY-A")
    token = tokens["AGENCY-A", "agency-writer"]
    revoke_token(store, authenticate(store, token).token_id)
    r = api.as_("AGENCY-A").get("/v1/checkpoints/latest")
    assert (r.status_code, r.json["code"]) == (401, "token_revoked")


def test_a_writer_signs_only_as_its_organisation(api: Api) -> None:
    """A's token always signs as A: the event on the ledger names A, never B."""
    r = api.as_("AGENCY-A").post("/v1/events", json=entitlement_granted(PID))
    url = f"/v1/persons/{PID}/history?purpose=referral"
    events = api.as_("AGENCY-A").get(url).json["events"]
    assert r.status_code == 201
    assert [e["org"] for e in events] == ["AGENCY-A"]
