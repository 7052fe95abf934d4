"""A registration credential: the agency that registered her states she is registered
with it, standing on the consent it recorded for her; never a personal attribute on it.

Real SQLite ledger and off-chain stores, real witnesses, real signatures; attacks hold
keys of their own, never the issuer's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from api_helpers import Api

from ledger_gw.credentials import card
from ledger_gw.errors import CredentialError, ForbiddenError, NotFoundError, ValidationError
from ledger_gw.services import credentials, registrations
from ledger_gw.services.access import Caller, authenticate, issue_token
from ledger_gw.services.gateway import Gateway
from tests.support import credentials as forge
from tests.support import events as ev
from tests.support.witnesses import settled

PURPOSE = "service_continuity"
AMINA = {"given_name": "Amina", "family_name": "Haddad", "date_of_birth": "1988-07-02"}
ENTITLEMENT_VCT = "urn:referral-ledger:credential:entitlement"


def as_(gateway: Gateway, org: str, role: str = "agency-writer") -> Caller:
    store = gateway.store(org)
    return authenticate(store, issue_token(store, gateway.org_role(org), role)[1])


def registered(gateway: Gateway, org: str = "AGENCY-A") -> tuple[str, dict[str, Any]]:
    """She is registered at ``org``, which records her consent, under a witnessed checkpoint."""
    agency = as_(gateway, org)
    pid = str(registrations.register(gateway, agency, AMINA)["pid"])
    consent = ev.consent_granted(pid)
    gateway.client(agency).submit(consent)
    settled(gateway.ledger)
    return pid, consent


def issue(gateway: Gateway, org: str, **kw: Any) -> credentials.Issued:
    given = {"event_id": None, **kw}
    event_id = given.pop("event_id")
    disclose = given.pop("disclose", ["registered_on"])
    return credentials.issue(
        gateway, as_(gateway, org), event_id, PURPOSE, disclose, kind="registration", **given
    )


def refused(text: str, gateway: Gateway) -> str:
    with pytest.raises(CredentialError) as caught:
        credentials.verify_offline(text.encode(), gateway.workspace.consortium)
    return caught.value.code


def test_round_trip_states_the_agency_and_date_and_nothing_personal(gateway: Gateway) -> None:
    pid, consent = registered(gateway)
    text = issue(gateway, "AGENCY-A", pid=pid).credential.text()
    result = credentials.verify(
        gateway, as_(gateway, "AUDITOR-X", "auditor"), text.encode(), PURPOSE
    )
    today = dt.datetime.now(dt.UTC).date()
    assert (result["kind"], result["issuer"], result["pid"]) == ("registration", "AGENCY-A", pid)
    assert result["disclosed"] == {"registered_on": today.isoformat()}
    assert result["status"] == "active"
    assert result["event"]["consent_id"] == consent["consent_id"]
    assert "entitlement_id" not in result["event"]
    assert result["expires"] == f"{consent['expires']}T00:00:00Z"  # it ends with her consent
    for personal in ("Amina", "Haddad", "1988-07-02"):
        assert personal not in text
    # by its consent event as well, and hidden when she chooses
    by_event = issue(gateway, "AGENCY-A", event_id=consent["event_id"], disclose=[])
    assert by_event.verified.disclosed == {}
    assert by_event.verified.binding.tx_id == result["event"]["tx_id"]
    assert "registered_on" not in forge.disclosed(by_event.credential.text())
    assert card._lines(by_event.verified)[0] == "Registration credential"  # its card's title


def test_only_the_agency_that_registered_her_and_recorded_the_consent(gateway: Gateway) -> None:
    pid, consent = registered(gateway)
    with pytest.raises(ForbiddenError) as caught:  # B holds no registration of her
        issue(gateway, "AGENCY-B", event_id=consent["event_id"])
    assert caught.value.code == "not_registering_org"
    with pytest.raises(ForbiddenError) as caught:
        issue(gateway, "AGENCY-B", pid=pid)
    assert caught.value.code == "not_registering_org"
    # once B registers her too, A's consent is still not B's to vouch for
    registrations.register(gateway, as_(gateway, "AGENCY-B"), AMINA)
    with pytest.raises(ForbiddenError) as caught:
        issue(gateway, "AGENCY-B", event_id=consent["event_id"])
    assert caught.value.code == "not_registering_org"
    with pytest.raises(NotFoundError) as missing:  # and B recorded no consent of its own
        issue(gateway, "AGENCY-B", pid=pid)
    assert missing.value.code == "registration_event_not_found"
    # an entitlement's terms or another event do not make a registration
    grant = ev.entitlement_granted(pid)
    gateway.client(as_(gateway, "AGENCY-A")).submit(grant)
    with pytest.raises(ValidationError) as wrong:
        issue(gateway, "AGENCY-A", event_id=grant["event_id"])
    assert wrong.value.code == "not_a_registration"
    with pytest.raises(ValidationError) as hidden:
        issue(gateway, "AGENCY-A", pid=pid, disclose=["programme"])
    assert hidden.value.code == "invalid_value"


def test_another_agency_signing_for_her_fails_online(gateway: Gateway) -> None:
    pid, _ = registered(gateway)
    text = issue(gateway, "AGENCY-A", pid=pid).credential.text()
    jwt, _, proof = forge.split(text)
    b_claims_her = forge.join(
        forge.resign(jwt, gateway.workspace.signer("AGENCY-B"), iss="AGENCY-B"), [], proof
    )
    assert credentials.verify_offline(b_claims_her.encode(), gateway.workspace.consortium)
    with pytest.raises(CredentialError) as caught:
        credentials.verify(gateway, as_(gateway, "AGENCY-C"), b_claims_her.encode(), PURPOSE)
    assert caught.value.code == "credential_wrong_issuer"


def test_kind_changed_to_entitlement_fails(gateway: Gateway) -> None:
    pid, _ = registered(gateway)
    text = issue(gateway, "AGENCY-A", pid=pid).credential.text()
    jwt, disclosures, proof = forge.split(text)
    as_entitlement = forge.with_payload(jwt, vct=ENTITLEMENT_VCT)  # the issuer's signature kept
    assert refused(forge.join(as_entitlement, disclosures, proof), gateway) == "credential_forged"
    # signed anew by an agency of its own: the claims are not an entitlement's
    own = forge.resign(jwt, gateway.workspace.signer("AGENCY-B"), iss="AGENCY-B",
                       vct=ENTITLEMENT_VCT)  # fmt: skip
    assert refused(forge.join(own, [], proof), gateway) == "credential_malformed"
    # an entitlement's terms slipped into her registration are not the issuer's
    extra = forge.join(jwt, [*disclosures, forge.disclosure("programme", "MPCA-2026")], proof)
    assert refused(extra, gateway) == "credential_altered"


def test_revoked_consent_fails_online_and_is_not_issued_again(gateway: Gateway) -> None:
    pid, consent = registered(gateway)
    text = issue(gateway, "AGENCY-A", pid=pid).credential.text().encode()
    verifier = as_(gateway, "AGENCY-C")
    assert credentials.verify(gateway, verifier, text, PURPOSE)["status"] == "active"
    gateway.client(as_(gateway, "AGENCY-B")).submit(ev.consent_revoked(consent["consent_id"]))
    with pytest.raises(CredentialError) as caught:
        credentials.verify(gateway, verifier, text, PURPOSE)
    assert caught.value.code == "credential_revoked"
    assert credentials.verify(gateway, verifier, text, PURPOSE, online=False)["ok"]
    with pytest.raises(CredentialError) as again:
        issue(gateway, "AGENCY-A", pid=pid)
    assert again.value.code == "credential_revoked"


def test_registration_credential_over_http(api: Api, gateway: Gateway) -> None:
    pid, consent = registered(gateway)
    body = {"kind": "registration", "pid": pid, "purpose": PURPOSE,
            "disclose": ["registered_on"]}  # fmt: skip
    r = api.as_("AGENCY-A").post("/v1/credentials", json=body)
    assert r.status_code == 201, r.json
    assert r.json["verified"]["kind"] == "registration"
    checked = api.as_("AGENCY-C").post(
        "/v1/credentials/verify", json={"credential": r.json["credential"]}
    )
    assert checked.status_code == 200, checked.json
    assert (checked.json["status"], checked.json["event"]["consent_id"]) == (
        "active",
        consent["consent_id"],
    )
    other = api.as_("AGENCY-B").post("/v1/credentials", json=body)
    assert (other.status_code, other.json["code"]) == (403, "not_registering_org")
    no_ref = api.as_("AGENCY-A").post("/v1/credentials", json={"purpose": PURPOSE})
    assert (no_ref.status_code, no_ref.json["code"]) == (422, "missing_field")
    revoke = ev.consent_revoked(consent["consent_id"])
    assert api.as_("AGENCY-A").post("/v1/events", json=revoke).status_code == 201
    late = api.as_("AGENCY-C").post(
        "/v1/credentials/verify", json={"credential": r.json["credential"]}
    )
    assert (late.status_code, late.json["code"]) == (422, "credential_revoked")
