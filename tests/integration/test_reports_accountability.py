"""Reports on a ledger of a few hundred synthetic people: figures, anchoring, exports."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ledger_gw.cli import cli
from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.errors import AuthenticationError, ConfigError, LedgerError
from ledger_gw.identity import Profile
from ledger_gw.reports.accountability import ReportError, ReportQuery, report_from_log
from ledger_gw.reports.exports import to_csv
from ledger_gw.reports.iati import to_iati
from ledger_gw.reports.signing import sign_report, verify_report
from ledger_gw.workspace import Workspace
from tests.support import events as ev

XSD = Path(__file__).resolve().parents[2] / ".." / "shared" / "schemas" / "iati-2.03"
# location -> (people with cash, people with vouchers); LB14 has 3 people: a small cell.
LAYOUT = {"LB11": (80, 40), "LB12": (60, 30), "LB13": (50, 20), "LB14": (3, 0)}
PEOPLE = sum(a + b for a, b in LAYOUT.values())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, EmbeddedLedger]]:
    root = tmp_path_factory.mktemp("reports")
    ws = Workspace.create(root / "ws", DEMO)
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer())
    a = OrgClient(ledger, ws.signer("AGENCY-A"))
    grants, deliveries = [], []
    for location, (cash, voucher) in LAYOUT.items():
        for modality, n in (("cash", cash), ("voucher", voucher)):
            for _ in range(n):
                g = ev.entitlement_granted(ev.pid(), modality=modality, location=location)
                grants.append(g)
                deliveries.append(ev.delivery(g["entitlement_id"], "50"))
    person = ev.pid()
    grants.append(ev.entitlement_granted(person))
    grants.append(ev.entitlement_granted(person))  # a possible duplicate
    refs = [ev.referral_created(ev.pid()) for _ in range(8)]
    for batch in (grants, deliveries, refs):
        assert all(o.error is None for o in a.submit_many(batch))
    b = OrgClient(ledger, ws.signer("AGENCY-B"))
    b.submit_many([ev.referral_step("accepted", r["referral_id"]) for r in refs[:6]])
    b.submit_many([ev.referral_step("completed", r["referral_id"]) for r in refs[:5]])
    yield ws, ledger
    ledger.close()


@pytest.fixture(scope="module")
def report(world: tuple[Workspace, EmbeddedLedger]) -> dict[str, Any]:
    _, ledger = world
    return report_from_log(EmbeddedLog.of(ledger), ReportQuery(org="AGENCY-A"))


def test_figures_and_small_cell_suppression(
    world: tuple[Workspace, EmbeddedLedger], report: dict[str, Any]
) -> None:
    _, ledger = world
    assert report["anchor"]["tree_size"] == ledger.size()
    s = report["summary"]
    assert s["people_assisted"] == PEOPLE
    assert s["deliveries"] == PEOPLE
    assert s["entitlements_granted"] == PEOPLE + 2
    assert s["duplicates_flagged"] is None  # one flagged grant: fewer than k
    assert "duplicates_flagged" in report["suppressed"]
    assert s["duplicates_resolved"] == 0  # a zero discloses nobody
    assert s["referrals_made"] == 8
    assert s["referrals_accepted"] == 6
    # 8 made, 2 open and 1 accepted (hidden): 5 completed would leave those two 3 between
    # them, each known to be below k
    assert s["referrals_completed"] is None
    # hidden with them: published, it would say 5 or more completed, and so the two 3
    assert s["median_days_to_completion"] is None
    people = report["tables"]["reached"]["people"]
    rows = report["tables"]["reached"]["rows"]
    small = rows.index("LB14")
    assert people["cells"][small][0] is None  # 3 people: suppressed
    assert people["row_totals"][small] is None
    hidden_in_col = sum(1 for r in range(len(rows)) if people["cells"][r][0] is None)
    assert hidden_in_col >= 2  # a complement, so the column total does not give it away
    amounts = report["tables"]["reached"]["amounts"]["USD"]
    assert amounts["cells"][small][0] is None
    assert "3" not in json.dumps(people["cells"][small])


def test_signed_report_verifies_and_recomputes(
    world: tuple[Workspace, EmbeddedLedger], report: dict[str, Any]
) -> None:
    ws, ledger = world
    signed = sign_report(report, ws.signer("AGENCY-A"))
    assert verify_report(signed, ws.consortium, EmbeddedLog.of(ledger)) == "AGENCY-A"
    changed = copy.deepcopy(signed)
    changed["summary"]["people_assisted"] += 1
    with pytest.raises(AuthenticationError):
        verify_report(changed, ws.consortium)
    resigned = sign_report(
        {k: v for k, v in changed.items() if k != "signature"}, ws.signer("AGENCY-A")
    )
    with pytest.raises(ReportError, match="summary"):
        verify_report(resigned, ws.consortium, EmbeddedLog.of(ledger))


def test_iati_validates_against_schema(report: dict[str, Any]) -> None:
    if not (XSD / "iati-activities-schema.xsd").exists():
        pytest.skip("../shared/schemas/iati-2.03 is absent: cannot validate IATI XML")
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(XSD / "iati-activities-schema.xsd")))
    reporting = Profile("Agency A", "XM-DAC-0000-AGENCY-A", "22")
    xml = to_iati(report, reporting=reporting, first_day="2026-09-01", glide="EQ-2023-000015-TUR")
    doc = etree.fromstring(xml)
    assert schema.validate(doc), schema.error_log
    org = doc.find(".//reporting-org")
    assert (org.get("ref"), org.get("type")) == ("XM-DAC-0000-AGENCY-A", "22")
    assert org.findtext("narrative") == "Agency A"
    start = doc.find(".//activity-date").get("iso-date")
    assert start == (report["query"]["start"] or "2026-09-01")
    assert doc.findtext(".//iati-identifier").startswith("XM-DAC-0000-AGENCY-A-")
    codes = [t.get("code") for t in doc.iter("transaction-type")]
    assert sorted(codes) == ["3", "3"]  # cash and voucher: disbursements
    assert doc.find(".//humanitarian-scope").get("vocabulary") == "1-2"


def test_iati_needs_the_reporting_organisations_reference(report: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="iati_ref"):
        to_iati(report, reporting=Profile("Agency A", None, "22"), first_day="2026-09-01")
    with pytest.raises(ConfigError, match="iati_type"):
        to_iati(
            report, reporting=Profile("Agency A", "XM-DAC-0000-A", None), first_day="2026-09-01"
        )


def test_hxl_csv(report: dict[str, Any]) -> None:
    lines = to_csv(report, hxl=True).splitlines()
    assert lines[1].startswith("#org+code,#activity+code")
    assert any(",LB14,cash,people,," in line for line in lines)  # suppressed: empty


def test_cli_report_and_audit(world: tuple[Workspace, EmbeddedLedger], tmp_path: Path) -> None:
    ws, _ = world
    runner = CliRunner()
    out = runner.invoke(
        cli,
        [
            "report",
            "accountability",
            "--dir",
            str(ws.root),
            "--org",
            "AGENCY-A",
            "--sign-as",
            "AGENCY-A",
        ],
    )
    assert out.exit_code == 0, out.output
    path = tmp_path / "report.json"
    path.write_text(out.output)
    verify = ["report", "verify", "--dir", str(ws.root), "--consortium", str(ws.consortium_file)]
    ok = runner.invoke(cli, [*verify, str(path)])
    assert ok.exit_code == 0, ok.output
    signed = json.loads(out.output)
    for name, text in {
        "not JSON": "not json",
        "not an object": "[]",
        "signature not base64": json.dumps(
            {**signed, "signature": {**signed["signature"], "value": "abc"}}
        ),
        "a float in it": json.dumps({**signed, "anchor": 1.5}),
        "no anchor": json.dumps({k: v for k, v in signed.items() if k != "anchor"}),
    }.items():
        path.write_text(text)
        bad = runner.invoke(cli, [*verify, str(path)])
        assert bad.exit_code == 1, name
        assert isinstance(bad.exception, LedgerError), (name, bad.exception)  # not a traceback
    hxl = runner.invoke(cli, ["report", "accountability", "--dir", str(ws.root), "--format", "hxl"])
    assert hxl.exit_code == 0
    assert "#adm1+code" in hxl.output
