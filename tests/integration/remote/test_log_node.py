"""Agencies on their own machines: gateways append through a log node over mutual TLS."""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import sqlite3
import ssl
import struct
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from click.testing import CliRunner

from chaincode.canonical import canonical_json
from ledger_gw.cli import cli
from ledger_gw.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    IntegrityError,
    InternalError,
    NotFoundError,
    UnavailableError,
    ValidationError,
)
from ledger_gw.files import SECRET, write_file
from ledger_gw.identity import (
    cert_pem,
    issue_ca,
    issue_member,
    key_pem,
    load_certificate,
    load_signing_key,
)
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.entry import Entry
from ledger_gw.log.note import Note
from ledger_gw.pii_guard import DATE_WINDOW
from ledger_gw.remote import tls
from ledger_gw.remote.claims import ClaimIndex
from ledger_gw.remote.client import NodeClient
from ledger_gw.remote.ledger import RemoteLedger, RemoteLog
from ledger_gw.remote.outbox import Outbox
from ledger_gw.remote.receipts import Receipts
from ledger_gw.remote.wire import batch_to_dict, outcome_from_dict
from ledger_gw.transaction import SignedTransaction, sign_proposal
from ledger_gw.workspace import Workspace
from tests.integration.remote.conftest import Agency, Site, _stop, _until, caught, start_node
from tests.support import events as ev
from tests.support.certificates import with_twin_signature

pytestmark = pytest.mark.slow

NAME = "Zainab-Quetzalcoatl"  # a test person's registration data, to look for in bytes
BIRTH = "1977-03-14"


def test_register_grant_refer_and_history_through_the_node(site: Site) -> None:
    a, b = site.agencies["AGENCY-A"], site.agencies["AGENCY-B"]
    person = a.call(
        "POST",
        "/v1/registrations",
        json={"attributes": {"given_name": NAME, "date_of_birth": BIRTH}},
    )
    assert person.status_code == 201, person.text
    pid = person.json()["pid"]
    for event in (ev.consent_granted(pid), ev.entitlement_granted(pid)):
        r = a.call("POST", "/v1/events", json=event)
        assert r.status_code == 201, r.text
    referral = ev.referral_created(pid)
    assert a.call("POST", "/v1/events", json=referral).status_code == 201
    accepted = b.call(
        "POST", "/v1/events", json=ev.referral_step("accepted", referral["referral_id"])
    )
    assert accepted.status_code == 201, accepted.text
    history = b.call("GET", f"/v1/persons/{pid}/history", params={"purpose": "referral"})
    assert history.status_code == 200, history.text
    seen = [(e["org"], e["event"]["type"]) for e in history.json()["events"]]
    assert seen == [
        ("AGENCY-A", "consent.granted"),
        ("AGENCY-A", "entitlement.granted"),
        ("AGENCY-A", "referral.created"),
        ("AGENCY-B", "referral.accepted"),
    ]


def _client(root: Path, org: str, node_url: str) -> NodeClient:
    org_dir = root / "orgs" / org
    context = tls.client_context(
        root / "node" / "tls.pem", org_dir / "tls-client.pem", org_dir / "tls-client.key"
    )
    return NodeClient(node_url, context)


def test_a_certificate_from_no_member_ca_is_refused_at_the_handshake(
    site: Site, tmp_path: Path
) -> None:
    ca_key, ca_cert = issue_ca("AGENCY-A")  # a CA the consortium does not list
    key, cert = issue_member(ca_key, ca_cert, "AGENCY-A", "agency", "impostor")
    (tmp_path / "c.pem").write_text(cert_pem(cert))
    write_file(tmp_path / "c.key", key_pem(key), SECRET)
    a = site.agencies["AGENCY-A"].root
    context = tls.client_context(a / "node" / "tls.pem", tmp_path / "c.pem", tmp_path / "c.key")
    with pytest.raises(UnavailableError):
        NodeClient(site.node_url, context).get("/v1/node/size")


def test_a_revoked_client_certificate_reads_nothing_more(site: Site, tmp_path: Path) -> None:
    """A gateway's TLS key stolen: its member issues another, and the node's operator
    revokes the old one, which the node refuses from the next request on (no restart),
    on a connection already open too. The member's other certificate, from the same CA,
    is let in."""
    a = site.agencies["AGENCY-A"]
    org = a.root / "orgs" / a.org
    stolen = tmp_path / "stolen"
    stolen.mkdir()
    for name in ("ca.key", "ca.pem"):
        write_file(stolen / name, (org / name).read_bytes(), SECRET)
    consortium = Workspace.load(a.root).consortium
    pem = tls.issue_client_certificate(stolen, consortium, a.org)
    context = tls.client_context(a.root / "node" / "tls.pem", pem, stolen / "tls-client.key")
    thief = NodeClient(site.node_url, context)
    assert thief.get("/v1/node/size")["size"] >= 0  # kept alive from here on
    revoked = CliRunner().invoke(cli, ["log", "revoke-client", "--dir", str(site.node), str(pem)])
    assert revoked.exit_code == 0, revoked.output
    # The same certificate with its CA's signature swapped for its twin: other bytes,
    # as valid, made without the CA's key, refused as well.
    twin = tmp_path / "twin.pem"
    twin.write_text(cert_pem(with_twin_signature(load_certificate(pem.read_text()))))
    twin_context = tls.client_context(a.root / "node" / "tls.pem", twin, stolen / "tls-client.key")
    for client in (thief, NodeClient(site.node_url, twin_context)):
        for path, params in (("/v1/node/size", {}), ("/v1/node/entries", {"begin": 0, "end": 1})):
            with pytest.raises(AuthenticationError) as refused:
                client.get(path, **params)
            assert refused.value.code == "revoked_client_certificate"
        client.close()
    assert _client(a.root, a.org, site.node_url).get("/v1/node/size")["size"] >= 0


