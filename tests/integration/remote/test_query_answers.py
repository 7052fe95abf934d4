"""A log node's answers to queries: every event record it shows must be a member's
signed event in its log, exactly as logged. The node is played by a client that edits
what the real node answered, over real mutual TLS."""

from __future__ import annotations

import base64
import copy
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chaincode.canonical import canonical_json
from ledger_gw.consortium import Consortium
from ledger_gw.errors import ConfigError, IntegrityError
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.entry import Entry
from ledger_gw.log.merkle import leaf_hash
from ledger_gw.remote import tls
from ledger_gw.remote.answers import ProvenAnswers, event_records
from ledger_gw.remote.client import NodeClient
from ledger_gw.remote.ledger import RemoteLedger
from ledger_gw.remote.outbox import Outbox
from ledger_gw.remote.receipts import Receipts
from ledger_gw.transaction import SignedTransaction, sign_proposal
from ledger_gw.workspace import Workspace
from tests.integration.remote.conftest import Site, caught
from tests.support import events as ev

pytestmark = pytest.mark.slow

Answer = dict[str, Any]


def _node(site: Site, org: str, node_class: type[NodeClient] = NodeClient) -> NodeClient:
    a = site.agencies[org]
    org_dir = a.root / "orgs" / org
    context = tls.client_context(
        a.root / "node" / "tls.pem", org_dir / "tls-client.pem", org_dir / "tls-client.key"
    )
    return node_class(site.node_url, context)


def _query(site: Site, function: str, *args: str) -> SignedTransaction:
    return sign_proposal(Workspace.load(site.operator).signer("AGENCY-A"), function, list(args))


def _evaluate(node: NodeClient, tx: SignedTransaction) -> Answer:
    answer: Answer = node.post("/v1/node/evaluate", {"transaction": tx.to_dict()})
    return answer


@pytest.fixture(scope="module")
def person(site: Site) -> str:
    """AGENCY-A's person: a consent, an entitlement, a delivery against it and a referral,
    logged at the node."""
    pid = ev.pid()
    signer = Workspace.load(site.operator).signer("AGENCY-A")
    node = _node(site, "AGENCY-A")
    try:
        grant = ev.entitlement_granted(pid)
        delivered = ev.delivery(grant["entitlement_id"])  # an event that names no person
        events = [ev.consent_granted(pid), grant, delivered, ev.referral_created(pid)]
        for event in events:
            tx = sign_proposal(signer, "submit", [event])
            outcome = node.post("/v1/node/submit", {"transactions": [tx.to_dict()]})
            assert outcome["outcomes"][0]["error"] is None, outcome
    finally:
        node.close()
    return pid


@pytest.fixture(scope="module")
def consortium(site: Site) -> Consortium:
    return Workspace.load(site.agencies["AGENCY-A"].root).consortium


@pytest.fixture(scope="module")
def asked(site: Site, person: str) -> SignedTransaction:
    return _query(site, "history", person, "referral")


@pytest.fixture(scope="module")
def history(site: Site, asked: SignedTransaction) -> Iterator[Answer]:
    node = _node(site, "AGENCY-A")
    try:
        yield _evaluate(node, asked)
    finally:
        node.close()


def _checked(checker: ProvenAnswers, node: NodeClient, query: SignedTransaction) -> Any:
    return checker.result(query.proposal, _evaluate(node, query)).result


