"""A signed report says when it was signed, and its signer's key is judged then: donors
and auditors keep reports for years, through their signers' routine key rotations. A
key rotated out signs nothing that verifies from then on; dated back before its
rotation (stolen, say), it signs only the true figures of a ledger prefix logged before
that date."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chaincode.canonical import canonical_json
from ledger_gw.bootstrap import rotate_key
from ledger_gw.cli import cli
from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.errors import AuthenticationError
from ledger_gw.identity import Signer
from ledger_gw.reports.accountability import ReportError, ReportQuery
from ledger_gw.reports.signing import ALGORITHM, sign_report, verify_report
from ledger_gw.services.reports import report_at
from ledger_gw.transaction import format_time, parse_time
from ledger_gw.workspace import Workspace
from tests.support import events as ev

QUERY = ReportQuery(org="AGENCY-A")
CLOCK_SKEW = dt.timedelta(minutes=10)  # how far a signer's clock may run ahead of its verifier's


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A consortium of this test's own: the rotation rewrites its file."""
    return Workspace.create(tmp_path / "ws", DEMO)


def _grant(
    ledger: EmbeddedLedger, signer: Signer, clock: Callable[[], dt.datetime] | None = None
) -> None:
    grants = [ev.entitlement_granted(ev.pid()) for _ in range(3)]
    assert all(o.error is None for o in OrgClient(ledger, signer, clock).submit_many(grants))


@pytest.fixture
def ledger(ws: Workspace) -> Iterator[EmbeddedLedger]:
    opened = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer())
    _grant(opened, ws.signer("AGENCY-A"))
    yield opened
    opened.close()


def _refused(code: str, report: dict[str, Any], ws: Workspace, log: Any = None) -> None:
    with pytest.raises(AuthenticationError) as refused:
        verify_report(report, ws.consortium, log)
    assert refused.value.code == code, refused.value


def test_a_report_signed_before_a_rotation_still_verifies_after_it(
    ws: Workspace, ledger: EmbeddedLedger, tmp_path: Path
) -> None:
    """What a member does: sign a report with `report accountability --sign-as` and
    hand it over, then rotate its key (`key rotate`); the donor's `report verify`, with
    the consortium file as it stands after the rotation, still takes the report."""
    runner = CliRunner()
    asked = ["report", "accountability", "--dir", str(ws.root), "--org", "AGENCY-A"]
    made = runner.invoke(cli, [*asked, "--sign-as", "AGENCY-A"])
    assert made.exit_code == 0, made.output
    path = tmp_path / "report.json"
    path.write_text(made.output)

    rotated = runner.invoke(cli, ["key", "rotate", "--dir", str(ws.root), "--org", "AGENCY-A"])
    assert rotated.exit_code == 0, rotated.output
    after = Workspace.load(ws.root)
    pinned = tmp_path / "pinned.json"
    after.consortium.save(pinned)  # the donor's copy, taken after the rotation
    ok = runner.invoke(
        cli, ["report", "verify", "--dir", str(ws.root), "--consortium", str(pinned), str(path)]
    )
    assert ok.exit_code == 0, ok.output
    assert "report verifies: signed by AGENCY-A" in ok.output
    report = json.loads(made.output)
    assert verify_report(report, after.consortium, EmbeddedLog.of(ledger)) == "AGENCY-A"
    rotated_at = after.consortium.organisation("AGENCY-A").signing_keys[0].valid_until
    assert rotated_at is not None
    assert parse_time(report["signature"]["signed_at"]) < rotated_at


def test_the_rotated_out_key_signs_no_report_that_verifies(
    ws: Workspace, ledger: EmbeddedLedger
) -> None:
    old = ws.signer("AGENCY-A")
    rotated = rotate_key(ws.root, "AGENCY-A")  # what `ledger-gw key rotate` runs
    log = EmbeddedLog.of(ledger)
    report = report_at(log, QUERY)
    for given in (None, log):
        _refused("retired_certificate", sign_report(report, old), rotated, given)
    renewed = sign_report(report, rotated.signer("AGENCY-A"))
    assert verify_report(renewed, rotated.consortium, log) == "AGENCY-A"


