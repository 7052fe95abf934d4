"""Offline capture: a gateway whose log node is down keeps events in its outbox and logs
them, in order and once each, when the node is back; the node's clock window judges the
logging, never the capture."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import requests

from ledger_gw.embedded.packing import unpack
from ledger_gw.log.entry import Entry
from ledger_gw.remote.outbox import Outbox
from ledger_gw.services.pages import encode
from ledger_gw.transaction import SignedTransaction, format_time, sign_proposal
from ledger_gw.workspace import Workspace
from tests.integration.remote.conftest import Agency, Site, _stop, _until, start_node
from tests.integration.remote.test_log_node import _client
from tests.support import events as ev

pytestmark = pytest.mark.slow


def _port(site: Site) -> int:
    return int(site.node_url.rsplit(":", 1)[1])


def _outbox(agency: Agency) -> dict[str, Any]:
    r = agency.call("GET", "/v1/outbox")
    assert r.status_code == 200, r.text
    return dict(r.json())


def _drained(agency: Agency) -> bool:
    return _outbox(agency)["totals"]["pending"] == 0


def _logged(site: Site) -> list[tuple[str, str, dict[str, Any]]]:
    """(tx_id, timestamp, event) of every submitted event in the node's log, in order."""
    with closing(sqlite3.connect(site.node / "ledger.db")) as db:
        rows = db.execute("select tx_id, timestamp, entry from log order by seq").fetchall()
        certificates = dict(db.execute("select ref, pem from certificates").fetchall())
    found = []
    for tx_id, timestamp, entry in rows:
        tx = SignedTransaction.of_entry(Entry.from_bytes(unpack(bytes(entry))), certificates)
        if tx.proposal.function == "submit":
            found.append((bytes(tx_id).hex(), str(timestamp), dict(tx.proposal.args[0])))
    return found


