"""A consortium of its own, end to end as its operators would run it: defined in a TOML
file (two agencies and an auditor, none of the demo's), created with `ledger-gw init`,
served by `ledger-gw serve`, used over HTTP, a signing key rotated, the whole ledger
and an auditor's bundle verified with the commands an auditor runs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from ledger_gw.bootstrap import embedded_ledger
from ledger_gw.identity import Signer
from ledger_gw.transaction import sign_proposal
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.cli import own_pin, run_cli
from tests.support.east_basin import init_east_basin, issue_token
from tests.support.gunicorn import gunicorn

pytestmark = pytest.mark.slow
TODAY = dt.datetime.now(dt.UTC).date()


def _token(directory: Path, org: str, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(directory, org, role)}"}


def _grant(pid: str) -> dict[str, Any]:
    return ev.entitlement_granted(
        pid,
        programme="FOOD-2026",
        currency="KES",
        amount="1500",
        location="KE0101",
        start=TODAY.isoformat(),
        end=(TODAY + dt.timedelta(days=30)).isoformat(),
    )


def _post(url: str, headers: dict[str, str], event: dict[str, Any]) -> dict[str, Any]:
    r = requests.post(f"{url}/v1/events", headers=headers, json=event, timeout=30)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def test_a_consortium_of_its_own_from_definition_to_verified_rotation(tmp_path: Path) -> None:
    root = init_east_basin(tmp_path)
    ws = Workspace.load(root)
    assert sorted(ws.consortium.organisations) == ["HILL-HEALTH", "LAKE-AUDIT", "RIVER-AID"]
    assert ws.consortium.profile("RIVER-AID").iati_ref == "ZZ-EB-RIVER"
    river = _token(root, "RIVER-AID", "agency-writer")
    hill = _token(root, "HILL-HEALTH", "agency-writer")

    with gunicorn(root, None, workers=1) as url:
        person = requests.post(
            f"{url}/v1/registrations",
            headers=river,
            json={"attributes": {"given_name": "Wanjiru", "date_of_birth": "1990-03-04"}},
            timeout=10,
        ).json()
        pid = person["pid"]
        consent = ev.consent_granted(
            pid,
            grantees=["HILL-HEALTH"],
            purposes=["referral", "service_continuity"],
            categories=["entitlements", "referrals"],
            expires=(TODAY + dt.timedelta(days=90)).isoformat(),
        )
        referral = ev.referral_created(
            pid, to_org="HILL-HEALTH", sector="health", consent_id=consent["consent_id"]
        )
        for event in (consent, _grant(pid), referral):
            _post(url, river, event)
        _post(url, hill, ev.referral_step("accepted", referral["referral_id"]))
        # The programme's ceiling and P-codes are this consortium's, not the demo's.
        demo_code = requests.post(
            f"{url}/v1/events", headers=river, json={**_grant(pid), "location": "LB11"}, timeout=10
        )
        assert demo_code.status_code == 422, demo_code.text

    stolen = Workspace.load(root).signer("RIVER-AID")  # the key about to be retired
    rotated = run_cli("key", "rotate", "--dir", str(root), "--org", "RIVER-AID")
    assert rotated.returncode == 0, rotated.stderr
    assert Workspace.load(root).signer("RIVER-AID").cert_pem != stolen.cert_pem
    assert not list((root / "orgs" / "RIVER-AID" / "retired").glob("*.key"))

    with gunicorn(root, None, workers=1) as url:
        _post(url, river, _grant(pid))  # signed with the new key
        rid = referral["referral_id"]
        _post(url, hill, ev.referral_step("completed", rid))

    # The retired key, in a thief's hands, no longer writes.
    ledger = embedded_ledger(Workspace.load(root))
    try:
        (outcome,) = ledger.submit_many(
            [sign_proposal(Signer(stolen.key, stolen.cert_pem), "submit", [_grant(pid)])]
        )
    finally:
        ledger.close()
    assert outcome.error is not None
    assert outcome.error.code == "retired_certificate", str(outcome.error)

    verified = run_cli("verify", "--dir", str(root), *own_pin(root))
    assert verified.returncode == 0, verified.stderr
    assert "ledger verifies: 6 entries" in " ".join(verified.stdout.split())

    bundle = tmp_path / "referral.json"
    made = run_cli("audit", "bundle", "--dir", str(root), "--subject", rid, "--out", str(bundle))
    assert made.returncode == 0, made.stderr
    pinned = str(root / "consortium.json")
    checked = run_cli("audit", "verify", str(bundle), "--consortium", pinned)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["ok"] is True
    # created under RIVER-AID's retired key, accepted and completed by HILL-HEALTH
    assert [(e["org"], e["signature_ok"]) for e in report["events"]] == [
        ("RIVER-AID", True),
        ("HILL-HEALTH", True),
        ("HILL-HEALTH", True),
    ]
