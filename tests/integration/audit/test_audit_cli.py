"""`ledger-gw audit bundle|verify|chain|watch` through click, as an auditor runs them."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ledger_gw.cli import cli, main
from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.witnessing import endpoints
from ledger_gw.errors import LogStaleError
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.witnesses import TestWitnesses, settled


def test_bundle_verify_chain_watch(tmp_path: Path) -> None:
    witnesses = TestWitnesses(Workspace.create(tmp_path / "ws", DEMO), tmp_path / "witnesses")
    ws = witnesses.workspace
    ledger = EmbeddedLedger(
        ws.ledger_url, ws.consortium, ws.log_signer(), witnesses=endpoints(ws.consortium)
    )
    try:
        referral = ev.referral_created(ev.pid())
        OrgClient(ledger, ws.signer("AGENCY-A")).submit(referral)
        OrgClient(ledger, ws.signer("AGENCY-B")).submit(
            ev.referral_step("accepted", referral["referral_id"])
        )
        settled(ledger)  # pushed to the witnesses in the background
    finally:
        ledger.close()
        witnesses.close()
    runner = CliRunner()
    rid, out = referral["referral_id"], tmp_path / "bundle.json"
    made = runner.invoke(
        cli, ["audit", "bundle", "--dir", str(ws.root), "--subject", rid, "--out", str(out)]
    )
    assert made.exit_code == 0, made.output
    consortium = str(ws.root / "consortium.json")
    good = runner.invoke(cli, ["audit", "verify", str(out), "--consortium", consortium])
    assert good.exit_code == 0, good.output
    assert json.loads(good.output)["ok"] is True
    stranger = Workspace.create(tmp_path / "stranger", DEMO)  # same names, other keys
    foreign = str(stranger.root / "consortium.json")
    refused = runner.invoke(cli, ["audit", "verify", str(out), "--consortium", foreign])
    assert refused.exit_code == 1
    assert "consortium_mismatch" in str(refused.exception)

    bundle = json.loads(out.read_text())
    bundle["evidence"]["entries"].pop()
    out.write_text(json.dumps(bundle))
    bad = runner.invoke(cli, ["audit", "verify", str(out), "--consortium", consortium])
    assert bad.exit_code == 1
    assert "missing_event" in str(bad.exception)

    pin = ["--consortium", consortium]
    chain = runner.invoke(cli, ["audit", "chain", "--dir", str(ws.root), *pin, rid])
    assert chain.exit_code == 0, chain.output
    assert chain.output.count("PASS") == 2

    state = str(tmp_path / "watch.json")
    watch = runner.invoke(
        cli, ["audit", "watch", "--dir", str(ws.root), *pin, "--state", state, "--count", "1"]
    )
    assert watch.exit_code == 0
    assert watch.output.startswith("first: size None -> 2")

    # Nothing cosigns the closed ledger again: a second later, its view is stale.
    time.sleep(2.1)
    aged = ["--state", state, "--count", "1", "--max-age", "1"]
    stale = runner.invoke(cli, ["audit", "watch", "--dir", str(ws.root), *pin, *aged])
    assert stale.exit_code == 1
    assert isinstance(stale.exception, LogStaleError)
    assert str(stale.exception).startswith("LOG STALE: the checkpoint of size 2 was last")


def test_verify_without_a_pinned_consortium_refuses_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "bundle.json"
    bundle.write_text("{}")
    monkeypatch.setattr(sys, "argv", ["ledger-gw", "audit", "verify", str(bundle)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip()
    assert "--consortium" in err
    assert "trust_root_not_pinned" in err
    assert len(err.splitlines()) == 1