@pytest.mark.parametrize("which", ["current", "rotated-out"])
def test_a_signing_key_opens_no_connection_to_the_node(
    site: Site, tmp_path: Path, which: str
) -> None:
    """Whoever holds a member's signing key (stolen, and since rotated out, say) cannot
    present it as the member's TLS identity: it is issued by the member's CA for its
    role, but not for TLS, and reads nothing there."""
    a = site.agencies["AGENCY-A"]
    org = a.root / "orgs" / a.org
    cert, key = org / "signer.pem", org / "signer.key"
    if which == "rotated-out":  # the member's CA's, as a rotation issues it, listed nowhere
        ca_cert = Workspace.load(site.operator).consortium.organisation(a.org).ca_cert
        ca_key = load_signing_key(org / "ca.key")
        issued_key, issued = issue_member(ca_key, ca_cert, a.org, "agency", "gateway.agency-a")
        cert, key = tmp_path / "c.pem", tmp_path / "c.key"
        cert.write_text(cert_pem(issued))
        write_file(key, key_pem(issued_key), SECRET)
    context = tls.client_context(a.root / "node" / "tls.pem", cert, key)
    client = NodeClient(site.node_url, context)
    with pytest.raises(AuthenticationError, match="not a TLS client certificate") as refused:
        client.get("/v1/node/size")
    assert refused.value.code == "wrong_certificate_use"
    with pytest.raises(AuthenticationError):
        client.get("/v1/node/entries", begin=0, end=1)
    # the member's TLS client certificate, from the same CA, is let in
    assert _client(a.root, a.org, site.node_url).get("/v1/node/size")["size"] >= 0


def _address(site: Site) -> tuple[str, int]:
    host, port = site.node_url.removeprefix("https://").rsplit(":", 1)
    return host, int(port)


def _member_socket(site: Site) -> ssl.SSLSocket:
    a = site.agencies["AGENCY-A"]
    org = a.root / "orgs" / a.org
    context = tls.client_context(
        a.root / "node" / "tls.pem", org / "tls-client.pem", org / "tls-client.key"
    )
    raw = socket.create_connection(_address(site), timeout=10)
    return context.wrap_socket(raw, server_hostname=_address(site)[0])


def _answer(conn: ssl.SSLSocket, request: bytes) -> bytes:
    """The status line the node sends back within the socket's timeout."""
    conn.sendall(request)
    return conn.recv(4096).split(b"\r\n", 1)[0]


SIZE = b"GET /v1/node/size HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize(
    "stall",
    [
        pytest.param("handshake", id="anyone-half-a-tls-hello"),
        pytest.param("request", id="a-member-half-a-request"),
    ],
)
def test_clients_that_never_finish_do_not_stall_the_node(site: Site, stall: str) -> None:
    held: list[socket.socket] = []
    try:
        for _ in range(3 * 8):  # three times the node's threads
            if stall == "handshake":  # no certificate needed to get this far
                conn = socket.create_connection(_address(site), timeout=10)
                conn.sendall(b"\x16\x03\x01\x02\x00\x01")  # a ClientHello's first bytes
            else:
                conn = _member_socket(site)
                conn.sendall(b"POST /v1/node/submit HTTP/1.1\r\nHost: node\r\n")
            held.append(conn)
        time.sleep(6)  # past the moment a thread would take each of them on
        with _member_socket(site) as member:
            assert _answer(member, SIZE) == b"HTTP/1.1 200 OK"
    finally:
        for conn in held:
            conn.close()


def test_connections_reset_before_they_are_read_do_not_end_the_worker(site: Site) -> None:
    """Anyone may connect and reset at once (no certificate needed): the worker's event
    loop wraps each connection for TLS, which a reset one makes fail."""
    log = site.node / "node.log"
    before = log.read_text().count("exited with code")
    for _ in range(300):
        conn = socket.create_connection(_address(site), timeout=10)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
    with _member_socket(site) as member:
        assert _answer(member, SIZE) == b"HTTP/1.1 200 OK"
    assert log.read_text().count("exited with code") == before


def test_a_body_past_the_nodes_limit_is_refused_unread(site: Site) -> None:
    with _member_socket(site) as member:
        head = (
            b"POST /v1/node/submit HTTP/1.1\r\nHost: node\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n"
        )
        assert _answer(member, head + b"{" * 4096).startswith(b"HTTP/1.1 413 ")