def test_the_time_a_report_was_signed_is_signed_with_it(
    ws: Workspace, ledger: EmbeddedLedger
) -> None:
    """Whoever holds a report cannot move its signing time (into a key's period, say),
    nor drop it, nor give one to a report signed before reports stated it."""
    signer, log = ws.signer("AGENCY-A"), EmbeddedLog.of(ledger)
    report = report_at(log, QUERY)
    signed = sign_report(report, signer)
    assert verify_report(signed, ws.consortium, log) == "AGENCY-A"
    moved = copy.deepcopy(signed)
    stated = parse_time(signed["signature"]["signed_at"])
    moved["signature"]["signed_at"] = format_time(stated - dt.timedelta(microseconds=1))
    _refused("bad_signature", moved, ws)
    dropped = copy.deepcopy(signed)
    del dropped["signature"]["signed_at"]
    _refused("bad_signature", dropped, ws)

    # Signed before reports stated their time: the report without its signature member
    # was signed, and the key is judged now.
    value = base64.b64encode(signer.sign(canonical_json(report))).decode()
    legacy = {
        **report,
        "signature": {
            "org": "AGENCY-A",
            "algorithm": ALGORITHM,
            "certificate": signer.cert_pem,
            "value": value,
        },
    }
    assert verify_report(legacy, ws.consortium, log) == "AGENCY-A"
    dated = copy.deepcopy(legacy)
    dated["signature"]["signed_at"] = signed["signature"]["signed_at"]
    _refused("bad_signature", dated, ws)
    rotated = rotate_key(ws.root, "AGENCY-A")
    _refused("retired_certificate", legacy, rotated, log)
    assert verify_report(signed, rotated.consortium, log) == "AGENCY-A"


def test_a_report_signed_ahead_of_the_verifiers_clock_is_refused(
    ws: Workspace, ledger: EmbeddedLedger
) -> None:
    signer, log = ws.signer("AGENCY-A"), EmbeddedLog.of(ledger)
    report = report_at(log, QUERY)
    now = dt.datetime.now(dt.UTC)
    fast = sign_report(report, signer, at=now + CLOCK_SKEW / 2)  # its signer's clock runs fast
    assert verify_report(fast, ws.consortium, log) == "AGENCY-A"
    ahead = sign_report(report, signer, at=now + CLOCK_SKEW + dt.timedelta(minutes=1))
    for given in (None, log):
        with pytest.raises(ReportError, match="after now"):
            verify_report(ahead, ws.consortium, given)


def test_a_stolen_key_dates_back_only_the_figures_of_a_prefix_logged_before(
    ws: Workspace,
) -> None:
    """The key stolen, its member rotates it out; the thief dates reports back before
    the rotation. Offline only the signature is checked, as for any signature; with the
    ledger, the figures are the anchor's true ones, and an anchor whose entries were
    logged after the stated time is refused."""
    now = dt.datetime.now(dt.UTC)
    clock = [now - dt.timedelta(hours=3)]
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer(), clock=lambda: clock[0])
    try:
        stolen = ws.signer("AGENCY-A")
        _grant(ledger, stolen, lambda: clock[0])
        log = EmbeddedLog.of(ledger)
        early = report_at(log, QUERY)
        rotated = ws.rotate_key("AGENCY-A", at=now - dt.timedelta(hours=2))
        clock[0] = dt.datetime.now(dt.UTC)
        _grant(ledger, ws.signer("AGENCY-B"))  # logged since, by another member
        backdated = now - dt.timedelta(hours=2, minutes=30)  # within the stolen key's period

        honest = sign_report(early, stolen, at=backdated)  # as it was signed then
        assert verify_report(honest, rotated.consortium, log) == "AGENCY-A"
        forged = sign_report(report_at(log, QUERY), stolen, at=backdated)
        assert verify_report(forged, rotated.consortium) == "AGENCY-A"  # offline
        with pytest.raises(ReportError, match="before its anchor's entries were logged"):
            verify_report(forged, rotated.consortium, log)
    finally:
        ledger.close()
