"""`ledger-gw consortium up`: the whole embedded topology from one consortium directory,
as processes, each party given only its own directory; Ctrl-C stops them all."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from ledger_gw.consortium import Consortium
from ledger_gw.log.checkpoint import open_checkpoint
from ledger_gw.log.note import NoteVerifier
from ledger_gw.remote import tls
from ledger_gw.remote.client import NodeClient
from ledger_gw.topology.processes import cli
from tests.support import events as ev

pytestmark = pytest.mark.slow

AGENCIES = ("AGENCY-A", "AGENCY-B", "AGENCY-C")
WITNESSES = ("AGENCY-A", "AUDITOR-X")
LINE = re.compile(r"^(Log node|Witness|Gateway)\s+(?:(\S+)\s+)?(\S+://\S+)(?:\s+token (\S+))?")


def _read_until_ready(proc: subprocess.Popen[str]) -> list[str]:
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        if line.startswith("ready"):
            return lines
    raise AssertionError("the launcher stopped before it was ready:\n" + "\n".join(lines))


def _call(url: str, token: str, method: str, path: str, **kw: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.request(method, url + path, headers=headers, timeout=60, **kw)


def _receipts_checked(url: str) -> bool:
    checks = requests.get(f"{url}/readyz", timeout=10).json()["checks"]
    return str(checks["log_node_receipts"]).startswith("0 pending")


def _private_keys(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*.key")}


def test_the_launcher_runs_every_party_apart(tmp_path: Path) -> None:
    operator, site = tmp_path / "consortium", tmp_path / "site"
    command = cli("consortium", "up", "--dir", str(operator), "--site", str(site))
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = _read_until_ready(proc)
        found = [m.groups() for m in map(LINE.match, lines) if m]
        gateways = {org: (url, token) for kind, org, url, token in found if kind == "Gateway"}
        witnesses = {org: url for kind, org, url, _ in found if kind == "Witness"}
        node_url = next(url for kind, _, url, _ in found if kind == "Log node")
        assert sorted(gateways) == list(AGENCIES)
        assert sorted(witnesses) == list(WITNESSES)

        # an event through AGENCY-A's gateway, to the node; AGENCY-B reads it under consent
        a_url, a_token = gateways["AGENCY-A"]
        person = _call(
            a_url, a_token, "POST", "/v1/registrations", json={"attributes": {"given_name": "Amal"}}
        )
        assert person.status_code == 201, person.text
        pid = person.json()["pid"]
        granted = _call(a_url, a_token, "POST", "/v1/events", json=ev.consent_granted(pid))
        assert granted.status_code == 201, granted.text
        b_url, b_token = gateways["AGENCY-B"]
        history = _call(
            b_url, b_token, "GET", f"/v1/persons/{pid}/history", params={"purpose": "referral"}
        )
        assert history.status_code == 200, history.text
        assert [e["event"]["type"] for e in history.json()["events"]] == ["consent.granted"]
        assert history.json()["events"][0]["org"] == "AGENCY-A"

        # both witnesses cosign the node's head, which covers the append
        deadline = time.monotonic() + 60
        while not _receipts_checked(a_url):
            assert time.monotonic() < deadline, "the append was never covered by a cosigned head"
            time.sleep(0.5)
        a_root = site / "AGENCY-A"
        org_dir = a_root / "orgs" / "AGENCY-A"
        client = NodeClient(
            node_url,
            tls.client_context(
                a_root / "node" / "tls.pem", org_dir / "tls-client.pem", org_dir / "tls-client.key"
            ),
        )
        consortium = Consortium.load(operator / "consortium.json")  # the operator's, pinned
        trusted = client.get("/v1/node/checkpoint/trusted")
        verified = open_checkpoint(
            trusted["note"],
            NoteVerifier.from_vkey(consortium.log_vkey),
            consortium.witness_verifiers(),
            quorum=len(WITNESSES),
            origin=consortium.origin,
        )
        assert verified.checkpoint.size >= 1
        assert len(verified.cosignatures) == len(WITNESSES)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out

    # every party holds only its own keys
    everyone = _private_keys(operator)
    assert sorted(p.name for p in (site / "node").iterdir() if p.is_dir()) == ["node"]
    assert not (site / "node" / "orgs").exists()
    assert sorted(p.name for p in _private_keys(site / "node")) == ["log.key", "tls.key"]
    for org in AGENCIES:
        root = site / org
        assert [p.name for p in (root / "orgs").iterdir()] == [org]
        mine = {p.relative_to(root) for p in _private_keys(root)}
        assert all(
            p.parts[:2] == ("orgs", org)
            for p in mine - {Path("pseudonym.key"), Path("session.key")}
        ), mine
        theirs = {
            data
            for path, data in everyone.items()
            if "orgs" in path.parts and org not in path.parts
        }
        held = set(_private_keys(root).values())
        assert not held & theirs, f"{org}'s directory holds another party's key"
        assert everyone[operator / "node" / "log.key"] not in held
        assert list(root.glob("offchain-*.db"))  # its own off-chain database, here
    for org in WITNESSES:
        assert not (site / f"witness-{org}" / "orgs").exists()
    # and nothing of theirs is left listening
    for url, _ in gateways.values():
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/readyz", timeout=5)