def test_one_member_cannot_submit_or_query_as_another(site: Site) -> None:
    ws = Workspace.load(site.operator)
    as_a = sign_proposal(ws.signer("AGENCY-A"), "submit", [ev.independent(900)])
    b = _client(site.agencies["AGENCY-B"].root, "AGENCY-B", site.node_url)
    before = b.get("/v1/node/size")["size"]
    with pytest.raises(ForbiddenError, match="signed by AGENCY-A"):
        b.post("/v1/node/submit", {"transactions": [as_a.to_dict()]})
    query = sign_proposal(ws.signer("AGENCY-A"), "history", ["k1.x", "referral"])
    with pytest.raises(ForbiddenError):
        b.post("/v1/node/evaluate", {"transaction": query.to_dict()})
    assert b.get("/v1/node/size")["size"] == before  # nothing written
    # A's own submission, replayed by B's gateway, is still A's: refused the same way
    a = _client(site.agencies["AGENCY-A"].root, "AGENCY-A", site.node_url)
    (outcome,) = a.post("/v1/node/submit", {"transactions": [as_a.to_dict()]})["outcomes"]
    assert outcome["error"] is None
    with pytest.raises(ForbiddenError):
        b.post("/v1/node/submit", {"transactions": [as_a.to_dict()]})
    # the entries a gateway reads to check its receipts: its own only
    at = {"begin": outcome["position"], "end": outcome["position"] + 1}
    assert a.get("/v1/node/entries", **at)["entries"][0] is not None
    assert b.get("/v1/node/entries", **at)["entries"] == [None]


# Personal data in disguise that the contract's patterns admit: only the consortium file
# tells a member's ID from a name, a listed programme from a place of birth.
IN_DISGUISE = {
    "a name as to_org": (ev.referral_created(ev.pid(), to_org="FATIMA-ALHASSAN"), "to_org"),
    "names as grantees": (ev.consent_granted(ev.pid(), grantees=["ALHASSAN"]), "grantees"),
    "a phone number as amount": (ev.entitlement_granted(ev.pid(), amount="963944123456"), "amount"),
    "a birth date as start": (ev.entitlement_granted(ev.pid(), start="1987-04-12"), "start"),
    "an unlisted programme": (
        ev.entitlement_granted(ev.pid(), programme="FATIMA-ALEPPO"),
        "programme",
    ),
    "a capture stated at birth": (
        ev.entitlement_granted(
            ev.pid(), start="1987-04-12", captured_at="1987-04-12T08:00:00.000000Z"
        ),
        "captured_at",
    ),
}


def _hand_over(node: NodeClient, txs: list[SignedTransaction]) -> list[Any]:
    answer = node.post("/v1/node/submit", batch_to_dict(txs))
    return [outcome_from_dict(o) for o in answer["outcomes"]]


@pytest.mark.parametrize("how", IN_DISGUISE)
def test_a_member_bypassing_its_gateway_is_held_to_the_vocabulary(site: Site, how: str) -> None:
    """A member signs what its own gateway would have refused and hands it to the node
    directly: the node refuses that transaction, with the gateway's code and field, and
    appends nothing of it; the honest ones around it go on, as around one the contract
    refuses (an outbox then marks it failed, and is not stuck behind it)."""
    event, field = IN_DISGUISE[how]
    signer = Workspace.load(site.operator).signer("AGENCY-A")
    honest = [sign_proposal(signer, "submit", [ev.independent(n)]) for n in (910, 911)]
    hostile = sign_proposal(signer, "submit", [event])
    a = _client(site.agencies["AGENCY-A"].root, "AGENCY-A", site.node_url)
    before = a.get("/v1/node/size")["size"]
    first, refused, last = _hand_over(a, [honest[0], hostile, honest[1]])
    assert isinstance(refused.error, ValidationError)
    assert (refused.error.code, refused.error.field, refused.position) == (
        "implausible_value",
        field,
        None,
    )
    assert first.position is not None
    assert last.position is not None
    assert a.get("/v1/node/size")["size"] == before + 2


def test_an_honest_batch_handed_over_directly_still_appends(site: Site) -> None:
    signer = Workspace.load(site.operator).signer("AGENCY-A")
    events = [ev.independent(i) for i in range(920, 923)] + [
        ev.consent_granted(ev.pid(), grantees=["AGENCY-B", "AGENCY-C"])
    ]
    a = _client(site.agencies["AGENCY-A"].root, "AGENCY-A", site.node_url)
    before = a.get("/v1/node/size")["size"]
    outcomes = _hand_over(a, [sign_proposal(signer, "submit", [e]) for e in events])
    assert [o.error for o in outcomes] == [None] * 4
    assert a.get("/v1/node/size")["size"] == before + 4