def _kill_hard(pid: int) -> None:
    """SIGKILL a process and its children (gunicorn's worker serves on without its master)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    os.kill(pid, signal.SIGKILL)
    for child in children:
        os.kill(int(child), signal.SIGKILL)


def _restart(site: Site) -> None:
    site.node_proc = start_node(site.node, _port(site))


def test_captured_while_the_node_is_down_logged_in_order_once(site: Site) -> None:
    a = site.agencies["AGENCY-A"]
    _stop(site.node_proc)
    person = ev.pid()
    consent = ev.consent_granted(person)
    referral = ev.referral_created(person)
    captured = [consent, ev.entitlement_granted(person), referral]
    for event in captured:
        r = a.call("POST", "/v1/events", json=event)
        assert r.status_code == 202, r.text
        assert (r.json()["event_id"], r.json()["status"]) == (event["event_id"], "queued")
    again = a.call("POST", "/v1/events", json=consent)  # a client's retry while offline
    assert again.status_code == 202
    listed = _outbox(a)
    assert [i["event_id"] for i in listed["pending"]] == [
        *(e["event_id"] for e in captured),
        consent["event_id"],
    ]
    assert listed["failed"] == []
    assert a.call("GET", "/readyz").status_code == 200  # still capturing: ready
    _restart(site)
    _until(lambda: _drained(a), "the outbox synced")
    logged = [e["event_id"] for _, _, e in _logged(site)]
    ours = [i for i in logged if i in {e["event_id"] for e in captured}]
    assert ours == [e["event_id"] for e in captured]  # in capture order, each once
    history = a.call("GET", f"/v1/persons/{person}/history", params={"purpose": "referral"})
    assert history.status_code == 200, history.text
    assert [e["event"]["event_id"] for e in history.json()["events"]] == ours
    replay = a.call("POST", "/v1/events", json=referral)
    assert replay.status_code == 200, replay.text  # already logged: the original result


def test_an_event_the_contract_refuses_on_sync_stays_failed(site: Site) -> None:
    a = site.agencies["AGENCY-A"]
    _stop(site.node_proc)
    stray = ev.referral_step("accepted", ev.uid())  # no such referral: refused on sync
    fine = ev.independent(3)
    for event in (stray, fine):
        assert a.call("POST", "/v1/events", json=event).status_code == 202
    (waiting,) = [i for i in _outbox(a)["pending"] if i["event_id"] == stray["event_id"]]
    pending = a.call("DELETE", f"/v1/outbox/{waiting['seq']}")
    assert (pending.status_code, pending.json()["code"]) == (409, "outbox_item_pending")
    _restart(site)
    _until(lambda: _drained(a), "the outbox synced")
    failed = _outbox(a)["failed"]
    assert [i["event_id"] for i in failed] == [stray["event_id"]]
    assert failed[0]["error"]["kind"] != "unavailable"
    assert failed[0]["seq"] == waiting["seq"]
    logged = {e["event_id"] for _, _, e in _logged(site)}
    assert fine["event_id"] in logged
    assert stray["event_id"] not in logged
    b = site.agencies["AGENCY-B"]
    assert _outbox(b)["failed"] == []  # one organisation's outbox is not another's
    assert failed[0]["type"] == "referral.accepted"
    shown = _dashboard_outbox(a)
    assert stray["event_id"] in shown
    assert "referral.accepted" in shown
    assert failed[0]["captured_at"] in shown
    assert failed[0]["error"]["code"] in shown
    assert fine["event_id"] not in shown  # logged: not a refusal
    assert stray["event_id"] not in _dashboard_outbox(b)
    assert "No refused events" in _dashboard_outbox(b)
    # dismissing on the dashboard asks first, showing what would go
    get = _dashboard(a)
    confirm = get(f"/dashboard/outbox/{waiting['seq']}/dismiss")
    assert confirm.status_code == 200, confirm.text
    assert stray["event_id"] in confirm.text
    assert failed[0]["error"]["code"] in confirm.text
    assert 'id="confirm-dismiss"' in confirm.text
    assert _outbox(a)["failed"] == failed  # asking is not dismissing
    for seq in (waiting["seq"] + 1, 0, 10**30):  # logged, or never an item: no refusal
        assert get(f"/dashboard/outbox/{seq}/dismiss").status_code == 404
    assert _dashboard(b)(f"/dashboard/outbox/{waiting['seq']}/dismiss").status_code == 404
    anonymous = requests.get(a.url + "/dashboard/outbox", timeout=30, allow_redirects=False)
    assert anonymous.status_code == 302
    assert "/dashboard/login" in anonymous.headers["Location"]
    # its refusal dealt with, the caller dismisses it: once
    dismissed = a.call("DELETE", f"/v1/outbox/{waiting['seq']}")
    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json() == failed[0]
    assert _outbox(a)["failed"] == []
    for seq in (waiting["seq"], 10**30):  # dismissed already; no such number
        again = a.call("DELETE", f"/v1/outbox/{seq}")
        assert (again.status_code, again.json()["code"]) == (404, "outbox_item_not_found")
        assert again.headers["Content-Type"] == "application/problem+json"


def test_a_long_outbox_is_read_a_page_at_a_time(site: Site) -> None:
    """Pages follow one another by their `next` (also a `Link` header) in capture order,
    nothing skipped or repeated, with the whole outbox's totals; a cursor, limit or state
    the list does not give is refused."""
    a = site.agencies["AGENCY-A"]
    _stop(site.node_proc)
    try:
        events = [ev.independent(i) for i in range(7)]
        ours = [event["event_id"] for event in events]
        for event in events:
            assert a.call("POST", "/v1/events", json=event).status_code == 202
        seen: list[str] = []
        params: dict[str, Any] = {"state": "pending", "limit": 3}
        while True:
            r = a.call("GET", "/v1/outbox", params=params)
            assert r.status_code == 200, r.text
            page = r.json()
            assert page["failed"] == []
            assert 0 < len(page["pending"]) <= 3
            seen += [item["event_id"] for item in page["pending"]]
            if page["next"] is None:
                assert "Link" not in r.headers
                break
            assert "cursor=" + page["next"] in r.links["next"]["url"]
            params["cursor"] = page["next"]
        assert len(seen) == len(set(seen)) == page["totals"]["pending"]
        assert [e for e in seen if e in ours] == ours
        first = a.call("GET", "/v1/outbox", params={"limit": 1}).json()
        assert len(first["pending"] + first["failed"]) == 1
        assert first["totals"] == page["totals"]
        for bad in (
            {"cursor": "bm9wZQ"},
            {"cursor": encode("outbox", ("9" * 30,))},
            {"cursor": encode("outbox", ("+1",))},
            {"limit": 0},
            {"limit": 201},
            {"state": "logged"},
        ):
            refused = a.call("GET", "/v1/outbox", params=bad)
            assert refused.status_code == 422, bad
            assert refused.headers["Content-Type"] == "application/problem+json"
    finally:
        _restart(site)
    _until(lambda: _drained(a), "the outbox synced")


def _dashboard_outbox(agency: Agency) -> str:
    """The dashboard's refused-events page, as the agency's logged-in caseworker."""
    page = _dashboard(agency)("/dashboard/outbox")
    assert page.status_code == 200, page.text
    return page.text


def _dashboard(agency: Agency) -> Callable[[str], requests.Response]:
    """GET as the agency's logged-in caseworker (the session cookie is Secure: carried by
    hand over the loopback's plain HTTP)."""
    jar: dict[str, str] = {}

    def get(path: str, **kw: Any) -> requests.Response:
        return visit("GET", path, **kw)

    def visit(method: str, path: str, **kw: Any) -> requests.Response:
        cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
        r = requests.request(
            method, agency.url + path, headers={"Cookie": cookie}, timeout=30, **kw
        )
        jar.update(r.cookies.get_dict())
        return r

    match = re.search(r'name="csrf" value="([^"]+)"', get("/dashboard/login").text)
    assert match is not None
    form = {"csrf": match.group(1), "token": agency.token}
    logged_in = visit("POST", "/dashboard/login", data=form, allow_redirects=False)
    assert logged_in.status_code == 302, logged_in.text
    assert 'id="outbox-link"' in get("/").text  # the landing page links it
    return get


