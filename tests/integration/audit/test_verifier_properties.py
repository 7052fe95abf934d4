"""The offline verifiers an auditor, a donor or a member runs on a file someone else
hands over, under hypothesis-drawn edits of genuine files (real ledger, real
signatures): an audit bundle, a tlog-proof, a credential and a signed report.

Whatever the edit, each verifier either refuses with its documented error, or answers
as it did for the genuine file when the edit changes nothing it reads; it never
crashes, and it never accepts content that was not signed or hashed: a bundle that
verifies proves only events of the genuine one, a tlog-proof the same leaf at the same
checkpoint, a credential what its issuer signed (less, if she hides a disclosure), a
report the figures its signer signed.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chaincode.canonical import canonical_json
from ledger_gw.audit.bundle import build_bundle
from ledger_gw.audit.evidence import entry_bytes
from ledger_gw.audit.verify import BundleReport, verify_bundle
from ledger_gw.cli import cli
from ledger_gw.consortium import Consortium
from ledger_gw.credentials import Binding, Subject, Verified
from ledger_gw.credentials import issue as issue_credential
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.errors import AuditError, CredentialError, LedgerError, ValidationError
from ledger_gw.interfaces import reveal_none
from ledger_gw.reports.accountability import ReportQuery
from ledger_gw.reports.signing import sign_report, verify_report
from ledger_gw.services import credentials, tlog_proofs
from ledger_gw.services.reports import report_at
from tests.integration.audit.conftest import Scenario
from tests.support import credentials as forge
from tests.support.cli import clean_failure, run_cli
from tests.support.mutations import flipped, mutate_json, mutate_text, same_json

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass
class Genuine:
    """Valid files of every kind, built once from the scenario's ledger."""

    consortium: Consortium
    log: EmbeddedLog
    directory: Path
    ledger_url: str
    bundle: dict[str, Any]
    other_bundle: dict[str, Any]
    bundle_report: BundleReport
    proof: str
    other_proof: str
    leaf: bytes
    entry: bytes
    credential: str
    other_credential: str
    verified: Verified
    report: dict[str, Any]
    other_report: dict[str, Any]

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Named, not walked, in a failure's report: hypothesis's printer would walk
        into the ledger behind the log and the report would replay as flaky."""
        printer.text("Genuine(...)")


def _credential(scenario: Scenario, log: EmbeddedLog, disclose: list[str]) -> str:
    """Her entitlement credential, issued as the gateway issues it."""
    anchor = log.anchor()
    grant = next(r for r in log.records(anchor) if r.event.get("type") == "entitlement.granted")
    where = log.inclusion(None, grant.tx_id, None, reveal_none)
    event = grant.event
    subject = Subject.entitlement(
        event["pid"], event["programme"], event["assistance_type"], event["start"], event["end"]
    )
    binding = Binding(
        scenario.ws.consortium.origin,
        grant.tx_id,
        int(where["index"]),
        str(where["leaf_hash"]),
        scenario.entitlement,
    )
    proof = tlog_proofs.export(log, None, grant.tx_id, anchor.size)
    now = dt.datetime.now(dt.UTC)
    made = issue_credential(
        scenario.ws.signer("AGENCY-A"), subject, binding, proof, disclose, now=now
    )
    return made.text()


@pytest.fixture(scope="module")
def genuine(scenario: Scenario) -> Genuine:
    consortium, log = scenario.ws.consortium, EmbeddedLog.of(scenario.ledger)
    bundle = json.loads(
        json.dumps(
            build_bundle(log, consortium, kind="referral_chain", subject=scenario.onward_referral)
        )
    )
    other = json.loads(
        json.dumps(build_bundle(log, consortium, kind="entitlement", subject=scenario.entitlement))
    )
    report = verify_bundle(json.dumps(bundle), trusted_consortium=consortium)
    assert report.ok, report.failures
    first = bundle["evidence"]["entries"][0]
    _, _, entry = entry_bytes(first["entry"])
    where = log.inclusion(first["index"], None, None, reveal_none)
    signer = scenario.ws.signer("AGENCY-A")
    credential = _credential(scenario, log, ["programme", "valid_until"])
    verified = credentials.verify_offline(credential.encode(), consortium)
    return Genuine(
        consortium=consortium,
        log=log,
        directory=scenario.ws.root,
        ledger_url=scenario.url,
        bundle=bundle,
        other_bundle=other,
        bundle_report=report,
        proof=tlog_proofs.export(log, first["index"], None, None),
        other_proof=tlog_proofs.export(log, first["index"] + 1, None, None),
        leaf=base64.b64decode(where["leaf_hash"]),
        entry=entry,
        credential=credential,
        other_credential=_credential(scenario, log, list(credentials.DISCLOSABLE)),
        verified=verified,
        report=sign_report(report_at(log, ReportQuery(k=2)), signer),
        other_report=sign_report(report_at(log, ReportQuery(org="AGENCY-A", k=3)), signer),
    )


def _refused(exc: LedgerError, code: str = "") -> None:
    """A refusal with a stable code (``code``, or one starting with it), counted."""
    event(exc.code)
    assert exc.code
    assert exc.code.startswith(code)


# -- audit bundles ------------------------------------------------------------------


def _proven(report: BundleReport) -> set[tuple[Any, ...]]:
    """What a bundle that verifies vouches for: each event, where it is in the log, who
    signed it, what it and the contract's result say."""
    return {
        (e.position, e.event_id, e.org, canonical_json(e.event), canonical_json(e.result))
        for e in report.events
    }