def test_an_outbox_capture_days_old_is_judged_by_the_day_it_was_captured(
    site: Site, tmp_path: Path
) -> None:
    """Its start was within the window of the day it was captured, no longer of today:
    the outbox signs it again with its capture time, and the node judges by that."""
    signer = Workspace.load(site.operator).signer("AGENCY-A")
    captured = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    start = captured.date() - DATE_WINDOW + dt.timedelta(days=1)
    event = ev.entitlement_granted(ev.pid(), start=start.isoformat())
    outbox = Outbox(tmp_path / "o.db", signer, clock=lambda: captured)
    outbox.capture([sign_proposal(signer, "submit", [event], clock=lambda: captured)])
    outbox.clock = lambda: dt.datetime.now(dt.UTC)
    a = _client(site.agencies["AGENCY-A"].root, "AGENCY-A", site.node_url)
    before = a.get("/v1/node/size")["size"]
    try:
        assert outbox.sync(lambda txs: _hand_over(a, list(txs))) == 1
        assert outbox.counts() == {"pending": 0, "failed": 0}
    finally:
        outbox.close()
    assert a.get("/v1/node/size")["size"] > before


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/node/checkpoint", {"size": "\u00b2"}),  # a digit to str.isdigit, not to int()
        ("/v1/node/checkpoint", {"size": "\u0663"}),  # an Arabic-Indic three
        ("/v1/node/entries", {"begin": 2**63, "end": 2**63 + 1}),  # beyond SQLite's integers
    ],
)
def test_numbers_the_node_cannot_read_are_refused(
    site: Site, path: str, params: dict[str, Any]
) -> None:
    a = _client(site.agencies["AGENCY-A"].root, "AGENCY-A", site.node_url)
    with pytest.raises(ValidationError, match="whole number"):
        a.get(path, **params)
    assert a.get("/v1/node/size")["size"] >= 0


def test_the_node_holds_no_registration_data(site: Site) -> None:
    found = [
        path
        for path in site.node.rglob("*")
        if path.is_file() and any(s.encode() in path.read_bytes() for s in (NAME, BIRTH))
    ]
    assert found == []
    agency = site.agencies["AGENCY-A"].root
    assert any(NAME.encode() in p.read_bytes() for p in agency.glob("offchain-*.db*"))


def _checked(agency: Agency) -> bool:
    r = agency.call("GET", "/readyz")
    assert r.status_code == 200, r.text
    return str(r.json()["checks"]["log_node_receipts"]).startswith("0 pending")


def _unchecked_receipts(a: Agency, tmp_path: Path) -> Path:
    """A copy of the gateway's receipts (one at least), all waiting to be checked again."""
    r = a.call("POST", "/v1/events", json=ev.independent(0))
    assert r.status_code == 201, r.text
    _until(lambda: _checked(a), "every acknowledged append checked against cosigned heads")
    copy = tmp_path / "receipts.db"
    live = sqlite3.connect(a.root / "orgs" / "AGENCY-A" / "receipts.db")
    with closing(live), closing(sqlite3.connect(copy)) as db:
        live.backup(db)  # the file and its write-ahead log
    with closing(sqlite3.connect(copy)) as db, db:
        db.execute("update acknowledged set verified = 0")
        db.execute("delete from trusted")
    return copy


def _node_as(a: Agency, site: Site, node_class: type[NodeClient]) -> NodeClient:
    org_dir = a.root / "orgs" / a.org
    context = tls.client_context(
        a.root / "node" / "tls.pem", org_dir / "tls-client.pem", org_dir / "tls-client.key"
    )
    return node_class(site.node_url, context)


def test_a_forged_proof_is_caught(site: Site, tmp_path: Path) -> None:
    """In a log of one entry that entry's proof is empty: a second makes one of hashes."""
    a = site.agencies["AGENCY-A"]
    r = a.call("POST", "/v1/events", json=ev.independent(0))
    assert r.status_code == 201, r.text

    class Forging(NodeClient):
        """Serves hash tiles holding none of the tree's hashes."""

        def get_bytes(self, path: str, **params: Any) -> bytes:
            answer = super().get_bytes(path, **params)
            if path.startswith("/v1/log/tile/"):
                answer = b"\x00" * len(answer)
            return answer

    consortium = Workspace.load(a.root).consortium
    receipts = Receipts(_unchecked_receipts(a, tmp_path), consortium, _node_as(a, site, Forging))
    with pytest.raises(IntegrityError, match="does not verify"):
        receipts.check()
    with pytest.raises(IntegrityError):  # and stays caught
        receipts.check()


ENTRY_ANSWERS = {
    "an entry that is not base64": lambda answer: {**answer, "entries": ["!!"] * 4096},
    "an entry that is no entry": lambda answer: {
        **answer,
        "entries": [base64.b64encode(b"[" * 5000).decode()] * 4096,
    },
    "a certificate that is none": lambda answer: {**answer, "certificates": ["not a PEM"]},
    "no entries at all": lambda answer: {"certificates": answer["certificates"]},
    "entries of the wrong type": lambda answer: {**answer, "entries": 7},
}


@pytest.mark.parametrize("how", ENTRY_ANSWERS)
def test_a_node_answering_entries_that_do_not_read_is_caught_for_good(
    site: Site, tmp_path: Path, how: str
) -> None:
    """Waiting would leave what the cosigned head covers unchecked for ever (the deadline
    watches only what it does not cover yet): what a node that lost an append wants."""
    a = site.agencies["AGENCY-A"]
    garble = ENTRY_ANSWERS[how]

    class Garbling(NodeClient):
        def get(self, path: str, **params: Any) -> Any:
            answer = super().get(path, **params)
            return garble(answer) if path == "/v1/node/entries" else answer

    consortium = Workspace.load(a.root).consortium
    receipts = Receipts(_unchecked_receipts(a, tmp_path), consortium, _node_as(a, site, Garbling))
    with pytest.raises(IntegrityError, match="does not read"):
        receipts.check()
    with pytest.raises(IntegrityError, match="does not read"):  # and stays caught
        receipts.check()


