"""/v1/audit and /v1/reports over HTTP: bundles download and verify (good and mutated),
chain verdicts, signed reports in every format, and who may read whose figures."""

from __future__ import annotations

import base64
import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from api_helpers import Api
from lxml import etree

from ledger_gw.demo.seed import seed_fatima
from ledger_gw.reports.signing import verify_report
from ledger_gw.services.gateway import Gateway
from tests.support.events import entitlement_granted, pid
from tests.support.months import closer, month_closed, this_month
from tests.support.witnesses import settled

XSD = Path(__file__).resolve().parents[2] / ".." / "shared" / "schemas" / "iati-2.03"
Bundle = dict[str, Any]


@pytest.fixture
def journey(gateway: Gateway) -> dict[str, Any]:
    out = seed_fatima(gateway)
    settled(gateway.ledger)  # its witnesses cosigned the latest checkpoint
    return out


@pytest.fixture
def bundle(api: Api, journey: dict[str, Any]) -> Bundle:
    r = api.as_("AUDITOR-X", "auditor").get(f"/v1/audit/bundles?subject={journey['referrals'][0]}")
    assert r.status_code == 200, r.json
    assert r.headers["Content-Disposition"].startswith("attachment;")
    return dict(r.json)


def _verify(api: Api, body: Bundle | bytes, query: str = "") -> Any:
    auditor = api.as_("AUDITOR-X", "auditor")
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return auditor.post(
        f"/v1/audit/bundles/verify{query}", data=data, content_type="application/json"
    )


def test_downloaded_bundle_verifies_as_json_and_as_upload(api: Api, bundle: Bundle) -> None:
    assert bundle["format"] == "ledger-gw/audit-bundle/v1"
    assert len(bundle["claim"]["events"]) == 7  # with the hand-over AGENCY-A recorded
    r = _verify(api, bundle)
    assert r.status_code == 200
    assert r.json["ok"] is True, r.json["failures"]
    assert r.json["trust_anchor"] == "pinned"
    assert [s["verdict"] for s in r.json["steps"]] == ["pass"] * 7
    upload = {"bundle": (io.BytesIO(json.dumps(bundle).encode()), "bundle.json")}
    r = api.as_("AGENCY-A").post(
        "/v1/audit/bundles/verify", data=upload, content_type="multipart/form-data"
    )
    assert (r.status_code, r.json["ok"]) == (200, True)


def _drop(b: Bundle) -> None:
    del b["evidence"]["entries"][1]


def _swap_proof(b: Bundle) -> None:
    proof = b["evidence"]["entries"][0]["proof"]
    proof[0] = base64.b64encode(b"\0" * 32).decode()


def _forge_cosignature(b: Bundle) -> None:
    note = b["evidence"]["checkpoint"]
    lines = note.rstrip("\n").split("\n")
    name, sig = lines[-1].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig))
    raw[-1] ^= 1
    lines[-1] = f"{name} {base64.b64encode(bytes(raw)).decode()}"
    b["evidence"]["checkpoint"] = "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (_drop, "missing_event"),
        (_swap_proof, "not_included"),
        (_forge_cosignature, "bad_cosignature"),
    ],
)
def test_mutated_bundle_fails_with_its_code(
    api: Api, bundle: Bundle, mutate: Any, code: str
) -> None:
    bad = copy.deepcopy(bundle)
    mutate(bad)
    r = _verify(api, bad)
    assert r.status_code == 200
    assert r.json["ok"] is False
    assert code in {f["code"] for f in r.json["failures"]}, r.json["failures"]


def test_a_foreign_consortium_always_fails(api: Api, bundle: Bundle) -> None:
    bad = copy.deepcopy(bundle)
    bad["consortium"]["name"] = "another consortium"
    codes = {f["code"] for f in _verify(api, bad).json["failures"]}
    assert "consortium_mismatch" in codes


def test_the_bundles_own_consortium_cannot_be_chosen_as_trust_root(
    api: Api, bundle: Bundle
) -> None:
    r = _verify(api, bundle, "?trust=bundle")
    assert r.status_code == 422
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json["field"] == "trust"


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"format": "ledger-gw/audit-bundle/v1"}'])
def test_not_a_bundle_is_422(api: Api, body: bytes) -> None:
    r = _verify(api, body)
    assert r.status_code == 422
    assert r.headers["Content-Type"] == "application/problem+json"
    assert (r.json["code"], r.json["field"]) == ("malformed_bundle", "bundle")


def test_chain_verdicts_and_unknown_referral(api: Api, journey: dict[str, Any]) -> None:
    auditor = api.as_("AUDITOR-X", "auditor")
    r = auditor.get(f"/v1/audit/referrals/{journey['referrals'][1]}/chain")
    assert r.status_code == 200
    assert r.json["ok"] is True
    assert [s["type"] for s in r.json["steps"]] == [
        "referral.created", "referral.handed_over", "referral.accepted", "referral.completed",
        "referral.created", "referral.accepted", "referral.completed",
    ]  # fmt: skip
    assert r.json["anchor"]["tree_size"] >= 5
    r = auditor.get("/v1/audit/referrals/00000000-0000-4000-8000-000000000000/chain")
    assert (r.status_code, r.json["code"]) == (404, "not_found")
    r = auditor.get("/v1/audit/bundles?subject=not-a-uuid")
    assert (r.status_code, r.json["field"]) == (422, "subject")


def _closer(gateway: Gateway) -> Any:
    return closer(gateway.ledger, gateway.signers["AGENCY-A"])


