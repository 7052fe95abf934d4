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
from flask.testing import FlaskClient

from ledger_gw.services.access import PERMISSIONS, ROLES_FOR_ORG, Action, Role
from tests.support.events import PID, entitlement_granted

ORGS = {"AGENCY-A": "agency", "AGENCY-B": "agency", "AUDITOR-X": "auditor", "DONOR-Y": "donor"}
PAIRS = [(org, role) for org, kind in ORGS.items() for role in sorted(ROLES_FOR_ORG[kind])]
FATIMA = {"given_name": "Fatima", "date_of_birth": "1991-03-14"}

Call = Callable[[FlaskClient, dict[str, str]], Any]
CALLS: dict[str, tuple[Action, Call]] = {
    "register": (Action.REGISTRATIONS_WRITE, lambda c, h: c.post(
        "/v1/registrations", headers=h, json={"attributes": FATIMA})),
    "read registration": (Action.REGISTRATIONS_READ, lambda c, h: c.get(
        "/v1/registrations/00000000-0000-4000-8000-000000000000", headers=h)),
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
    "referral": (Action.PERSONS_READ, lambda c, h: c.get(
        "/v1/referrals/00000000-0000-4000-8000-000000000000/chain", headers=h)),
    "checkpoint": (Action.PROOFS_READ, lambda c, h: c.get("/v1/checkpoints/latest", headers=h)),
    "consistency": (Action.PROOFS_READ, lambda c, h: c.get(
        "/v1/proofs/consistency?size1=1", headers=h)),
    "cosign": (Action.CHECKPOINTS_COSIGN, lambda c, h: c.post(
        "/v1/checkpoints/cosign", headers=h, json={})),
    "audit bundle": (Action.AUDIT_BUNDLES, lambda c, h: c.get(
        "/v1/audit/bundles?subject=00000000-0000-4000-8000-000000000000", headers=h)),
    "audit chain": (Action.AUDIT_BUNDLES, lambda c, h: c.get(
        "/v1/audit/referrals/00000000-0000-4000-8000-000000000000/chain", headers=h)),
    "verify bundle": (Action.AUDIT_VERIFY, lambda c, h: c.post(
        "/v1/audit/bundles/verify", headers=h, json={"format": "x"})),
    "report": (Action.REPORTS_READ, lambda c, h: c.get(
        "/v1/reports/accountability?format=csv", headers=h)),
    "log checkpoint": (Action.PROOFS_READ, lambda c, h: c.get("/v1/log/checkpoint", headers=h)),
    "hash tile": (Action.PROOFS_READ, lambda c, h: c.get("/v1/log/tile/0/000.p/1", headers=h)),
    "entry bundle": (Action.LOG_ENTRIES, lambda c, h: c.get(
        "/v1/log/tile/entries/000.p/1", headers=h)),
    "issue credential": (Action.CREDENTIALS_ISSUE, lambda c, h: c.post("/v1/credentials",
        headers=h, json={"event_id": "00000000-0000-4000-8000-000000000000",
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