def _remote(node: NodeClient, consortium: Any, receipts: Path) -> RemoteLedger:
    """What a RemoteLog reads of its gateway's ledger: the node, the consortium, the
    receipts (in the file ``receipts``) and the index of what it read (here in memory)."""
    ledger = SimpleNamespace(
        node=node,
        consortium=consortium,
        receipts=Receipts(receipts, consortium, node),
        claims=ClaimIndex(None),
    )
    return cast(RemoteLedger, ledger)


def _altered(entry_b64: str | None) -> str | None:
    """The entry with another event under the same nonce, creator and signature: the
    same transaction ID (it covers the nonce and creator only), not the same event."""
    if entry_b64 is None:  # another member's: not shown
        return None
    entry = Entry.from_bytes(base64.b64decode(entry_b64))
    proposal = json.loads(entry.proposal)
    proposal["args"][0] = {**proposal["args"][0], "note": "altered by the node"}
    forged = replace(entry, proposal=canonical_json(proposal))
    return base64.b64encode(forged.to_bytes()).decode()


def test_a_node_that_alters_what_an_acknowledged_entry_says_is_caught(
    site: Site, tmp_path: Path
) -> None:
    a = site.agencies["AGENCY-A"]

    class Altering(NodeClient):
        def get(self, path: str, **params: Any) -> Any:
            answer = super().get(path, **params)
            if path == "/v1/node/entries":
                answer = {**answer, "entries": [_altered(e) for e in answer["entries"]]}
            return answer

    consortium = Workspace.load(a.root).consortium
    receipts = Receipts(_unchecked_receipts(a, tmp_path), consortium, _node_as(a, site, Altering))
    with pytest.raises(IntegrityError, match="is not the acknowledged"):
        receipts.check()


@pytest.mark.parametrize("position", [-1, 2**63, "7"])
def test_an_acknowledgement_at_no_position_is_caught(
    site: Site, tmp_path: Path, position: Any
) -> None:
    a = site.agencies["AGENCY-A"]
    consortium = Workspace.load(a.root).consortium
    receipts = Receipts(_unchecked_receipts(a, tmp_path), consortium, _node_as(a, site, NodeClient))
    tx = sign_proposal(Workspace.load(a.root).signer("AGENCY-A"), "submit", [ev.independent(7)])
    outcome = outcome_from_dict({"tx_id": tx.tx_id, "result": {}, "position": 0})
    outcome = replace(outcome, position=position)
    with pytest.raises(IntegrityError, match="at no position"):
        receipts.record([tx], [outcome])
    with pytest.raises(IntegrityError):
        receipts.check()  # and stays caught


def test_a_node_refusing_what_it_must_show_is_caught_for_good(site: Site, tmp_path: Path) -> None:
    a = site.agencies["AGENCY-A"]

    class Refusing(NodeClient):
        def get(self, path: str, **params: Any) -> Any:
            if path == "/v1/node/entries":
                raise ForbiddenError("not yours", code="forbidden")
            return super().get(path, **params)

    consortium = Workspace.load(a.root).consortium
    receipts = Receipts(_unchecked_receipts(a, tmp_path), consortium, _node_as(a, site, Refusing))
    with pytest.raises(IntegrityError, match="refuses what it must show"):
        receipts.check()
    with pytest.raises(IntegrityError):
        receipts.check()


class Withholding(NodeClient):
    """The node, showing this gateway no cosigned checkpoint newer than ``frozen`` while
    ``withholding``: as when the witnesses are down, or the node hides a tree of its own."""

    frozen: Any = None
    withholding = True

    def get(self, path: str, **params: Any) -> Any:
        if path == "/v1/node/checkpoint/trusted" and self.withholding:
            return self.frozen
        return super().get(path, **params)


def _replaying(
    site: Site, org: str, tmp_path: Path, kind: type[NodeClient] = NodeClient
) -> tuple[Receipts, NodeClient, Any, list[float]]:
    """Receipts of ``org`` on a real node, their clock the test's; and its signer."""
    a = site.agencies[org]
    node = _node_as(a, site, kind)
    now = [1_000_000.0]
    consortium = Workspace.load(a.root).consortium
    receipts = Receipts(tmp_path / "r.db", consortium, node, deadline_s=60, clock=lambda: now[0])
    return receipts, node, Workspace.load(site.operator).signer(org), now


def _submitted(node: NodeClient, tx: Any) -> Any:
    return outcome_from_dict(
        node.post("/v1/node/submit", {"transactions": [tx.to_dict()]})["outcomes"][0]
    )


def test_an_honest_replay_is_checked_against_the_event_logged_first(
    site: Site, tmp_path: Path
) -> None:
    receipts, node, signer, _ = _replaying(site, "AGENCY-A", tmp_path)
    event = ev.consent_granted(ev.pid())
    first = _submitted(node, sign_proposal(signer, "submit", [event]))
    again = sign_proposal(signer, "submit", [event])  # the same event, signed anew
    replay = _submitted(node, again)
    assert (replay.position, replay.result["tx_id"]) == (None, first.tx_id)
    receipts.record([again], [replay])
    _until(lambda: receipts.check()["pending"] == 0, "the replay checked")
    assert receipts.broken() is None