def test_report_json_is_signed_and_recomputes(api: Api, gateway: Gateway, journey: Any) -> None:
    with month_closed(_closer(gateway)):
        r = api.as_("DONOR-Y", "donor").get("/v1/reports/accountability")
        assert r.status_code == 200
        report = r.json
        assert report["signature"]["org"] == "DONOR-Y"
        assert report["anchor"]["tree_size"] == gateway.ledger.size()
        assert report["summary"]["people_assisted"] is None  # one person: suppressed
        assert "people_assisted" in report["suppressed"]
        assert verify_report(report, gateway.workspace.consortium, gateway.log) == "DONOR-Y"


def test_donors_get_a_month_once_closed_and_then_always_the_same(
    api: Api, gateway: Gateway, journey: Any
) -> None:
    donor = api.as_("DONOR-Y", "donor")
    start, end = this_month()
    month = f"/v1/reports/accountability?from={start}&to={end}"
    r = donor.get(month)  # still open: later events would change it
    assert (r.status_code, r.json["code"], r.json["field"]) == (422, "period_not_closed", "to")
    submit = _closer(gateway)
    with month_closed(submit):
        first = donor.get(month).json
        for _ in range(3):  # the next month's events leave it as it was
            submit(entitlement_granted(pid(), start=start))
        again = donor.get(month).json
    assert again["anchor"]["tree_size"] > first["anchor"]["tree_size"]
    assert (again["summary"], again["tables"]) == (first["summary"], first["tables"])
    for k in (2, 6):  # the consortium's k only
        r = donor.get(f"{month}&k={k}")
        assert (r.status_code, r.json["field"]) == (422, "k"), r.json


def test_report_csv_hxl_and_iati(api: Api, journey: Any) -> None:
    donor = api.as_("DONOR-Y", "donor")
    csv = donor.get("/v1/reports/accountability?format=csv")
    assert csv.mimetype == "text/csv"
    assert csv.get_data(as_text=True).startswith("Organisation,Programme,")
    hxl = donor.get("/v1/reports/accountability?format=hxl").get_data(as_text=True)
    assert hxl.splitlines()[1].startswith("#org+code,#activity+code")
    r = donor.get(
        "/v1/reports/accountability?format=iati&programme=MPCA-2026&glide=EQ-2023-000015-TUR"
    )
    assert r.mimetype == "application/xml"
    assert 'filename="accountability-all-' in r.headers["Content-Disposition"]
    doc = etree.fromstring(r.data)
    assert doc.tag == "iati-activities"
    if not (XSD / "iati-activities-schema.xsd").exists():
        pytest.skip("../shared/schemas/iati-2.03 is absent: cannot validate IATI XML")
    schema = etree.XMLSchema(etree.parse(str(XSD / "iati-activities-schema.xsd")))
    assert schema.validate(doc), schema.error_log


def test_agencies_read_only_their_own_report(api: Api, journey: Any) -> None:
    agency = api.as_("AGENCY-B", "agency-reader")
    assert agency.get("/v1/reports/accountability").json["query"]["org"] == "AGENCY-B"
    r = agency.get("/v1/reports/accountability?org=AGENCY-A")
    assert (r.status_code, r.json["code"]) == (403, "org_forbidden")
    donor = api.as_("DONOR-Y", "donor")
    assert donor.get("/v1/reports/accountability?org=AGENCY-A").json["query"]["org"] == "AGENCY-A"
    assert donor.get("/v1/reports/accountability").json["query"]["org"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("k=2", "k"),  # nobody lowers k
        ("programme=NOT-LISTED", "programme"),
        ("org=AGENCY-Z", "org"),
        ("from=2026-05-02&to=2026-05-01", "from"),
        ("format=pdf", "format"),
    ],
)
def test_bad_report_queries_are_422(api: Api, journey: Any, query: str, field: str) -> None:
    r = api.as_("DONOR-Y", "donor").get(f"/v1/reports/accountability?{query}")
    assert (r.status_code, r.json["field"]) == (422, field), r.json


@pytest.mark.parametrize(
    ("query", "field"),
    [("from=2026-05-01&to=2026-05-30", "to"), ("from=2026-05-02&to=2026-05-31", "from")],
)
def test_donor_periods_off_a_calendar_month_are_422(
    api: Api, journey: Any, query: str, field: str
) -> None:
    r = api.as_("DONOR-Y", "donor").get(f"/v1/reports/accountability?{query}")
    assert (r.status_code, r.json["code"], r.json["field"]) == (422, "unaligned_period", field)
    assert r.headers["Content-Type"].startswith("application/problem+json")
    month = api.as_("DONOR-Y", "donor").get(
        "/v1/reports/accountability?from=2026-05-01&to=2026-05-31"
    )
    assert month.status_code == 200
    assert month.json["query"]["on_lattice"] is True


def test_synthetic_population_fills_the_report(api: Api, gateway: Gateway) -> None:
    from ledger_gw.demo.synthetic import seed_synthetic

    seed_fatima(gateway)
    signed = seed_synthetic(gateway)
    settled(gateway.ledger)  # reports anchor at the latest checkpoint the witnesses cosigned
    assert set(signed) == {"AGENCY-A", "AGENCY-B", "AGENCY-C"}
    with month_closed(_closer(gateway)):
        report = api.as_("DONOR-Y", "donor").get("/v1/reports/accountability").json
    assert report["summary"]["people_assisted"] > 300
    cells = [c for row in report["tables"]["reached"]["people"]["cells"] for c in row]
    assert None in cells
    assert any(c for c in cells)