def test_an_honest_answer_proves_each_record_it_shows(
    site: Site, person: str, consortium: Consortium, asked: SignedTransaction, history: Answer
) -> None:
    checker = ProvenAnswers(consortium)
    result = checker.result(asked.proposal, copy.deepcopy(history)).result
    types = [r["event"]["type"] for r in result["events"]]
    assert types == [
        "consent.granted",
        "entitlement.granted",
        "assistance.delivered",
        "referral.created",
    ]
    assert set(history["evidence"]["entries"]) == {r["tx_id"] for r in result["events"]}
    node = _node(site, "AGENCY-A")
    try:  # a record inside a referral, and a record as the whole answer
        referral_id = result["events"][3]["event"]["referral_id"]
        chain = _checked(checker, node, _query(site, "referral_chain", referral_id))
        assert len(event_records(chain)) == 1
        one = _checked(checker, node, _query(site, "referral", referral_id))
        assert len(event_records(one)) == 1
        event_id = result["events"][1]["event"]["event_id"]
        one = _checked(checker, node, _query(site, "event", event_id))
        assert one["event"]["event_id"] == event_id
        plain_query = _query(site, "entitlements", person, "referral")
        plain = _evaluate(node, plain_query)
        assert "evidence" not in plain  # no record: nothing to prove
        assert checker.result(plain_query.proposal, plain).result["entitlements"]
    finally:
        node.close()


def _records(answer: Answer) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = answer["result"]["events"]
    return events


def _entries(answer: Answer) -> dict[str, Any]:
    entries: dict[str, Any] = answer["evidence"]["entries"]
    return entries


def _grant(answer: Answer) -> dict[str, Any]:
    return next(r for r in _records(answer) if r["event"]["type"] == "entitlement.granted")


def _set(field: str, value: Any) -> Callable[[Answer], None]:
    def edit(answer: Answer) -> None:
        _grant(answer)[field] = value

    return edit


def _more(answer: Answer) -> None:
    _grant(answer)["event"]["amount"] = "1500.00"


def _swapped(answer: Answer) -> None:
    first, second = _records(answer)[:2]
    entries = _entries(answer)
    entries[first["tx_id"]], entries[second["tx_id"]] = (
        entries[second["tx_id"]],
        entries[first["tx_id"]],
    )


def _invented(answer: Answer) -> None:
    made_up = {**copy.deepcopy(_grant(answer)), "tx_id": secrets.token_hex(32)}
    made_up["event"]["event_id"] = "00000000-0000-4000-8000-000000000000"
    _records(answer).append(made_up)


def _resigned(answer: Answer) -> None:
    """The grant's entry saying 1500, under the member's signature of 150 (and a proof
    recomputed would still need the tree's root: it is left as it was)."""
    shown = _entries(answer)[_grant(answer)["tx_id"]]
    entry = Entry.from_bytes(base64.b64decode(shown["entry"]))
    proposal = json.loads(entry.proposal)
    proposal["args"][0] = {**proposal["args"][0], "amount": "1500.00"}
    forged = replace(entry, proposal=canonical_json(proposal))
    shown["entry"] = base64.b64encode(forged.to_bytes()).decode()
    _more(answer)


def _bad_proof(answer: Answer) -> None:
    shown = _entries(answer)[_grant(answer)["tx_id"]]
    shown["proof"][0] = base64.b64encode(b"\x00" * 32).decode()


def _moved(answer: Answer) -> None:
    shown = _entries(answer)[_grant(answer)["tx_id"]]
    shown["index"] = int(shown["index"]) + 1


def _unsigned_checkpoint(answer: Answer) -> None:
    body, _, _ = answer["evidence"]["checkpoint"].partition("\n\n")
    answer["evidence"]["checkpoint"] = body + "\n\n\u2014 node AAAA\n"


def _no_evidence(answer: Answer) -> None:
    del answer["evidence"]


def _entry_dropped(answer: Answer) -> None:
    del _entries(answer)[_grant(answer)["tx_id"]]


def _key_dropped(answer: Answer) -> None:
    del _grant(answer)["tx_id"]


def _key_added(answer: Answer) -> None:
    _grant(answer)["note"] = "paid twice"


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def _set_evidence(field: str, value: Any) -> Callable[[Answer], None]:
    def edit(answer: Answer) -> None:
        answer["evidence"][field] = value

    return edit