def test_a_replay_whose_original_no_cosigned_checkpoint_covers_yet_is_waited_for(
    site: Site, tmp_path: Path
) -> None:
    """Its original is in the node's log, under no cosigned checkpoint yet (the witnesses
    down): past the deadline the gateway is not ready, and once one covers the original
    it is again."""
    receipts, node, signer, now = _replaying(site, "AGENCY-A", tmp_path, Withholding)
    assert isinstance(node, Withholding)
    _until(lambda: _cosigned(node), "a checkpoint the witnesses cosigned")
    node.frozen = NodeClient.get(node, "/v1/node/checkpoint/trusted")
    event = ev.consent_granted(ev.pid())
    first = _submitted(node, sign_proposal(signer, "submit", [event]))
    again = sign_proposal(signer, "submit", [event])
    replay = _submitted(node, again)
    assert (replay.position, replay.result["tx_id"]) == (None, first.tx_id)
    receipts.record([again], [replay])
    assert receipts.check()["pending"] == 1  # in the node's log; not yet cosigned
    now[0] += 61
    with pytest.raises(IntegrityError) as late:
        receipts.check()
    assert late.value.code == "log_node_overdue"
    assert f"showed {first.tx_id}" in str(late.value)
    assert receipts.broken() is None
    node.withholding = False
    # Until then a check still finds it overdue: the witnesses cosign in their own time.
    _until(lambda: _cosigned_size(node) > first.position, "the witnesses cosigning the original")
    assert receipts.check()["pending"] == 0
    assert receipts.broken() is None


@pytest.mark.parametrize("original", ["no-such-transaction", "another-members"])
def test_a_replay_of_nothing_ours_is_caught(site: Site, tmp_path: Path, original: str) -> None:
    """A node answering "logged before" for an event it never logged: the gateway would
    drop it from its outbox and show it as done."""
    receipts, node, signer, _ = _replaying(site, "AGENCY-A", tmp_path)
    if original == "another-members":
        b_signer = Workspace.load(site.operator).signer("AGENCY-B")
        theirs = _submitted(
            node_b := _node_as(site.agencies["AGENCY-B"], site, NodeClient),
            sign_proposal(b_signer, "submit", [ev.consent_granted(ev.pid())]),
        )
        node_b.close()
        assert theirs.position is not None
        _until(lambda: _cosigned(node), "their append cosigned")
        original = theirs.tx_id
    tx = sign_proposal(signer, "submit", [ev.independent(78)])
    receipts.record(
        [tx],
        [outcome_from_dict({"tx_id": tx.tx_id, "result": {"tx_id": original}, "position": None})],
    )
    assert "replay" in caught(receipts)  # at once: the node's own log must hold it
    with pytest.raises(IntegrityError):
        receipts.check()  # and stays caught


def test_a_replay_of_the_same_event_another_member_logged_is_caught(
    site: Site, tmp_path: Path
) -> None:
    """The node reveals entries to their submitter only; one that shows this gateway
    another member's entry of the same event, as its own first, is caught."""
    node_b = _node_as(site.agencies["AGENCY-B"], site, NodeClient)
    event = ev.consent_granted(ev.pid())
    b_signer = Workspace.load(site.operator).signer("AGENCY-B")
    theirs = _submitted(node_b, sign_proposal(b_signer, "submit", [event]))
    assert theirs.position is not None

    class Revealing(NodeClient):
        def get(self, path: str, **params: Any) -> Any:
            if path == "/v1/node/inclusion":
                return node_b.get(path, **params)  # what only B may see, shown to A
            return super().get(path, **params)

    a = site.agencies["AGENCY-A"]
    consortium = Workspace.load(a.root).consortium
    receipts = Receipts(tmp_path / "r.db", consortium, _node_as(a, site, Revealing))
    mine = sign_proposal(Workspace.load(site.operator).signer("AGENCY-A"), "submit", [event])
    answer = {"tx_id": mine.tx_id, "result": {"tx_id": theirs.tx_id}, "position": None}
    receipts.record([mine], [outcome_from_dict(answer)])
    assert "not ours" in caught(receipts)
    node_b.close()


def test_a_replay_must_name_the_transaction_logged_first(site: Site, tmp_path: Path) -> None:
    receipts, _, signer, _ = _replaying(site, "AGENCY-A", tmp_path)
    tx = sign_proposal(signer, "submit", [ev.independent(79)])
    answer = outcome_from_dict({"tx_id": tx.tx_id, "result": {}, "position": None})
    with pytest.raises(IntegrityError, match="as a replay of no transaction"):
        receipts.record([tx], [answer])


def test_a_fault_of_the_node_or_of_the_gateway_is_tried_again(site: Site, tmp_path: Path) -> None:
    """Not every refusal is a lie: the node's own fault, or this gateway's expired
    certificate, leaves the receipts to be checked again, not the node untrusted."""
    a = site.agencies["AGENCY-A"]
    failing = [InternalError("contract failed"), AuthenticationError("expired", code="x")]

    class Faulty(NodeClient):
        def get(self, path: str, **params: Any) -> Any:
            if path == "/v1/node/entries" and failing:
                raise failing.pop(0)
            return super().get(path, **params)

    consortium = Workspace.load(a.root).consortium
    receipts = Receipts(_unchecked_receipts(a, tmp_path), consortium, _node_as(a, site, Faulty))
    for expected in (InternalError, AuthenticationError):
        with pytest.raises(expected):
            receipts.check()
        assert receipts.broken() is None
    assert receipts.check()["pending"] == 0