def test_a_gateway_offline_for_a_day_syncs_with_both_times(site: Site) -> None:
    a = site.agencies["AGENCY-A"]
    ws = Workspace.load(site.operator)
    day_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    event = ev.independent(4)
    stale = sign_proposal(ws.signer("AGENCY-A"), "submit", [event], clock=lambda: day_ago)
    node = _client(a.root, "AGENCY-A", site.node_url)
    (refused,) = node.post("/v1/node/submit", {"transactions": [stale.to_dict()]})["outcomes"]
    assert refused["error"]["code"] == "clock_skew"  # the window holds for the logging
    _stop(site.node_proc)
    outbox = Outbox(a.root / "orgs" / "AGENCY-A" / "outbox.db", ws.signer("AGENCY-A"))
    outbox.capture([stale])  # what the gateway kept a day ago
    _restart(site)
    _until(lambda: _drained(a), "the day-old capture synced")
    (logged,) = [(t, ts, e) for t, ts, e in _logged(site) if e["event_id"] == event["event_id"]]
    tx_id, logged_at, kept = logged
    assert kept["captured_at"] == format_time(day_ago)  # when it happened
    skew = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(logged_at[:-1] + "+00:00")
    assert skew < dt.timedelta(minutes=5)  # when it was logged
    assert tx_id != stale.tx_id  # signed again within the window, the same event


def test_the_node_killed_mid_submission_loses_and_duplicates_nothing(site: Site) -> None:
    """Batches go out back to back while the node is killed: the batch in flight may be
    appended and never answered; the gateway keeps it, and the same signed transactions
    resubmitted replay instead of appending twice."""
    a = site.agencies["AGENCY-A"]
    before = len(_logged(site))
    sent: list[dict[str, Any]] = []
    answers: list[Any] = []
    killed = threading.Event()

    def submit() -> None:
        after_kill = 0
        while after_kill < 2:
            batch = [ev.independent(len(sent) + i) for i in range(10)]
            sent.extend(batch)
            answers.append(a.call("POST", "/v1/events/batch", json={"events": batch}))
            after_kill += killed.is_set()

    sender = threading.Thread(target=submit)
    sender.start()
    _until(lambda: len(_logged(site)) > before + 40, "appends under way")
    _kill_hard(site.node_proc.pid)  # the worker too: no graceful answer
    site.node_proc.wait()
    killed.set()
    sender.join()
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    results = [item for r in answers for item in r.json()["results"]]
    statuses = Counter(item["status"] for item in results)
    assert statuses["queued"] >= 10, statuses  # at least the batches sent after the kill
    assert statuses["rejected"] == 0, statuses
    _restart(site)
    _until(lambda: _drained(a), "the outbox synced")
    ids = [e["event_id"] for _, _, e in _logged(site)]
    counts = Counter(ids)
    assert [e["event_id"] for e in sent if counts[e["event_id"]] != 1] == []
    ours = {e["event_id"] for e in sent}
    assert [i for i in _outbox(a)["failed"] if i["event_id"] in ours] == []
    assert [i for i in ids if i in ours] == [e["event_id"] for e in sent]  # in order
    assert json.loads(a.call("GET", "/readyz").text)["checks"]["outbox"] == "0 pending"


def test_an_appended_but_unanswered_batch_replays_from_the_outbox(site: Site) -> None:
    """The node appended the transactions and its answer was lost: the outbox holds the
    very same signed transactions, and syncing them appends nothing more."""
    a = site.agencies["AGENCY-A"]
    ws = Workspace.load(site.operator)
    signer = ws.signer("AGENCY-A")
    txs = [sign_proposal(signer, "submit", [ev.independent(i)]) for i in range(5)]
    node = _client(a.root, "AGENCY-A", site.node_url)
    outcomes = node.post("/v1/node/submit", {"transactions": [t.to_dict() for t in txs]})
    assert all(o["error"] is None for o in outcomes["outcomes"])  # appended; answer "lost"
    size = len(_logged(site))
    _stop(site.node_proc)
    Outbox(a.root / "orgs" / "AGENCY-A" / "outbox.db", signer).capture(txs)
    _restart(site)
    _until(lambda: _drained(a), "the outbox synced")
    assert len(_logged(site)) == size
    mine = {t.tx_id for t in txs}
    assert [i for i in _outbox(a)["failed"] if i["tx_id"] in mine] == []
