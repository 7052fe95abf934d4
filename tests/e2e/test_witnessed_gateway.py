"""The gateway under gunicorn with two member witnesses, every one its own process.

The consortium file lists AGENCY-A's and AUDITOR-X's witnesses (their keys made in
their own directories) and a quorum of two. The gateway's appending process pushes
each new checkpoint to them; these tests write through HTTP and check what an
auditor sees, stop a witness and bring it back, and run a second log node on a
fork of the ledger that pushes to the same witnesses.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from ledger_gw.audit.verify import verify_bundle
from ledger_gw.bootstrap import open_gateway
from ledger_gw.client import OrgClient
from ledger_gw.consortium import Consortium, add_witness
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.witnessing import endpoints
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.note import has_cosigned
from ledger_gw.services.access import issue_token
from ledger_gw.services.config import GatewayConfig
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.gunicorn import free_port, gunicorn

pytestmark = pytest.mark.slow

WITNESSES = ("AGENCY-A", "AUDITOR-X")
TOKENS = (("AGENCY-A", "agency-writer"), ("AGENCY-B", "agency-writer"), ("AUDITOR-X", "auditor"))
WAIT_S = 30.0
ADMIN = "AGENCY-A/admin"  # who may ask the witnesses


@dataclass
class WitnessProcess:
    org: str
    home: Path
    port: int
    consortium: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            *(sys.executable, "-m", "ledger_gw.cli.witness", "serve"),
            *("--org", self.org, "--dir", str(self.home), "--port", str(self.port)),
            *("--consortium", str(self.consortium)),
        ]
        with (self.home / "witness.log").open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _until(lambda: _listening(self.url), f"{self.org}'s witness to listen")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)


@dataclass
class Site:
    url: str
    root: Path
    tokens: dict[str, str]
    witnesses: dict[str, WitnessProcess]

    @property
    def consortium(self) -> Consortium:
        return Consortium.load(self.root / "consortium.json")

    def call(self, method: str, org: str, path: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.tokens[org]}", **kw.pop("headers", {})}
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kw)

    def submit(self, org: str, event: dict[str, Any]) -> None:
        r = self.call("POST", org, "/v1/events", json=event)
        assert r.status_code in (200, 201), r.text

    def latest(self) -> str:
        r = self.call("GET", "AGENCY-A", "/v1/checkpoints/latest")
        assert r.status_code == 200, r.text
        return str(r.json()["note"])

    def cosigned_by(self, note: str) -> set[str]:
        return {w.org_id for w in endpoints(self.consortium) if has_cosigned(note, w.verifier)}


def _listening(url: str) -> bool:
    try:
        requests.get(url, timeout=1)
    except requests.ConnectionError:
        return False
    return True


def _until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("witnessed")
    root = base / "operator"
    Workspace.create(root, DEMO)
    witnesses: dict[str, WitnessProcess] = {}
    for n, org in enumerate(WITNESSES, start=1):
        home = base / "witnesses" / org  # outside the operator's directory
        made = subprocess.run(
            [sys.executable, "-m", "ledger_gw.cli.witness", "init", "--org", org, "--dir", home],
            capture_output=True,
            text=True,
            check=True,
        )
        witnesses[org] = WitnessProcess(org, home, free_port(), root / "consortium.json")
        add_witness(root / "consortium.json", org, made.stdout.strip(), witnesses[org].url, n)
    gw = open_gateway(GatewayConfig(directory=root))
    try:
        tokens = {org: issue_token(gw.store(org), gw.org_role(org), r)[1] for org, r in TOKENS}
        tokens[ADMIN] = issue_token(gw.store("AGENCY-A"), "agency", "admin")[1]
    finally:
        gw.close()
    for w in witnesses.values():
        w.start()
    try:
        with gunicorn(root, tmp_path_factory.mktemp("metrics")) as url:
            yield Site(url, root, tokens, witnesses)
    finally:
        for w in witnesses.values():
            w.stop()


def _chain(site: Site, referral_id: str) -> dict[str, Any]:
    r = site.call("GET", "AUDITOR-X", f"/v1/audit/referrals/{referral_id}/chain")
    assert r.status_code == 200, r.text
    return dict(r.json())


def _bundle_verifies(site: Site, referral_id: str) -> int:
    r = site.call("GET", "AUDITOR-X", f"/v1/audit/bundles?subject={referral_id}")
    assert r.status_code == 200, r.text
    consortium = site.consortium
    report = verify_bundle(r.json(), trusted_consortium=consortium, quorum=2)
    assert report.ok, report.failures
    assert sorted(report.anchor["witnesses"]) == ["witness.agency-a", "witness.auditor-x"]
    return int(report.anchor["tree_size"])


def test_chain_and_bundle_stay_green_after_new_writes(site: Site) -> None:
    referral = ev.referral_created(ev.pid())
    site.submit("AGENCY-A", referral)
    site.submit("AGENCY-B", ev.referral_step("accepted", referral["referral_id"]))
    _until(lambda: site.cosigned_by(site.latest()) == set(WITNESSES), "both cosignatures")
    verdict = _chain(site, referral["referral_id"])
    assert verdict["ok"] is True, verdict["failures"]
    first = _bundle_verifies(site, referral["referral_id"])
    for i in range(3):
        site.submit("AGENCY-A", ev.independent(i))
    _until(lambda: site.cosigned_by(site.latest()) == set(WITNESSES), "the new cosignatures")
    assert _chain(site, referral["referral_id"])["ok"] is True
    assert _bundle_verifies(site, referral["referral_id"]) == first + 3


def test_cosign_twice_is_409_and_beyond_the_log_is_404(site: Site) -> None:
    site.submit("AGENCY-A", ev.independent(10))
    _until(lambda: site.cosigned_by(site.latest()) == set(WITNESSES), "both cosignatures")
    twice = site.call("POST", ADMIN, "/v1/checkpoints/cosign", json={})
    assert (twice.status_code, twice.json()["code"]) == (409, "already_cosigned")
    for size in (10**6, 2**63, 10**30):
        data = f'{{"size": {size}}}'
        headers = {"Content-Type": "application/json"}
        beyond = site.call("POST", ADMIN, "/v1/checkpoints/cosign", data=data, headers=headers)
        # beyond the log: 404; beyond what JSON numbers carry exactly (2^53): 400 first
        expected = (404, "not_found") if size < 2**53 else (400, "number_out_of_range")
        assert (beyond.status_code, beyond.json()["code"]) == expected, beyond.text


def test_a_witness_down_stops_no_commit_and_its_cosignatures_resume(site: Site) -> None:
    auditor = site.witnesses["AUDITOR-X"]
    auditor.stop()
    try:
        for i in range(3):
            site.submit("AGENCY-A", ev.independent(20 + i))  # acknowledged all the same
        _until(lambda: site.cosigned_by(site.latest()) == {"AGENCY-A"}, "AGENCY-A's cosignature")
        note = site.latest()
        assert site.cosigned_by(note) == {"AGENCY-A"}
        asked = site.call("POST", ADMIN, "/v1/checkpoints/cosign", json={})
        assert (asked.status_code, asked.json()["code"]) == (503, "witnesses_unavailable")
    finally:
        auditor.start()
    site.submit("AGENCY-A", ev.independent(30))
    _until(lambda: site.cosigned_by(site.latest()) == set(WITNESSES), "the cosignatures back")


def test_a_fork_served_by_a_second_node_gets_no_cosignature(
    site: Site, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site.submit("AGENCY-A", ev.independent(40))
    _until(lambda: site.cosigned_by(site.latest()) == set(WITNESSES), "both cosignatures")
    fork_db = tmp_path / "fork.db"
    with (
        closing(sqlite3.connect(site.root / "ledger.db")) as live,
        closing(sqlite3.connect(fork_db)) as copy,
    ):
        live.backup(copy)
    for i in range(2):  # the log goes on
        site.submit("AGENCY-A", ev.independent(50 + i))
    _until(lambda: site.cosigned_by(site.latest()) == set(WITNESSES), "the log's cosignatures")
    ws = Workspace.load(site.root)
    caplog.set_level(logging.WARNING, logger="ledger_gw.embedded.witnessing")
    fork = EmbeddedLedger(
        f"sqlite:///{fork_db}", ws.consortium, ws.log_signer(), witnesses=endpoints(ws.consortium)
    )
    try:
        writer = OrgClient(fork, ws.signer("AGENCY-A"))
        for i in range(4):  # another history under the same log key, then beyond the log
            writer.submit(ev.independent(60 + i))
            assert fork.settle_witnesses(WAIT_S) is False
        note = fork.log.checkpoint()
        assert site.cosigned_by(note) == set()
        log_key = ckpt.NoteVerifier.from_vkey(ws.consortium.log_vkey)
        with pytest.raises(ckpt.CheckpointError):
            ckpt.open_checkpoint(note, log_key, ws.consortium.witness_verifiers(), 1)
    finally:
        fork.close()
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "refuses" in said or "beyond" in said, said
    assert site.cosigned_by(site.latest()) == set(WITNESSES)  # the log itself is unharmed