def test_an_earlier_checkpoint_must_be_a_prefix_of_the_witnessed_one(
    site: Site, tmp_path: Path
) -> None:
    a = site.agencies["AGENCY-A"]
    operator = Workspace.load(site.operator)

    class Forking(NodeClient):
        def get(self, path: str, **params: Any) -> Any:
            answer = super().get(path, **params)
            if path == "/v1/node/checkpoint" and params.get("size") is not None:
                cp = ckpt.Checkpoint.parse(Note.parse(answer["note"]).text)
                other = ckpt.Checkpoint(cp.origin, cp.size, bytes(32))  # signed, no tree's
                answer = {**answer, "note": ckpt.sign_checkpoint(other, operator.log_signer())}
            return answer

    for i in (80, 81):
        r = a.call("POST", "/v1/events", json=ev.independent(i))
        assert r.status_code == 201, r.text
    consortium = Workspace.load(a.root).consortium
    honest = RemoteLog(_remote(_node_as(a, site, NodeClient), consortium, tmp_path / "h"))

    def witnessed_two() -> bool:
        try:
            return honest.anchor().size >= 2
        except ConflictError:
            return False

    _until(witnessed_two, "two entries under a cosigned checkpoint")
    latest = honest.anchor()
    assert honest.anchor(latest.size - 1).size == latest.size - 1
    forked = RemoteLog(_remote(_node_as(a, site, Forking), consortium, tmp_path / "f"))
    with pytest.raises(IntegrityError, match="not of the history the witnesses cosigned"):
        forked.anchor(latest.size - 1)


def test_a_gateway_anchors_only_where_the_witnesses_cosigned(site: Site, tmp_path: Path) -> None:
    """The node holds the log key: the latest checkpoint it signed alone is no anchor for
    the bundles and reports a gateway makes from the node's log."""
    a = site.agencies["AGENCY-A"]
    operator = Workspace.load(site.operator)

    class Unwitnessed(NodeClient):
        def get(self, path: str, **params: Any) -> Any:
            answer = super().get(path, **params)
            if path == "/v1/node/checkpoint/trusted":
                cp = ckpt.Checkpoint.parse(Note.parse(answer["note"]).text)
                answer = {**answer, "note": ckpt.sign_checkpoint(cp, operator.log_signer())}
            return answer

    consortium = Workspace.load(a.root).consortium
    honest = RemoteLog(_remote(_node_as(a, site, NodeClient), consortium, tmp_path / "h"))
    assert honest.anchor().size > 0
    log = RemoteLog(_remote(_node_as(a, site, Unwitnessed), consortium, tmp_path / "u"))
    with pytest.raises(ConflictError) as refused:
        log.anchor()
    assert refused.value.code == "not_yet_witnessed"


def test_a_rolled_back_node_cannot_hide_behind_the_size_it_states(
    site: Site, tmp_path: Path
) -> None:
    """The size the log signed counts, not the number the node puts beside the note."""
    a = site.agencies["AGENCY-A"]
    operator = Workspace.load(site.operator)
    consortium = operator.consortium
    old = ckpt.sign_checkpoint(
        ckpt.Checkpoint(consortium.origin, 1, bytes(32)), operator.log_signer()
    )

    class RolledBack(NodeClient):
        def get(self, path: str, **params: Any) -> Any:
            if path == "/v1/node/checkpoint" and not params:
                return {"size": 10**9, "note": old}
            return super().get(path, **params)

    receipts = Receipts(_unchecked_receipts(a, tmp_path), consortium, _node_as(a, site, RolledBack))
    with pytest.raises(IntegrityError, match="yet its log now holds only 1"):
        receipts.check()


def test_a_node_refusing_the_hand_over_stops_neither_the_checks_nor_new_captures(
    site: Site, tmp_path: Path
) -> None:
    """The node refuses this gateway's whole hand-over (403): the outbox keeps what it
    holds, new events are kept behind it, and the background thread goes on checking
    the receipts instead of ending with the refusal."""
    a = site.agencies["AGENCY-A"]
    signer = Workspace.load(site.operator).signer("AGENCY-A")

    class Refusing(NodeClient):
        def post(self, path: str, body: dict[str, Any]) -> Any:
            if path == "/v1/node/submit":
                raise ForbiddenError("this gateway may not submit now", code="forbidden")
            return super().post(path, body)

    consortium = Workspace.load(a.root).consortium
    node = _node_as(a, site, Refusing)
    receipts = Receipts(tmp_path / "r.db", consortium, node)
    checks = []
    check = receipts.check
    receipts.check = lambda: checks.append(1) or check()  # type: ignore[method-assign]
    outbox = Outbox(tmp_path / "o.db", signer)
    outbox.capture([sign_proposal(signer, "submit", [ev.independent(0)])])
    ledger = RemoteLedger(node, consortium, receipts, outbox, interval_s=0.05)
    try:
        _until(lambda: len(checks) >= 3, "three background rounds")
        assert ledger._background.is_alive()
        later = sign_proposal(signer, "submit", [ev.independent(1)])
        (outcome,) = ledger.submit_many([later])
        assert outcome.queued
        assert outcome.error is None
        assert outbox.counts() == {"pending": 2, "failed": 0}
    finally:
        ledger.close()