LIES: dict[str, Callable[[Answer], None]] = {
    "an event's amount raised": _more,
    "an event moved to another person": _set("pid", ev.pid()),
    "an event credited to another organisation": _set("org", "AGENCY-B"),
    "an event logged at another time": _set("timestamp", "2020-01-01T00:00:00.000000Z"),
    "an event of another category": _set("category", "health"),
    "two records' entries swapped": _swapped,
    "a record no member signed": _invented,
    "an entry rewritten under the member's signature": _resigned,
    "a proof that does not lead to the root": _bad_proof,
    "an entry at another position": _moved,
    "a checkpoint the log key did not sign": _unsigned_checkpoint,
    "records without any evidence": _no_evidence,
    "the certificates left out": _set_evidence("certificates", []),
    "a certificate that is none": _set_evidence("certificates", ["not a PEM"]),
    "certificates that are no list": _set_evidence("certificates", 7),
    "a record without its entry": _entry_dropped,
    "a record without its transaction ID": _key_dropped,
    "a record with a key the contract never writes": _key_added,
    "an event that is no object": _set("event", "assistance.delivered 9999.00"),
    "an event with a float": lambda a: _grant(a)["event"].update(amount=9999.0),
    "an event nested past any event": _set("event", _nested(2000)),
    "a time that is no text": _set("timestamp", 7),
}


@pytest.mark.parametrize("lie", LIES)
def test_a_node_showing_a_record_it_cannot_prove_is_caught(
    consortium: Consortium, asked: SignedTransaction, history: Answer, lie: str
) -> None:
    answer = copy.deepcopy(history)
    LIES[lie](answer)
    with pytest.raises(IntegrityError):
        ProvenAnswers(consortium).result(asked.proposal, answer)


def _tree_of_one(site: Site, consortium: Consortium, answer: Answer, entry: bytes) -> None:
    """The answer's evidence: ``entry`` alone, in a tree of one the node signs itself."""
    cp = ckpt.Checkpoint(consortium.origin, 1, leaf_hash(entry))
    answer["evidence"]["checkpoint"] = ckpt.sign_checkpoint(
        cp, Workspace.load(site.operator).log_signer()
    )


def test_a_node_cannot_forge_a_members_signature_with_its_own_log_key(
    site: Site, consortium: Consortium, asked: SignedTransaction, history: Answer
) -> None:
    """The node holds the log key: it can sign a tree of its own making, holding the
    grant's entry rewritten. The member's signature is what it cannot make."""
    answer = copy.deepcopy(history)
    _resigned(answer)
    shown = _entries(answer)[_grant(answer)["tx_id"]]
    _tree_of_one(site, consortium, answer, base64.b64decode(shown["entry"]))
    answer["result"]["events"] = [_grant(answer)]  # in that tree, no other record is
    shown.update(index=0, proof=[])
    with pytest.raises(IntegrityError, match="no member's event"):
        ProvenAnswers(consortium).result(asked.proposal, answer)


def test_a_query_the_gateway_signed_cannot_pass_for_an_event(
    site: Site, person: str, consortium: Consortium, asked: SignedTransaction, history: Answer
) -> None:
    """The node holds every query a gateway signs: wrapped in an entry of a tree the node
    signs itself, it carries a valid signature of the member. It is no event."""
    answer = copy.deepcopy(history)
    delivery = {**_grant(answer)["event"], "type": "assistance.delivered", "amount": "9999.00"}
    entry = asked.entry(b'{"pid":"' + person.encode() + b'"}', "0" * 64)
    data = entry.to_bytes()
    _tree_of_one(site, consortium, answer, data)
    answer["evidence"]["entries"] = {
        asked.tx_id: {"index": 0, "entry": base64.b64encode(data).decode(), "proof": []}
    }
    answer["result"]["events"] = [
        {
            "event": delivery,
            "org": "AGENCY-A",
            "tx_id": asked.tx_id,
            "timestamp": asked.proposal.timestamp,
            "category": "assistance",
            "pid": person,
        }
    ]
    with pytest.raises(IntegrityError, match="not an event"):
        ProvenAnswers(consortium).result(asked.proposal, answer)


