"""A member that holds its CA's key, in a consortium that lists no signing keys, may mint
a certificate for every transaction: what the ledger or node keeps of the certificates it
checked stays bounded, and each is still judged."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

from ledger_gw import identity
from ledger_gw.demo.consortium import DEMO
from ledger_gw.identity import cert_pem, issue_member, load_certificate, load_signing_key
from ledger_gw.workspace import Workspace


def test_the_certificates_kept_checked_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.create(tmp_path / "ws", DEMO)
    org = ws.consortium.organisation("AGENCY-A")
    members = {**ws.consortium.organisations, "AGENCY-A": replace(org, signing_keys=())}
    authenticator = replace(ws.consortium, organisations=members).authenticator()
    monkeypatch.setattr(identity, "_MAX_KNOWN", 3)
    d = ws.root / "orgs" / "AGENCY-A"
    ca_key, ca_cert = load_signing_key(d / "ca.key"), load_certificate((d / "ca.pem").read_text())
    minted = [
        cert_pem(issue_member(ca_key, ca_cert, "AGENCY-A", "agency", f"gw{i}")[1]) for i in range(5)
    ]
    now = dt.datetime.now(dt.UTC)
    for pem in [*minted, minted[0]]:
        assert authenticator.identify(pem, now).org_id == "AGENCY-A"
        assert len(authenticator._known) <= 3