def _open_files(directory: Path) -> list[str]:
    fds = Path("/proc/self/fd")
    links = [str(fd.readlink()) for fd in fds.iterdir() if fd.is_symlink()]
    return [link for link in links if link.startswith(str(directory))]


def test_a_closed_gateway_ledger_leaves_no_file_open(site: Site, tmp_path: Path) -> None:
    """A command or a test opens a gateway and closes it again, many times over."""
    a = site.agencies["AGENCY-A"]
    signer = Workspace.load(site.operator).signer("AGENCY-A")
    consortium = Workspace.load(a.root).consortium
    for _ in range(3):
        receipts = Receipts(tmp_path / "r.db", consortium, _node_as(a, site, NodeClient))
        outbox = Outbox(tmp_path / "o.db", signer)
        ledger = RemoteLedger(receipts.node, consortium, receipts, outbox, interval_s=0.05)
        (outcome,) = ledger.submit_many([sign_proposal(signer, "submit", [ev.independent(0)])])
        assert outcome.error is None
        assert _open_files(tmp_path)
        ledger.close()
        assert _open_files(tmp_path) == []


def _cosigned_size(node: NodeClient) -> int:
    return int(NodeClient.get(node, "/v1/node/checkpoint/trusted")["size"])


def _cosigned(node: NodeClient) -> bool:
    try:
        node.get("/v1/node/checkpoint/trusted")
    except NotFoundError:  # none yet
        return False
    return True


def test_an_append_no_cosigned_checkpoint_covers_in_time_is_caught(
    site: Site, tmp_path: Path
) -> None:
    """A node that shows a gateway a tree the witnesses never see: it acknowledges, and
    its cosigned head never reaches the append. Within the deadline that is only
    pending; past it, a failure for as long as it lasts. Once a cosigned checkpoint
    covers the append, as when the witnesses were only down, it is checked and the
    gateway trusts the node again."""
    a = site.agencies["AGENCY-B"]
    org_dir = a.root / "orgs" / "AGENCY-B"
    context = tls.client_context(
        a.root / "node" / "tls.pem", org_dir / "tls-client.pem", org_dir / "tls-client.key"
    )
    signer = Workspace.load(site.operator).signer("AGENCY-B")
    plain = NodeClient(site.node_url, context)
    earlier = sign_proposal(signer, "submit", [ev.consent_granted(ev.pid())])
    plain.post("/v1/node/submit", {"transactions": [earlier.to_dict()]})
    _until(lambda: _cosigned(plain), "a checkpoint the witnesses cosigned")
    frozen = plain.get("/v1/node/checkpoint/trusted")

    now = [1_000_000.0]
    consortium = Workspace.load(a.root).consortium
    node = Withholding(site.node_url, context)
    node.frozen = frozen  # the witnesses' latest, as the node lets this gateway see
    receipts = Receipts(tmp_path / "r.db", consortium, node, deadline_s=60, clock=lambda: now[0])
    tx = sign_proposal(signer, "submit", [ev.consent_granted(ev.pid())])
    outcome = outcome_from_dict(
        node.post("/v1/node/submit", {"transactions": [tx.to_dict()]})["outcomes"][0]
    )
    assert outcome.position is not None
    assert outcome.position >= frozen["size"]
    receipts.record([tx], [outcome])
    assert receipts.check()["pending"] == 1  # not yet cosigned: waiting is fine
    now[0] += 61
    with pytest.raises(IntegrityError, match="no checkpoint the witness quorum cosigned") as late:
        receipts.check()
    assert late.value.code == "log_node_overdue"
    with pytest.raises(IntegrityError):
        receipts.check()  # and stays caught while it lasts
    with pytest.raises(IntegrityError) as unreachable:
        receipts.failure()  # what readiness asks when the node fails its own /readyz
    assert unreachable.value.code == "log_node_overdue"
    assert receipts.broken() is None  # not for good: nothing it showed contradicts itself
    node.withholding = False  # the node's real cosigned head, once it covers the append
    _until(lambda: _cosigned_size(plain) > outcome.position, "the witnesses cosigning the append")
    assert receipts.check()["pending"] == 0
    assert receipts.broken() is None


def test_a_node_that_forgets_an_acknowledged_append_is_caught(site: Site) -> None:
    a = site.agencies["AGENCY-A"]
    _until(lambda: _checked(a), "the receipts checked")
    ledger = site.node / "ledger.db"
    earlier = site.node / "earlier.db"
    with closing(sqlite3.connect(ledger)) as live, closing(sqlite3.connect(earlier)) as copy:
        live.backup(copy)
    r = a.call("POST", "/v1/events", json=ev.independent(901))
    assert r.status_code == 201, r.text
    port = int(site.node_url.rsplit(":", 1)[1])
    _stop(site.node_proc)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{ledger}{suffix}").unlink(missing_ok=True)
    earlier.rename(ledger)  # the node comes back without the last append
    site.node_proc = start_node(site.node, port)
    log = a.root / "gateway.log"
    # the gateway's background check finds it, before anyone asks for readiness
    _until(lambda: "not to be trusted" in log.read_text(), "the background receipts check")
    r = a.call("GET", "/readyz")
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "not_ready"
    said = log.read_text()
    assert "not to be trusted" in said
    assert "acknowledged an entry at position" in said