def test_a_person_changed_in_a_tree_the_node_signed_alone_is_caught(
    site: Site, consortium: Consortium, asked: SignedTransaction, history: Answer
) -> None:
    """The logged result names the person; in a tree of its own the node may write any
    result under the member's signature (which covers the proposal), but an event that
    names its person must name the record's."""
    answer = copy.deepcopy(history)
    grant = _grant(answer)
    shown = _entries(answer)[grant["tx_id"]]
    entry = Entry.from_bytes(base64.b64decode(shown["entry"]))
    stranger = ev.pid()
    result = json.loads(entry.result)
    forged = replace(entry, result=canonical_json({**result, "pid": stranger}))
    data = forged.to_bytes()
    _tree_of_one(site, consortium, answer, data)
    shown.update(index=0, proof=[], entry=base64.b64encode(data).decode())
    answer["result"]["events"] = [{**grant, "pid": stranger}]
    answer["result"]["pid"] = stranger
    stranger_history = _query(site, "history", stranger, "referral")
    with pytest.raises(IntegrityError, match="not what its entry says"):
        ProvenAnswers(consortium).result(stranger_history.proposal, answer)


def test_answers_about_something_else_than_asked_are_caught(
    site: Site, person: str, consortium: Consortium, asked: SignedTransaction, history: Answer
) -> None:
    checker = ProvenAnswers(consortium)
    grant = _grant(history)
    other = _query(site, "history", ev.pid(), "referral")
    with pytest.raises(IntegrityError, match="not about what it asked"):
        checker.result(other.proposal, copy.deepcopy(history))  # her history as another's
    event_id = grant["event"]["event_id"]
    consent = next(r for r in _records(history) if r["event"]["type"] == "consent.granted")
    asked_event = _query(site, "event", event_id)
    as_other = {"result": copy.deepcopy(consent), "evidence": copy.deepcopy(history["evidence"])}
    with pytest.raises(IntegrityError, match="not about what it asked"):
        checker.result(asked_event.proposal, as_other)  # another event than the one asked
    with pytest.raises(IntegrityError, match="not about what it asked"):
        checker.result(asked_event.proposal, {"result": {}})  # no event at all
    entitlements = _query(site, "entitlements", person, "referral")
    slipped = {
        "result": {"pid": person, "entitlements": [copy.deepcopy(grant)]},
        "evidence": copy.deepcopy(history["evidence"]),
    }
    with pytest.raises(IntegrityError, match="not about what it asked"):
        checker.result(entitlements.proposal, slipped)  # an event where none belongs
    twice = copy.deepcopy(history)
    _records(twice).append(copy.deepcopy(_grant(twice)))
    with pytest.raises(IntegrityError, match="twice"):
        checker.result(asked.proposal, twice)
    with pytest.raises(IntegrityError, match="not about what it asked"):
        checker.result(_query(site, "history").proposal, copy.deepcopy(history))  # no pid


def test_a_chain_must_be_the_referral_asked_for_then_its_parents(
    site: Site, consortium: Consortium, history: Answer
) -> None:
    """Another person's referral chain, relabelled with the referral asked for."""
    signer = Workspace.load(site.operator).signer("AGENCY-A")
    theirs = ev.referral_created(ev.pid())
    node = _node(site, "AGENCY-A")
    try:
        tx = sign_proposal(signer, "submit", [ev.consent_granted(theirs["pid"])])
        node.post("/v1/node/submit", {"transactions": [tx.to_dict()]})
        tx = sign_proposal(signer, "submit", [theirs])
        assert (
            node.post("/v1/node/submit", {"transactions": [tx.to_dict()]})["outcomes"][0][
                "position"
            ]
            is not None
        )
        answer = _evaluate(node, _query(site, "referral_chain", theirs["referral_id"]))
    finally:
        node.close()
    ours = next(r for r in _records(history) if r["event"]["type"] == "referral.created")
    asked = _query(site, "referral_chain", ours["event"]["referral_id"])
    answer["result"]["referral_id"] = ours["event"]["referral_id"]
    with pytest.raises(IntegrityError, match="not about what it asked"):
        ProvenAnswers(consortium).result(asked.proposal, answer)


