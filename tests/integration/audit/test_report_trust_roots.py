"""A signed report is checked against the ledger a verifier trusts, not the one it is
handed: its anchor must be of the history the witness quorum cosigned, the log is read
under the consortium file the verifier pins, and a report that names no real month is
refused, not a crash."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import time_machine
from click.testing import CliRunner
from sqlalchemy import insert, update

from ledger_gw.cli import cli
from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.schema import checkpoints, witnessed
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.embedded.witnessing import Cosigner, endpoints
from ledger_gw.errors import ConflictError
from ledger_gw.interfaces import Anchor
from ledger_gw.reports.accountability import ReportQuery
from ledger_gw.reports.release import DONOR_K
from ledger_gw.reports.signing import ReportError, sign_report, verify_report
from ledger_gw.services.reports import report_at
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.witnesses import TestWitnesses


class Ledger:
    """One embedded ledger of the audit consortium, its witnesses asked by hand."""

    def __init__(self, ws: Workspace, path: Path) -> None:
        self.ws = ws
        self.url = f"sqlite:///{path}"
        self.ledger = EmbeddedLedger(self.url, ws.consortium, ws.log_signer())
        self.client = OrgClient(self.ledger, ws.signer("AGENCY-A"))
        self.log = EmbeddedLog(self.ledger.log, ws.consortium)

    def grant(self, n: int) -> None:
        for _ in range(n):
            self.client.submit(ev.entitlement_granted(ev.pid()))

    def cosign(self) -> None:
        asked = [w for w in endpoints(self.ws.consortium) if w.org_id in ("AGENCY-A", "AGENCY-B")]
        Cosigner(self.ledger.engine, self.ws.consortium).ask(asked, None)

    def report(self, size: int) -> dict[str, object]:
        c = self.ws.consortium  # the stored checkpoint, signed by the log's key alone
        anchor = Anchor.of_note(self.ledger.log.checkpoint(size), c.log_vkey, c.origin)
        return sign_report(
            report_at(self.log, ReportQuery(k=5), anchor), self.ws.signer("AGENCY-A")
        )


@pytest.fixture
def honest(audit_ws: Workspace, audit_witnesses: TestWitnesses, tmp_path: Path) -> Iterator[Ledger]:
    audit_witnesses.forget()  # a new log to them
    built = Ledger(audit_ws, tmp_path / "ledger.db")
    yield built
    built.ledger.close()


def test_a_report_anchored_past_what_the_witnesses_cosigned_is_refused(honest: Ledger) -> None:
    """The operator holds the log's key: while the witnesses are down (or never asked)
    it signs checkpoints of whatever history it likes. A report anchored at one of those
    is refused until a cosigned checkpoint covers it; one anchored at the cosigned
    checkpoint verifies."""
    honest.grant(2)
    honest.cosign()
    honest.grant(3)
    witnessed_report, ahead = honest.report(2), honest.report(5)
    assert verify_report(witnessed_report, honest.ws.consortium, honest.log) == "AGENCY-A"
    with pytest.raises(ReportError, match="witness quorum cosigned covers size 5"):
        verify_report(ahead, honest.ws.consortium, honest.log)
    honest.cosign()
    assert verify_report(ahead, honest.ws.consortium, honest.log) == "AGENCY-A"


def test_before_any_checkpoint_is_cosigned_no_report_verifies(honest: Ledger) -> None:
    honest.grant(2)
    with pytest.raises(ConflictError, match="covers size 2"):
        honest.log.anchor(2)
    with pytest.raises(ReportError, match="witness quorum"):
        verify_report(honest.report(2), honest.ws.consortium, honest.log)


def test_a_fork_under_a_copied_cosigned_checkpoint_is_refused(
    honest: Ledger, tmp_path: Path
) -> None:
    """The operator keeps a second database under the same log key, a history of its
    own from the first entry on, and copies the witnesses' cosigned checkpoint into it:
    its own checkpoints there are signed by the log's key alone, and must be shown to
    extend the cosigned one."""
    honest.grant(3)
    honest.cosign()
    cosigned = honest.ledger.log.checkpoint(3)
    fork = Ledger(honest.ws, tmp_path / "fork.db")
    try:
        fork.grant(4)
        with fork.ledger.engine.begin() as conn:
            conn.execute(update(checkpoints).where(checkpoints.c.size == 3).values(note=cosigned))
            conn.execute(insert(witnessed).values(size=3))
        assert fork.log.anchor().size == 3  # the copied note carries the quorum
        forged = fork.report(2)  # within the cosigned size, of the fork's history
        with pytest.raises(ReportError, match="not of the history the witnesses cosigned"):
            verify_report(forged, fork.ws.consortium, fork.log)
    finally:
        fork.ledger.close()


def _signed_file(ledger: Ledger, path: Path, **query: object) -> Path:
    report = report_at(ledger.log, ReportQuery(k=5), ledger.log.anchor())
    report["query"] = {**report["query"], **query}
    path.write_text(json.dumps(sign_report(report, ledger.ws.signer("AGENCY-A"))))
    return path


def test_the_cli_reads_the_log_under_the_pinned_consortium(honest: Ledger, tmp_path: Path) -> None:
    """`report verify --consortium` pins the verifier's trust roots: the log's key,
    origin and witnesses are the pinned file's, not the directory's, which whoever
    handed over the ledger wrote."""
    honest.grant(2)
    honest.cosign()
    report = _signed_file(honest, tmp_path / "report.json")
    directory = tmp_path / "handed-over"
    shutil.copytree(honest.ws.root, directory)
    with (
        sqlite3.connect(honest.url.removeprefix("sqlite:///")) as source,
        sqlite3.connect(directory / "ledger.db") as copy,
    ):
        source.backup(copy)  # the WAL's pages too
    runner = CliRunner()
    args = [
        "report",
        "verify",
        "--dir",
        str(directory),
        "--ledger",
        f"sqlite:///{directory}/ledger.db",
    ]
    pinned = directory / "pinned.json"
    honest.ws.consortium.save(pinned)
    good = runner.invoke(cli, [*args, "--consortium", str(pinned), str(report)])
    assert good.exit_code == 0, good.output
    other = Workspace.create(tmp_path / "other", DEMO)  # another ledger's log key
    replace(honest.ws.consortium, log_vkey=other.consortium.log_vkey).save(pinned)
    refused = runner.invoke(cli, [*args, "--consortium", str(pinned), str(report)])
    assert refused.exit_code != 0
    assert "report verifies" not in refused.output


def test_a_report_naming_the_last_month_there_is_is_refused_not_a_crash(
    honest: Ledger, tmp_path: Path
) -> None:
    honest.grant(1)
    honest.cosign()
    path = _signed_file(
        honest, tmp_path / "r.json", start="9999-12-01", end="9999-12-31", on_lattice=True
    )
    with pytest.raises(ReportError, match="malformed"):
        verify_report(json.loads(path.read_text()), honest.ws.consortium, honest.log)


def test_only_a_donor_release_verifies_as_one(tmp_path: Path) -> None:
    """A member's own report (at any k, any period) is signed and true, and still no
    figure to hand a donor: donors' figures are a calendar month on its lattice at the
    consortium's k, else a donor could be given the other pattern of the same cells."""
    # Its members' certificates issued before the month it reports, whatever today's date.
    with time_machine.travel(dt.datetime(2026, 12, 1, tzinfo=dt.UTC), tick=False):
        ws = Workspace.create(tmp_path / "ws", DEMO)
    now = [dt.datetime(2027, 1, 15, 12, tzinfo=dt.UTC)]
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer(), clock=lambda: now[0])
    try:
        client = OrgClient(ledger, ws.signer("AGENCY-A"), clock=lambda: now[0])
        client.submit_many([ev.entitlement_granted(ev.pid()) for _ in range(6)])
        now[0] = dt.datetime(2027, 2, 2, tzinfo=dt.UTC)
        client.submit(ev.entitlement_granted(ev.pid()))  # January closes
        log, signer = EmbeddedLog.of(ledger), ws.signer("AGENCY-A")
        january = ReportQuery(None, None, "2027-01-01", "2027-01-31", DONOR_K, on_lattice=True)
        files = {
            "release": sign_report(report_at(log, january), signer),
            "own": sign_report(report_at(log, ReportQuery(k=DONOR_K)), signer),
            "other_k": sign_report(report_at(log, replace(january, k=DONOR_K + 2)), signer),
            "finer": sign_report(report_at(log, replace(january, location_chars=99)), signer),
        }
        assert verify_report(files["release"], ws.consortium, log, donor=True) == "AGENCY-A"
        for name in ("own", "other_k", "finer"):
            assert verify_report(files[name], ws.consortium, log) == "AGENCY-A"
            with pytest.raises(ReportError, match="not a donor release"):
                verify_report(files[name], ws.consortium, log, donor=True)
    finally:
        ledger.close()
    runner = CliRunner()
    args = ["report", "verify", "--dir", str(ws.root), "--consortium", str(ws.consortium_file)]
    for name, report in files.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(report))
        said = runner.invoke(cli, [*args, str(path)])
        assert said.exit_code == 0, said.output
        held = runner.invoke(cli, [*args, "--donor", str(path)])
        if name == "release":
            assert "; a donor release" in said.output
            assert held.exit_code == 0, held.output
        else:
            assert "NOT a donor release" in said.output
            assert held.exit_code != 0
