"""Bearer tokens: issued per organisation and role, checked, revoked at once."""

from __future__ import annotations

import datetime as dt

import pytest

from ledger_gw.errors import AuthenticationError, ConfigError, RejectedError
from ledger_gw.offchain.models import ApiToken, utcnow
from ledger_gw.services import access
from ledger_gw.services.access import (
    Action,
    Role,
    authenticate,
    authorise,
    issue_token,
    list_tokens,
    report_org,
    revoke_token,
)
from ledger_gw.services.gateway import Gateway


def test_issue_authenticate_revoke(gateway: Gateway) -> None:
    store = gateway.store("AGENCY-B")
    token_id, token = issue_token(store, gateway.org_role("AGENCY-B"), "agency-reader")
    caller = authenticate(store, token)
    assert (caller.token_id, caller.org, caller.role) == (token_id, "AGENCY-B", Role.AGENCY_READER)
    revoke_token(store, token_id)
    with pytest.raises(AuthenticationError) as info:
        authenticate(store, token)
    assert info.value.code == "token_revoked"


def test_a_token_is_good_only_at_its_organisation(gateway: Gateway) -> None:
    token = issue_token(gateway.store("AGENCY-A"), "agency", "agency-writer")[1]
    with pytest.raises(AuthenticationError) as info:
        authenticate(gateway.store("AGENCY-B"), token)
    assert info.value.code == "invalid_token"
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(AuthenticationError) as info:
        authenticate(gateway.store("AGENCY-A"), forged)
    assert info.value.code == "invalid_token"


@pytest.mark.parametrize(
    ("org", "role"),
    [("DONOR-Y", "agency-writer"), ("AGENCY-A", "auditor"), ("AGENCY-A", "superuser")],
)
def test_roles_follow_the_organisations_role(gateway: Gateway, org: str, role: str) -> None:
    with pytest.raises(ConfigError):
        issue_token(gateway.store(org), gateway.org_role(org), role)


def test_actions_by_role(gateway: Gateway) -> None:
    store = gateway.store("DONOR-Y")
    donor = authenticate(store, issue_token(store, "donor", "donor")[1])
    authorise(donor, Action.REPORTS_READ)
    with pytest.raises(RejectedError) as info:
        authorise(donor, Action.PERSONS_READ)
    assert (info.value.kind, info.value.code) == ("forbidden", "role_forbidden")
    assert report_org(donor, "AGENCY-A") == "AGENCY-A"
    store = gateway.store("AGENCY-A")
    writer = authenticate(store, issue_token(store, "agency", "agency-writer")[1])
    assert report_org(writer, None) == "AGENCY-A"
    with pytest.raises(RejectedError) as info:
        report_org(writer, "AGENCY-B")
    assert info.value.code == "org_forbidden"


def test_an_expired_token_is_refused_as_expired(gateway: Gateway) -> None:
    store = gateway.store("AGENCY-B")
    token_id, token = issue_token(store, "agency", "agency-reader", lifetime=dt.timedelta(days=1))
    assert authenticate(store, token).token_id == token_id
    with store.session() as s:
        row = s.get(ApiToken, token_id)
        assert row is not None
        row.expires_at = utcnow() - dt.timedelta(seconds=1)
    access._valid.clear()  # the few seconds a checked token is trusted
    with pytest.raises(AuthenticationError) as info:
        authenticate(store, token)
    assert info.value.code == "token_expired"


def test_a_token_cannot_be_issued_already_expired(gateway: Gateway) -> None:
    with pytest.raises(ConfigError):
        issue_token(gateway.store("AGENCY-B"), "agency", "agency-reader", lifetime=dt.timedelta(0))


def test_listing_shows_expiry_and_revocation_never_the_secret(gateway: Gateway) -> None:
    store = gateway.store("AGENCY-B")
    kept, _ = issue_token(store, "agency", "agency-reader", "desk", lifetime=dt.timedelta(days=7))
    gone, token = issue_token(store, "agency", "agency-writer")
    revoke_token(store, gone)
    listed = {t.token_id: t for t in list_tokens(store)}
    assert set(listed) >= {kept, gone}
    assert (listed[kept].role, listed[kept].label, listed[kept].revoked_at) == (
        "agency-reader",
        "desk",
        None,
    )
    created, expires = listed[kept].created_at, listed[kept].expires_at
    assert expires is not None
    assert expires - created == pytest.approx(dt.timedelta(days=7), abs=dt.timedelta(seconds=5))
    assert listed[gone].revoked_at is not None
    assert token.rsplit(".", 1)[1] not in repr(list_tokens(store))