def test_a_chain_links_referrals_only_as_their_creations_say(
    site: Site, consortium: Consortium
) -> None:
    """Two root referrals of one person; the second's chain shown with the first as its
    parent, each item with its own, real records: the parent is the node's word unless
    the second's signed creation names it."""
    pid = ev.pid()
    first, second = ev.referral_created(pid), ev.referral_created(pid)
    signer = Workspace.load(site.operator).signer("AGENCY-A")
    node = _node(site, "AGENCY-A")
    try:
        for event in (ev.consent_granted(pid), first, second):
            tx = sign_proposal(signer, "submit", [event])
            assert (
                node.post("/v1/node/submit", {"transactions": [tx.to_dict()]})["outcomes"][0][
                    "error"
                ]
                is None
            )
        of_first = _evaluate(node, _query(site, "referral_chain", first["referral_id"]))
        asked = _query(site, "referral_chain", second["referral_id"])
        honest = _evaluate(node, asked)
        both = _evaluate(node, _query(site, "history", pid, "referral"))
    finally:
        node.close()
    checker = ProvenAnswers(consortium)
    assert len(checker.result(asked.proposal, copy.deepcopy(honest)).result["chain"]) == 1
    forged = copy.deepcopy(honest)
    forged["result"]["chain"][0]["parent_referral_id"] = first["referral_id"]
    forged["result"]["chain"].append(copy.deepcopy(of_first["result"]["chain"][0]))
    forged["evidence"] = both["evidence"]  # both creations' entries, under one checkpoint
    with pytest.raises(IntegrityError, match="not about what it asked"):
        checker.result(asked.proposal, forged)


def _before_a_rotated(consortium: Consortium) -> Consortium:
    """The consortium file as it was before AGENCY-A's signing key: another one listed."""
    a = consortium.organisations["AGENCY-A"]
    before = replace(a, signing_keys=(replace(a.signing_keys[0], fingerprint="0" * 64),))
    return replace(consortium, organisations={**consortium.organisations, "AGENCY-A": before})


def test_a_consortium_file_behind_the_nodes_refuses_the_answer_but_trusts_the_node(
    site: Site, person: str, consortium: Consortium, tmp_path: Path
) -> None:
    """A gateway whose file predates a member's joining or a key rotation cannot prove
    that member's events: it refuses to show them, and says why, without distrusting
    an honest node for good."""
    stale = _before_a_rotated(consortium)
    ledger, receipts = _ledger(site, stale, _node(site, "AGENCY-A"), tmp_path)
    try:
        with pytest.raises(ConfigError, match="consortium file"):
            ledger.evaluate(_query(site, "history", person, "referral"))
        assert receipts.broken() is None
    finally:
        ledger.close()


def test_a_signature_its_certificate_did_not_make_is_no_stale_file(
    site: Site, consortium: Consortium, asked: SignedTransaction, history: Answer
) -> None:
    """Even where the gateway's file does not list the certificate, a signature that the
    certificate did not make is a forgery: the node is caught, not excused."""
    stale = _before_a_rotated(consortium)
    answer = copy.deepcopy(history)
    _resigned(answer)
    shown = _entries(answer)[_grant(answer)["tx_id"]]
    _tree_of_one(site, consortium, answer, base64.b64decode(shown["entry"]))
    answer["result"]["events"] = [_grant(answer)]
    shown.update(index=0, proof=[])
    with pytest.raises(IntegrityError, match="no member's event"):
        ProvenAnswers(stale).result(asked.proposal, answer)


