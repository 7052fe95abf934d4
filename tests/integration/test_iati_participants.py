"""IATI exports of report slices on a real ledger: each slice its own activity, and each
organisation in the role it plays (IATI OrganisationRole: 1 Funding, 4 Implementing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.errors import ConfigError
from ledger_gw.identity import Profile
from ledger_gw.reports.accountability import ReportQuery, report_from_log
from ledger_gw.reports.iati import to_iati
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.cli import run_cli

XSD = Path(__file__).resolve().parents[2] / ".." / "shared" / "schemas" / "iati-2.03"
DONOR = Profile("Donor", "XM-DAC-0000-DONOR", "10")
AGENCY = Profile("Agency", "XM-DAC-0000-AGENCY", "22")
UNLISTED = Profile("Partner with no IATI reference")


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedLog]:
    """Deliveries by two agencies, enough people each that nothing is suppressed."""
    ws = Workspace.create(tmp_path_factory.mktemp("iati") / "ws", DEMO)
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer())
    for org, people in (("AGENCY-A", 12), ("AGENCY-B", 7)):
        grants = [ev.entitlement_granted(ev.pid()) for _ in range(people)]
        deliveries = [ev.delivery(g["entitlement_id"]) for g in grants]
        client = OrgClient(ledger, ws.signer(org))
        assert all(o.error is None for o in client.submit_many(grants + deliveries))
    yield EmbeddedLog.of(ledger)
    ledger.close()


def _activity(xml: bytes) -> etree._Element:
    """The document's activity, once the IATI 2.03 schema has found the document valid."""
    if not (XSD / "iati-activities-schema.xsd").exists():
        pytest.skip("../shared/schemas/iati-2.03 is absent: cannot validate IATI XML")
    doc = etree.fromstring(xml)
    schema = etree.XMLSchema(etree.parse(str(XSD / "iati-activities-schema.xsd")))
    assert schema.validate(doc), schema.error_log
    activity = doc.find("iati-activity")
    assert activity is not None
    return activity


def _participants(activity: etree._Element) -> list[tuple[str | None, str | None, str]]:
    return [
        (p.get("ref"), p.get("type"), str(p.get("role")))
        for p in activity.findall("participating-org")
    ]


def _export(report: dict[str, Any], **parties: Any) -> etree._Element:
    return _activity(to_iati(report, reporting=DONOR, first_day="2026-01-01", **parties))


def test_no_two_slices_share_an_identifier(log: EmbeddedLog) -> None:
    """Orgs and programmes, hyphenated both, overlap when joined by a hyphen: MSF with
    B-CASH and MSF-B with CASH would read alike."""
    queries = [
        ReportQuery(org, programme)
        for org in (None, "AGENCY-A", "AGENCY-B")
        for programme in (None, "MPCA-2026")
    ] + [ReportQuery("MSF", "B-CASH"), ReportQuery("MSF-B", "CASH")]
    ids = [
        _export(report_from_log(log, q), implementing=[AGENCY]).findtext("iati-identifier")
        for q in queries
    ]
    assert len(set(ids)) == len(ids), ids
    assert all(str(i).startswith("XM-DAC-0000-DONOR-") for i in ids)  # the reporter's prefix
    assert ids[3] == "XM-DAC-0000-DONOR-AGENCY-A_MPCA-2026"
    assert ids[1] == "XM-DAC-0000-DONOR-ALL_MPCA-2026"


def test_a_donor_funds_and_the_reported_agency_implements(log: EmbeddedLog) -> None:
    a = report_from_log(log, ReportQuery("AGENCY-A", "MPCA-2026"))
    b = report_from_log(log, ReportQuery("AGENCY-B", "MPCA-2026"))
    assert a["tables"]["reached"] != b["tables"]["reached"]
    activity = _export(a, implementing=[AGENCY], funding=DONOR)
    assert activity.find("reporting-org").get("ref") == "XM-DAC-0000-DONOR"
    assert _participants(activity) == [
        ("XM-DAC-0000-DONOR", "10", "1"),
        ("XM-DAC-0000-AGENCY", "22", "4"),
    ]
    other = _export(b, implementing=[UNLISTED], funding=DONOR)
    assert other.findtext("iati-identifier") != activity.findtext("iati-identifier")
    unlisted = other.findall("participating-org")[1]  # named, since it has no reference
    assert (unlisted.get("ref"), unlisted.get("role")) == (None, "4")
    assert unlisted.findtext("narrative") == "Partner with no IATI reference"


def test_an_organisation_reporting_its_own_figures_implements_them(log: EmbeddedLog) -> None:
    report = report_from_log(log, ReportQuery("AGENCY-A"))
    activity = _activity(to_iati(report, reporting=AGENCY, first_day="2026-01-01"))
    assert _participants(activity) == [("XM-DAC-0000-AGENCY", "22", "4")]
    assert activity.findtext("iati-identifier") == "XM-DAC-0000-AGENCY-AGENCY-A_ALL"


def test_an_activity_names_someone_taking_part(log: EmbeddedLog) -> None:
    """The schema asks for at least one participating organisation."""
    report = report_from_log(log, ReportQuery())
    with pytest.raises(ConfigError, match="participating"):
        to_iati(report, reporting=DONOR, first_day="2026-01-01", implementing=[])


def test_the_command_line_names_the_same_participants(tmp_path: Path) -> None:
    """`report accountability --format iati` as the API: the donor signing it funds, the
    organisation reported on implements."""
    demo = tmp_path / "demo"
    assert run_cli("demo", "--dir", str(demo)).returncode == 0
    done = run_cli(
        "report", "accountability", "--dir", str(demo), "--org", "AGENCY-A",
        "--sign-as", "DONOR-Y", "--format", "iati",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    consortium = Workspace.load(demo).consortium
    roles = {ref: role for ref, _, role in _participants(_activity(done.stdout.encode()))}
    assert roles == {
        consortium.profile("DONOR-Y").iati_ref: "1",
        consortium.profile("AGENCY-A").iati_ref: "4",
    }