def _anchor(report: BundleReport) -> dict[str, Any]:
    return {**report.anchor, "witnesses": sorted(report.anchor.get("witnesses", []))}


@FUZZ
@given(data=st.data())
def test_an_edited_bundle_is_refused_or_proves_only_genuine_events(
    genuine: Genuine, data: st.DataObject
) -> None:
    text, read = mutate_json(data, genuine.bundle, [genuine.other_bundle])
    try:
        report = verify_bundle(text.encode(), trusted_consortium=genuine.consortium)
    except AuditError as exc:  # only a file that is no bundle at all
        _refused(exc, "malformed_bundle")
        assert not same_json(read, genuine.bundle)
        return
    event(" ".join(sorted(report.codes)) or "ok")
    if same_json(read, genuine.bundle):
        assert report.to_dict() == genuine.bundle_report.to_dict()
    if report.ok:
        assert _anchor(report) == _anchor(genuine.bundle_report)
        assert _proven(report) <= _proven(genuine.bundle_report)


# -- tlog-proofs ----------------------------------------------------------------------


@FUZZ
@given(data=st.data(), by_entry=st.booleans())
def test_an_edited_tlog_proof_is_refused_or_proves_the_same_leaf(
    genuine: Genuine, data: st.DataObject, by_entry: bool
) -> None:
    edited = genuine.proof
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        edited = mutate_text(data, edited, [genuine.other_proof])
    expected = _tlog_verdict(genuine.proof, genuine, by_entry)
    try:
        proven = _tlog_verdict(edited, genuine, by_entry)
    except LedgerError as exc:
        _refused(exc)
        return
    event("ok")
    assert proven == expected


def _tlog_verdict(text: str, genuine: Genuine, by_entry: bool) -> dict[str, Any]:
    """What `audit verify PROOF --consortium --entry|--leaf-hash` prints."""
    proven = tlog_proofs.verify(
        text.encode(),
        genuine.consortium,
        entry=genuine.entry if by_entry else None,
        leaf_hash=None if by_entry else genuine.leaf,
        quorum=genuine.consortium.witness_quorum,
    ).to_dict()
    return {**proven, "witnesses": sorted(proven["witnesses"])}


# -- credentials ----------------------------------------------------------------------


def _b64url(text: str) -> str:
    return forge.b64url(text.encode("utf-8", "surrogatepass"))


def _edited_credential(data: st.DataObject, genuine: Genuine) -> str:
    """One edit of a part of the credential: its header, payload or signature, a
    disclosure, the list of disclosures, its tlog-proof, or its text as a whole."""
    jwt, disclosures, proof = forge.split(genuine.credential)
    header, payload, signature = jwt.split(".")
    other_jwt, other_disclosures, other_proof = forge.split(genuine.other_credential)
    part = data.draw(
        st.sampled_from(
            ["header", "payload", "signature", "disclosure", "disclosures", "proof", "text"]
        ),
        label="part",
    )
    if part in ("header", "payload"):
        value = header if part == "header" else payload
        donor = other_jwt.split(".")[0 if part == "header" else 1]
        edited, _ = mutate_json(
            data, forge.unb64url(value), [forge.unb64url(donor)], encode=_b64url
        )
        jwt = ".".join(
            (edited, payload, signature) if part == "header" else (header, edited, signature)
        )
    elif part == "signature":
        jwt = ".".join((header, payload, flipped(data, signature)))
    elif part == "disclosure":
        at = data.draw(st.integers(0, len(disclosures) - 1), label="disclosure")
        donors = [forge.unb64url(d) for d in other_disclosures]
        disclosures[at], _ = mutate_json(
            data, forge.unb64url(disclosures[at]), donors, encode=_b64url
        )
    elif part == "disclosures":
        pool = disclosures + other_disclosures + [disclosures[0] + "=", ""]
        disclosures = data.draw(st.lists(st.sampled_from(pool), max_size=6), label="disclosures")
    elif part == "proof":
        proof = mutate_text(data, proof, [other_proof])
    else:
        return mutate_text(data, forge.join(jwt, disclosures, proof))
    return forge.join(jwt, disclosures, proof)


