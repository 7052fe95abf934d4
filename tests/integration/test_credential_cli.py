"""`ledger-gw credential issue|card|verify`: issued from a consortium directory, printed
as a card, verified from the card's image against a pinned consortium file, and online
through a member's gateway; forgeries fail with their codes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from PIL import Image

from ledger_gw.bootstrap import embedded_ledger
from ledger_gw.cli import cli
from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import CredentialError, ValidationError
from ledger_gw.workspace import Workspace
from tests.support import credentials as forge
from tests.support import events as ev
from tests.support.cli import clean_failure, run_cli
from tests.support.witnesses import TestWitnesses, settled

GRANT = ev.entitlement_granted(ev.pid())


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    created = Workspace.create(tmp_path / "ws", DEMO)
    witnesses = TestWitnesses(created, tmp_path / "witnesses", ["AUDITOR-X"], quorum=1)
    ws = witnesses.workspace
    for name in ("LEDGER_GW_LEDGER_URL", "LEDGER_GW_OFFCHAIN_URL", "LEDGER_GW_DIR"):
        monkeypatch.delenv(name, raising=False)
    ledger = embedded_ledger(ws)
    try:
        OrgClient(ledger, ws.signer("AGENCY-A")).submit(GRANT)
        settled(ledger)
    finally:
        ledger.close()
    yield ws
    witnesses.close()


def _run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_issue_card_verify(ws: Workspace, tmp_path: Path) -> None:
    text, png, pdf = tmp_path / "her.credential", tmp_path / "card.png", tmp_path / "card.pdf"
    pinned = ws.root / "consortium.json"
    made = _run("credential", "issue", "--dir", ws.root, "--org", "AGENCY-A",
                "--event", GRANT["event_id"], "--disclose", "programme", "--out", text)  # fmt: skip
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["disclosed"] == {"programme": "MPCA-2026"}
    sooner = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)).isoformat()
    asked = _run("credential", "issue", "--dir", ws.root, "--org", "AGENCY-A", "--event",
                 GRANT["event_id"], "--expires", sooner, "--out", tmp_path / "x")  # fmt: skip
    assert asked.exit_code == 0, asked.output
    assert json.loads(asked.output)["expires"] == f"{sooner}T00:00:00Z"
    for out in (png, pdf):
        printed = _run("credential", "card", text, "--consortium", pinned, "--out", out)
        assert printed.exit_code == 0, printed.output
    assert pdf.read_bytes().startswith(b"%PDF")

    for given in (text, png):
        checked = _run("credential", "verify", given, "--consortium", pinned)
        assert checked.exit_code == 0, checked.output
        report = json.loads(checked.output)
        assert (report["pid"], report["issuer"], report["status"]) == (
            GRANT["pid"], "AGENCY-A", "not checked")  # fmt: skip
        assert report["witnesses"] == ["witness.auditor-x"]

    unpinned = _run("credential", "verify", png, "--consortium", pinned, "--quorum", "2")
    assert isinstance(unpinned.exception, CredentialError)
    assert unpinned.exception.code == "credential_not_witnessed"
    nothing_pinned = _run("credential", "verify", png)
    assert isinstance(nothing_pinned.exception, ValidationError)
    assert nothing_pinned.exception.code == "trust_root_not_pinned"

    jwt, _disclosures, proof = forge.split(text.read_text())
    altered = tmp_path / "altered.credential"
    altered.write_text(forge.join(jwt, [forge.disclosure("programme", "X")], proof))
    bad = _run("credential", "verify", altered, "--consortium", pinned)
    assert isinstance(bad.exception, CredentialError)
    assert bad.exception.code == "credential_altered"
    no_card = _run("credential", "card", altered, "--consortium", pinned, "--out", png)
    assert isinstance(no_card.exception, CredentialError)


def test_a_photo_pillow_would_only_warn_of_is_refused_in_one_line(tmp_path: Path) -> None:
    """100 Mpx in 12 kB: past Pillow's warning (89 Mpx), short of its refusal (179)."""
    pinned = Workspace.create(tmp_path / "ws", DEMO).root / "consortium.json"
    photo = tmp_path / "photo.png"
    Image.new("1", (10_000, 10_000)).save(photo)
    done = run_cli("credential", "verify", str(photo), "--consortium", str(pinned))
    assert "credential_malformed" in clean_failure(done)