def test_a_gateway_shown_a_false_record_trusts_its_node_no_more(
    site: Site, person: str, consortium: Consortium, tmp_path: Path
) -> None:
    class Lying(NodeClient):
        def post(self, path: str, body: dict[str, Any]) -> Any:
            answer = super().post(path, body)
            if path == "/v1/node/evaluate":
                _more(answer)
            return answer

    ledger, receipts = _ledger(site, consortium, _node(site, "AGENCY-A", Lying), tmp_path)
    try:
        with pytest.raises(IntegrityError, match="not what its entry says"):
            ledger.evaluate(_query(site, "history", person, "referral"))
        assert "query" in str(receipts.broken())
        with pytest.raises(IntegrityError):  # for good: the gateway is not ready
            receipts.failure()
    finally:
        ledger.close()


def _ledger(
    site: Site, consortium: Consortium, node: NodeClient, tmp_path: Path
) -> tuple[RemoteLedger, Receipts]:
    signer = Workspace.load(site.operator).signer("AGENCY-A")
    receipts = Receipts(tmp_path / "receipts.db", consortium, node, deadline_s=60)
    outbox = Outbox(tmp_path / "outbox.db", signer)
    return RemoteLedger(node, consortium, receipts, outbox, interval_s=3600), receipts


def test_the_entries_an_answer_showed_are_checked_again_under_a_cosigned_checkpoint(
    site: Site, person: str, consortium: Consortium, tmp_path: Path
) -> None:
    ledger, receipts = _ledger(site, consortium, _node(site, "AGENCY-A"), tmp_path)
    try:
        history = ledger.evaluate(_query(site, "history", person, "referral"))
        assert len(history["events"]) == 4
        deadline = time.monotonic() + 60
        while (seen := receipts.check())["pending"]:
            assert time.monotonic() < deadline, seen
            time.sleep(0.2)
        assert receipts.broken() is None
    finally:
        ledger.close()


def test_an_event_shown_in_a_tree_the_witnesses_never_saw_is_caught(
    site: Site, person: str, consortium: Consortium, history: Answer, tmp_path: Path
) -> None:
    """A delivery names no person: the logged result does. In a tree of its own, the
    node may write her delivery into a stranger's history, under the member's signature
    of the delivery. The query passes; the cosigned tree does not hold that leaf."""
    stranger = ev.pid()
    forged_answer = copy.deepcopy(history)
    record = next(
        r for r in _records(forged_answer) if r["event"]["type"] == "assistance.delivered"
    )
    shown = _entries(forged_answer)[record["tx_id"]]
    entry = Entry.from_bytes(base64.b64decode(shown["entry"]))
    logged = {**json.loads(entry.result), "pid": stranger}
    data = replace(entry, result=canonical_json(logged)).to_bytes()
    _tree_of_one(site, consortium, forged_answer, data)
    shown.update(index=0, proof=[], entry=base64.b64encode(data).decode())
    forged_answer["result"].update(pid=stranger, events=[{**record, "pid": stranger}])

    class Forking(NodeClient):
        def post(self, path: str, body: dict[str, Any]) -> Any:
            answer = super().post(path, body)
            return forged_answer if path == "/v1/node/evaluate" else answer

    ledger, receipts = _ledger(site, consortium, _node(site, "AGENCY-A", Forking), tmp_path)
    try:
        shown_to_gateway = ledger.evaluate(_query(site, "history", stranger, "referral"))
        assert shown_to_gateway["events"][0]["pid"] == stranger  # passes the query's check
        assert "witnesses never saw" in caught(receipts)
    finally:
        ledger.close()


def test_one_transaction_shown_as_two_entries_is_caught(
    site: Site, consortium: Consortium, tmp_path: Path
) -> None:
    node = _node(site, "AGENCY-A")
    receipts = Receipts(tmp_path / "receipts.db", consortium, node)
    try:
        receipts.shown([("ab" * 32, 1, b"\x01" * 32)])
        receipts.shown([("ab" * 32, 1, b"\x01" * 32)])  # the same again: fine
        with pytest.raises(IntegrityError, match="two different entries"):
            receipts.shown([("ab" * 32, 2, b"\x01" * 32)])
        assert receipts.broken() is not None
    finally:
        node.close()