@FUZZ
@given(data=st.data())
def test_an_edited_credential_is_refused_or_states_what_its_issuer_signed(
    genuine: Genuine, data: st.DataObject
) -> None:
    text = _edited_credential(data, genuine)
    try:
        verified = credentials.verify_offline(text.encode(), genuine.consortium)
    except CredentialError as exc:
        _refused(exc, "credential_")
        return
    was = genuine.verified
    assert verified.disclosed.items() <= was.disclosed.items()  # she may hide a claim
    assert replace(verified, disclosed={}, witnesses=tuple(sorted(verified.witnesses))) == (
        replace(was, disclosed={}, witnesses=tuple(sorted(was.witnesses)))
    )


# -- signed reports -------------------------------------------------------------------


def _signed_content(report: Any) -> bytes:
    """All a report's signature covers: the report but for the signature's value."""
    sig = {k: v for k, v in report["signature"].items() if k != "value"}
    return canonical_json({**report, "signature": sig})


@FUZZ
@given(data=st.data())
def test_an_edited_report_is_refused_or_is_the_one_signed(
    genuine: Genuine, data: st.DataObject
) -> None:
    _, read = mutate_json(data, genuine.report, [genuine.other_report])
    if not isinstance(read, dict):
        return  # not a JSON object: `report verify` refuses it before any check
    try:
        org = verify_report(read, genuine.consortium, genuine.log)
    except LedgerError as exc:  # ReportError, or AuthenticationError for the certificate
        _refused(exc)
        return
    assert org == "AGENCY-A"
    assert _signed_content(read) == _signed_content(genuine.report)


@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_report_verify_refuses_an_edited_file_in_one_line(
    genuine: Genuine, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """`report verify` reads the file itself: whatever it holds, a verdict or a refusal."""
    text, read = mutate_json(data, genuine.report, [genuine.other_report])
    path = tmp_path_factory.mktemp("report") / "report.json"
    path.write_text(text, errors="surrogatepass")
    done = _report_verify(genuine, path)
    if done.exit_code == 0:
        assert isinstance(read, dict)
        assert _signed_content(read) == _signed_content(genuine.report)
    else:
        assert isinstance(done.exception, LedgerError), done.exception


def _report_verify(genuine: Genuine, path: Path) -> Any:
    pinned = genuine.directory / "consortium.json"
    return CliRunner().invoke(
        cli,
        [
            "report",
            "verify",
            str(path),
            "--consortium",
            str(pinned),
            "--dir",
            str(genuine.directory),
            "--ledger",
            genuine.ledger_url,
        ],
    )


def test_report_verify_refuses_a_key_given_twice(genuine: Genuine, tmp_path: Path) -> None:
    """A report whose ``anchor`` is given twice, the first a ledger of the forger's
    choosing: Python's reader takes the last (the signed one), another reader the
    first; `report verify` must not vouch for what either shows."""
    forged = {"origin": "elsewhere", "tree_size": 10**6, "root": "AAAA"}
    path = tmp_path / "report.json"
    path.write_text(f'{{"anchor": {json.dumps(forged)}, {json.dumps(genuine.report)[1:]}')
    done = _report_verify(genuine, path)
    assert isinstance(done.exception, ValidationError)
    assert done.exception.code == "duplicate_key"


def test_report_verify_refuses_deep_nesting_in_one_line(genuine: Genuine, tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text('{"figures": ' + "[" * 5_000 + "]" * 5_000 + "}")
    done = run_cli(
        "report",
        "verify",
        str(path),
        "--consortium",
        str(genuine.directory / "consortium.json"),
        "--dir",
        str(genuine.directory),
        "--ledger",
        genuine.ledger_url,
    )
    assert "too_deep" in clean_failure(done)
