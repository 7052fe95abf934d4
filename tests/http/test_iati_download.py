"""IATI downloads over HTTP: each organisation's figures an activity of their own, the
caller reporting them, the reported agency implementing (role 4) and a donor funding
(role 1), valid against the IATI 2.03 schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_helpers import Api
from lxml import etree

from ledger_gw.demo.seed import seed_fatima
from ledger_gw.services.gateway import Gateway
from tests.support.months import closer, month_closed
from tests.support.witnesses import settled

XSD = Path(__file__).resolve().parents[2] / ".." / "shared" / "schemas" / "iati-2.03"
URL = "/v1/reports/accountability?format=iati"


@pytest.fixture
def journey(gateway: Gateway) -> None:
    seed_fatima(gateway)
    settled(gateway.ledger)


def _download(api: Api, org: str, role: str, query: str) -> etree._Element:
    """The one activity of a download the IATI 2.03 schema finds valid."""
    if not (XSD / "iati-activities-schema.xsd").exists():
        pytest.skip("../shared/schemas/iati-2.03 is absent: cannot validate IATI XML")
    r = api.as_(org, role).get(f"{URL}&{query}")
    assert (r.status_code, r.mimetype) == (200, "application/xml"), r.data
    doc = etree.fromstring(r.data)
    schema = etree.XMLSchema(etree.parse(str(XSD / "iati-activities-schema.xsd")))
    assert schema.validate(doc), schema.error_log
    activity = doc.find("iati-activity")
    assert activity is not None
    return activity


def _participants(activity: etree._Element) -> list[tuple[str | None, str | None]]:
    return [(p.get("ref"), p.get("role")) for p in activity.findall("participating-org")]


def test_a_donors_slices_are_activities_of_their_own(
    api: Api, gateway: Gateway, journey: None
) -> None:
    with month_closed(closer(gateway.ledger, gateway.signers["AGENCY-A"])):
        queries = {"AGENCY-A": "&org=AGENCY-A", "AGENCY-B": "&org=AGENCY-B", "ALL": ""}
        slices = {
            org: _download(api, "DONOR-Y", "donor", f"programme=MPCA-2026{query}")
            for org, query in queries.items()
        }
    ids = {org: a.findtext("iati-identifier") for org, a in slices.items()}
    assert ids == {
        "AGENCY-A": "ZZ-DEMO-DONOR-Y-AGENCY-A_MPCA-2026",
        "AGENCY-B": "ZZ-DEMO-DONOR-Y-AGENCY-B_MPCA-2026",
        "ALL": "ZZ-DEMO-DONOR-Y-ALL_MPCA-2026",
    }
    for org, activity in slices.items():
        reporting = activity.find("reporting-org")
        assert (reporting.get("ref"), reporting.get("type")) == ("ZZ-DEMO-DONOR-Y", "10")
        implementing = ["AGENCY-A", "AGENCY-B", "AGENCY-C"] if org == "ALL" else [org]
        assert _participants(activity) == [("ZZ-DEMO-DONOR-Y", "1")] + [
            (f"ZZ-DEMO-{agency}", "4") for agency in implementing
        ]
    agency_b = slices["AGENCY-B"].findall("participating-org")[1]
    assert agency_b.get("type") == "21"
    assert agency_b.findtext("narrative") == "Agency B (a health NGO)"


def test_an_agency_implements_its_own_and_an_auditor_only_reports(api: Api, journey: None) -> None:
    own = _download(api, "AGENCY-A", "agency-reader", "programme=MPCA-2026")
    assert own.find("reporting-org").get("ref") == "ZZ-DEMO-AGENCY-A"
    assert _participants(own) == [("ZZ-DEMO-AGENCY-A", "4")]
    audited = _download(api, "AUDITOR-X", "auditor", "org=AGENCY-A&programme=MPCA-2026")
    assert audited.find("reporting-org").get("ref") == "ZZ-DEMO-AUDITOR-X"
    assert _participants(audited) == [("ZZ-DEMO-AGENCY-A", "4")]
    assert audited.findtext("iati-identifier") == "ZZ-DEMO-AUDITOR-X-AGENCY-A_MPCA-2026"
