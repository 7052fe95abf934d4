"""End to end over HTTP against gunicorn: two workers, one appending process, one ledger."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from e2e_server import Server

from ledger_gw.embedded.verify import verify_ledger
from ledger_gw.workspace import Workspace
from tests.support import events as ev

pytestmark = pytest.mark.slow
TODAY = dt.datetime.now(dt.UTC).date()


# A month of food vouchers from today: every grant to one person overlaps the others.
VOUCHERS = {
    "assistance_type": "food",
    "modality": "voucher",
    "amount": "20",
    "start": TODAY.isoformat(),
    "end": (TODAY + dt.timedelta(days=30)).isoformat(),
}


def _grant(pid: str) -> dict[str, Any]:
    return ev.entitlement_granted(pid, **VOUCHERS)


def test_multi_agency_flow(server: Server) -> None:
    s = requests.Session()
    a, b, c = (server.headers(o) for o in ("AGENCY-A", "AGENCY-B", "AGENCY-C"))
    person = s.post(
        f"{server.url}/v1/registrations",
        headers=a,
        json={"attributes": {"given_name": "Amina", "date_of_birth": "1988-01-02"}},
        timeout=10,
    ).json()
    doc = s.post(
        f"{server.url}/v1/registrations/{person['person_id']}/documents",
        headers=a,
        json={"kind": "consent_form", "content": "signed"},
        timeout=10,
    ).json()
    pid = person["pid"]
    consent = ev.consent_granted(
        pid,
        grantees=["AGENCY-B", "AGENCY-C"],
        purposes=["referral", "service_continuity"],
        categories=["entitlements", "referrals"],
        expires=(TODAY + dt.timedelta(days=90)).isoformat(),
        form_hash=doc["hash"],
    )
    referral = ev.referral_created(
        pid,
        sector="protection",
        urgency="routine",
        document_hash=doc["hash"],
        consent_id=consent["consent_id"],
    )
    ref = referral["referral_id"]
    events = [consent, _grant(pid), referral]
    r = s.post(f"{server.url}/v1/events/batch", headers=a, json={"events": events}, timeout=30)
    assert r.json()["accepted"] == 3, r.json()
    accept = ev.referral_step("accepted", ref)
    assert s.post(f"{server.url}/v1/events", headers=b, json=accept, timeout=10).status_code == 201
    url = f"{server.url}/v1/persons/{pid}/history?purpose=service_continuity"
    seen = s.get(url, headers=c, timeout=10).json()["events"]
    assert {e["org"] for e in seen} == {"AGENCY-A", "AGENCY-B"}
    chain = s.get(f"{server.url}/v1/referrals/{ref}/chain", headers=b, timeout=10).json()
    assert chain["chain"][0]["state"] == "accepted"


def test_idempotent_resubmission(server: Server) -> None:
    a = server.headers("AGENCY-A")
    pid = "h." + "b" * 26
    batch = {"events": [_grant(pid) for _ in range(20)]}
    first = requests.post(f"{server.url}/v1/events/batch", headers=a, json=batch, timeout=30)
    size = requests.get(f"{server.url}/v1/checkpoints/latest", headers=a, timeout=10).json()
    again = requests.post(f"{server.url}/v1/events/batch", headers=a, json=batch, timeout=30)
    assert first.json()["accepted"] == 20
    assert again.json()["replayed"] == 20
    after = requests.get(f"{server.url}/v1/checkpoints/latest", headers=a, timeout=10).json()
    assert after["size"] == size["size"]


def test_a_batch_for_one_person_flags_each_earlier_grant(server: Server) -> None:
    """The worker runs every grant on one snapshot, where none sees the others; the
    appender must run each again after the first, so that each names all before it."""
    a = server.headers("AGENCY-A")
    pid = "h." + "c" * 26
    events = [_grant(pid) for _ in range(12)]
    r = requests.post(
        f"{server.url}/v1/events/batch", headers=a, json={"events": events}, timeout=30
    )
    assert r.json()["accepted"] == 12
    flagged = [item["result"]["possible_duplicate_of"] for item in r.json()["results"]]
    ids = [e["entitlement_id"] for e in events]
    assert [sorted(f) for f in flagged] == [sorted(ids[:i]) for i in range(12)]


def test_concurrent_writers_make_one_verifiable_log(server: Server) -> None:
    orgs = ("AGENCY-A", "AGENCY-B", "AGENCY-C")

    def work(i: int) -> int:
        headers = server.headers(orgs[i % 3])
        pid = "h." + "abcdefghijklmnopqrstuvwxyz"[i % 26] * 26
        body = {"events": [_grant(pid) for _ in range(25)]}
        with requests.Session() as s:
            accepted = 0
            for _ in range(4):
                r = s.post(f"{server.url}/v1/events/batch", headers=headers, json=body, timeout=60)
                accepted += r.json()["accepted"]
                body = {"events": [_grant(pid) for _ in range(25)]}
            single = s.post(f"{server.url}/v1/events", headers=headers, json=_grant(pid),
                            timeout=30)  # fmt: skip
            return accepted + (single.status_code == 201)

    before = requests.get(
        f"{server.url}/v1/checkpoints/latest", headers=server.headers("AGENCY-A"), timeout=10
    )
    start = before.json()["size"] if before.status_code == 200 else 0
    with ThreadPoolExecutor(8) as pool:
        total = sum(pool.map(work, range(8)))
    assert total == 8 * 101
    ws = Workspace.load(server.directory)
    report = verify_ledger(ws.ledger_url, ws.consortium)
    assert report.size == start + total
    metrics = requests.get(f"{server.url}/metrics", timeout=10).text
    assert "ledger_gw_events_total" in metrics


def _appender_pid(directory: Path) -> int:
    """The appending process that gunicorn's master started for this server."""
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"ledger_gw.embedded.appender" in cmdline and (
            f"--dir\0{directory}".encode() in b"\0".join(cmdline)
        ):
            return int(entry.name)
    raise AssertionError("no appender process")


def test_a_killed_appender_is_started_again(server: Server) -> None:
    ready = requests.get(f"{server.url}/readyz", timeout=10).json()
    assert ready["checks"]["appender"] == "ok"
    os.kill(_appender_pid(server.directory), signal.SIGKILL)
    statuses = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = requests.post(f"{server.url}/v1/events", headers=server.headers("AGENCY-A"),
                          json=_grant("h." + "q" * 26), timeout=30)  # fmt: skip
        statuses.append(r.status_code)
        if r.status_code == 201:
            break
        assert r.status_code == 503, r.text
        assert r.headers["Content-Type"] == "application/problem+json"
        time.sleep(0.2)
    assert statuses[-1] == 201, statuses
    assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 200
