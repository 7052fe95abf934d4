"""What proves a log node lies to a gateway, and what only fails on the way.

A node's answers reach its gateways over mutual TLS to its pinned certificate: an answer
that reads as JSON is whole, and the node's own. One that contradicts itself (a witness
cosignature that its key did not make, on a checkpoint the log key signed; an
acknowledgement that does not read as the outcome of what was handed over) marks the
node untrusted for good. One cut short on the way is a transport failure: the outbox
hands the same transactions over again, and the node appends nothing twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest

from ledger_gw.client import OrgClient
from ledger_gw.errors import ConflictError, IntegrityError
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.note import Note, NoteSignature, SigType
from ledger_gw.remote.client import NodeClient
from ledger_gw.remote.ledger import RemoteLedger, RemoteLog
from ledger_gw.remote.outbox import Outbox
from ledger_gw.remote.receipts import Receipts
from ledger_gw.transaction import sign_proposal
from ledger_gw.workspace import Workspace
from tests.integration.remote.conftest import Site, _until
from tests.integration.remote.test_log_node import _node_as, _remote, _unchecked_receipts
from tests.support import events as ev

pytestmark = pytest.mark.slow

TRUSTED = "/v1/node/checkpoint/trusted"  # the latest the witness quorum cosigned
LATEST = "/v1/node/checkpoint"  # the latest the log signed


def _witness(site: Site) -> ckpt.NoteVerifier:
    """AGENCY-A's witness key, as the consortium lists it, as it cosigns."""
    vkey = Workspace.load(site.operator).consortium.organisation("AGENCY-A").witness_vkey
    assert vkey is not None
    return ckpt.NoteVerifier.from_vkey(vkey).as_type(SigType.COSIGNATURE_V1)


def _resigned(note: str, name: str, key_id: bytes, sig_type: SigType) -> str:
    """``note`` with its signature line by (``name``, ``key_id``), if any, replaced by a
    real signature of the same kind over the same text, made by another key."""
    parsed = Note.parse(note)
    other, _ = ckpt.generate_signer(name, sig_type)
    stamp = int(time.time()) if sig_type is SigType.COSIGNATURE_V1 else None
    line = NoteSignature(name, key_id, other.sign(parsed.text.encode(), timestamp=stamp))
    kept = [s for s in parsed.signatures if (s.name, s.key_id) != (name, key_id)]
    return Note(parsed.text, (*kept, line)).format()


def _forged(witness: ckpt.NoteVerifier) -> Callable[[str], str]:
    """A cosignature under the listed witness's name and key ID its key did not make."""
    return lambda note: _resigned(note, witness.name, witness.key_id, SigType.COSIGNATURE_V1)


def _presenting(path: str, alter: Callable[[str], str]) -> type[NodeClient]:
    class Presenting(NodeClient):
        """The node, showing ``path``'s latest note altered."""

        def get(self, asked: str, **params: Any) -> Any:
            answer = super().get(asked, **params)
            if asked == path and not params:
                answer = {**answer, "note": alter(str(answer["note"]))}
            return answer

    return Presenting


@pytest.mark.parametrize("path", [TRUSTED, LATEST])
def test_a_forged_witness_cosignature_marks_the_node_untrusted(
    site: Site, tmp_path: Path, path: str
) -> None:
    """The log key signed the note, so the node stands behind it; a cosignature on it by
    a listed witness that does not verify is made up, not one yet to come."""
    a = site.agencies["AGENCY-A"]
    copy = _unchecked_receipts(a, tmp_path)  # a checkpoint cosigned by then
    consortium = Workspace.load(a.root).consortium
    node = _node_as(a, site, _presenting(path, _forged(_witness(site))))
    receipts = Receipts(copy, consortium, node)
    with pytest.raises(IntegrityError, match="forged witness cosignature") as lie:
        receipts.check()
    assert lie.value.code == "log_node_untrusted"
    assert _witness(site).name in str(receipts.broken())
    with pytest.raises(IntegrityError, match="forged witness cosignature"):
        receipts.check()  # and stays caught
    with pytest.raises(IntegrityError, match="forged witness cosignature"):
        receipts.failure()  # what readiness asks when the node is out of reach


NOT_PROOF = {
    # Unknown keys' cosignatures are ignored (c2sp.org/tlog-cosignature): one in place of
    # a listed witness's leaves the quorum unmet, which is waited for.
    "a cosignature by a key no one lists": lambda w, log: (
        lambda note: _resigned(_strip(note, w), "stranger.example", b"\x01\x02\x03\x04", w.sig_type)
    ),
    # Not by the node: the log key did not sign it.
    "a forged cosignature on a note the log key did not sign": lambda w, log: (
        lambda note: _resigned(_forged(w)(note), log.name, log.key_id, log.sig_type)
    ),
}


def _strip(note: str, witness: ckpt.NoteVerifier) -> str:
    parsed = Note.parse(note)
    kept = [s for s in parsed.signatures if (s.name, s.key_id) != (witness.name, witness.key_id)]
    return Note(parsed.text, tuple(kept)).format()


@pytest.mark.parametrize("how", NOT_PROOF)
def test_what_proves_no_lie_is_waited_for(site: Site, tmp_path: Path, how: str) -> None:
    a = site.agencies["AGENCY-A"]
    copy = _unchecked_receipts(a, tmp_path)
    consortium = Workspace.load(a.root).consortium
    log = ckpt.NoteVerifier.from_vkey(consortium.log_vkey)
    node = _node_as(a, site, _presenting(TRUSTED, NOT_PROOF[how](_witness(site), log)))
    receipts = Receipts(copy, consortium, node)
    assert receipts.check()["pending"] > 0  # not cosigned as far as this gateway can tell
    assert receipts.broken() is None


def test_a_cosigned_checkpoint_that_is_no_note_is_overdue_past_the_deadline(
    site: Site, tmp_path: Path
) -> None:
    """A node answering with what is not even text for its cosigned head proves nothing,
    and must hold back the check no longer than one that never reaches the quorum."""
    a = site.agencies["AGENCY-A"]
    copy = _unchecked_receipts(a, tmp_path)
    consortium = Workspace.load(a.root).consortium
    node = _node_as(a, site, _presenting(TRUSTED, lambda note: cast(str, 7)))
    now = [time.time()]
    receipts = Receipts(copy, consortium, node, deadline_s=3600, clock=lambda: now[0])
    assert receipts.check()["pending"] > 0  # waited for, within the deadline
    now[0] += 7200
    with pytest.raises(IntegrityError) as late:
        receipts.check()
    assert late.value.code == "log_node_overdue"


@contextmanager
def _gateway(site: Site, tmp_path: Path, kind: type[NodeClient]) -> Iterator[RemoteLedger]:
    """AGENCY-A's remote ledger on the real node through ``kind``; no background round."""
    a = site.agencies["AGENCY-A"]
    consortium = Workspace.load(a.root).consortium
    node = _node_as(a, site, kind)
    receipts = Receipts(tmp_path / "r.db", consortium, node)
    outbox = Outbox(tmp_path / "o.db", Workspace.load(site.operator).signer("AGENCY-A"))
    ledger = RemoteLedger(node, consortium, receipts, outbox, interval_s=3600)
    try:
        yield ledger
    finally:
        ledger.close()


def _outcome(answer: dict[str, Any], change: Callable[[dict[str, Any]], Any]) -> Any:
    return {**answer, "outcomes": [change(o) for o in answer["outcomes"]]}


ACKNOWLEDGEMENTS = {
    "no outcomes": lambda answer: {},
    "outcomes that are no list": lambda answer: {"outcomes": 7},
    "an outcome that is no object": lambda answer: _outcome(answer, lambda o: [o]),
    "an outcome that names no transaction": lambda answer: _outcome(
        answer, lambda o: {k: v for k, v in o.items() if k != "tx_id"}
    ),
    "a position in words": lambda answer: _outcome(
        answer, lambda o: {**o, "position": str(o["position"])}
    ),
    "a position in part": lambda answer: _outcome(
        answer, lambda o: {**o, "position": o["position"] + 0.5}
    ),
    "a position that is true": lambda answer: _outcome(answer, lambda o: {**o, "position": True}),
    "another transaction's outcome": lambda answer: _outcome(
        answer, lambda o: {**o, "tx_id": "0" * 64}
    ),
    "a replay whose result is no object": lambda answer: _outcome(
        answer, lambda o: {**o, "position": None, "result": ["tx_id"]}
    ),
}


@pytest.mark.parametrize("how", ACKNOWLEDGEMENTS)
def test_an_acknowledgement_that_does_not_read_marks_the_node_untrusted(
    site: Site, tmp_path: Path, how: str
) -> None:
    """The node appended what it was handed, and answered whole, with what is no
    outcome of it: no position this gateway could hold it to."""
    garble = ACKNOWLEDGEMENTS[how]

    class Garbling(NodeClient):
        def post(self, path: str, body: dict[str, Any]) -> Any:
            answer = super().post(path, body)
            return garble(answer) if path == "/v1/node/submit" else answer

    signer = Workspace.load(site.operator).signer("AGENCY-A")
    tx = sign_proposal(signer, "submit", [ev.independent(4)])
    with _gateway(site, tmp_path, Garbling) as ledger:
        with pytest.raises(IntegrityError) as lie:
            ledger.submit_many([tx])
        assert lie.value.code == "log_node_untrusted"
        assert ledger.receipts.broken() is not None
        with pytest.raises(IntegrityError):
            ledger.receipts.check()  # and stays caught


def test_an_acknowledgement_cut_short_is_handed_over_again(site: Site, tmp_path: Path) -> None:
    """An answer that is not whole JSON says nothing of the node: the events are kept in
    the outbox, handed over again, acknowledged at the one position, and checked."""
    cut = [True]

    class Cutting(NodeClient):
        def _request(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
            answer = super()._request(method, path, *args, **kwargs)
            if path == "/v1/node/submit" and cut[0]:
                answer.data = answer.data[: len(answer.data) // 2]
            return answer

    signer = Workspace.load(site.operator).signer("AGENCY-A")
    tx = sign_proposal(signer, "submit", [ev.independent(5)])
    with _gateway(site, tmp_path, Cutting) as ledger:
        before = int(ledger.node.get("/v1/node/size")["size"])
        (queued,) = ledger.submit_many([tx])
        assert queued.queued
        assert queued.error is None
        assert ledger.outbox.counts() == {"pending": 1, "failed": 0}
        assert int(ledger.node.get("/v1/node/size")["size"]) == before + 1  # appended
        cut[0] = False
        assert ledger.sync()
        assert ledger.outbox.counts() == {"pending": 0, "failed": 0}
        assert int(ledger.node.get("/v1/node/size")["size"]) == before + 1  # not twice
        _until(lambda: ledger.receipts.check()["pending"] == 0, "the append checked")
        assert ledger.receipts.broken() is None


def test_a_query_answer_proved_under_a_forged_cosignature_marks_the_node_untrusted(
    site: Site, tmp_path: Path
) -> None:
    """A query's records are proved against a checkpoint the log signed, however few
    witnesses cosigned it; one it shows with a listed witness's cosignature that does not
    verify is made up all the same."""
    forge = _forged(_witness(site))

    class Presenting(NodeClient):
        def post(self, path: str, body: dict[str, Any]) -> Any:
            answer = super().post(path, body)
            if path == "/v1/node/evaluate" and answer.get("evidence"):
                evidence = {
                    **answer["evidence"],
                    "checkpoint": forge(answer["evidence"]["checkpoint"]),
                }
                answer = {**answer, "evidence": evidence}
            return answer

    signer = Workspace.load(site.operator).signer("AGENCY-A")
    grant = ev.entitlement_granted(ev.pid())
    with _gateway(site, tmp_path, NodeClient) as honest:
        OrgClient(honest, signer).submit(grant)
        assert OrgClient(honest, signer).history(grant["pid"], "deduplication")
    with _gateway(site, tmp_path / "lied", Presenting) as ledger:
        with pytest.raises(IntegrityError, match="does not verify") as lie:
            OrgClient(ledger, signer).history(grant["pid"], "deduplication")
        assert lie.value.code == "log_node_untrusted"
        assert "invalid signature by known key" in str(ledger.receipts.broken())


def test_an_anchor_under_a_forged_cosignature_is_refused_as_forged(
    site: Site, tmp_path: Path
) -> None:
    """Bundles and reports anchor only where the witness quorum cosigned: a trusted
    checkpoint whose listed witness's cosignature does not verify is no quorum to wait
    for, but a forgery."""
    a = site.agencies["AGENCY-A"]
    consortium = Workspace.load(a.root).consortium
    honest = RemoteLog(_remote(_node_as(a, site, NodeClient), consortium, tmp_path / "h"))
    _until(lambda: _anchored(honest), "a cosigned checkpoint")
    log = RemoteLog(
        _remote(
            _node_as(a, site, _presenting(TRUSTED, _forged(_witness(site)))),
            consortium,
            tmp_path / "f",
        )
    )
    with pytest.raises(IntegrityError, match="forged witness cosignature") as refused:
        log.anchor()
    assert refused.value.code == "log_node_checkpoint_forged"


def _anchored(log: RemoteLog) -> bool:
    try:
        return log.anchor().size > 0
    except ConflictError:
        return False


def test_a_node_caught_lying_is_handed_nothing_more(site: Site, tmp_path: Path) -> None:
    """Once a node is not trusted, what is captured waits in the outbox, unsent, however
    readily the node would append it."""
    lying = [True]

    class LyingOnce(NodeClient):
        def post(self, path: str, body: dict[str, Any]) -> Any:
            answer = super().post(path, body)
            if path == "/v1/node/submit" and lying[0]:
                lying[0] = False
                return {}
            return answer

    signer = Workspace.load(site.operator).signer("AGENCY-A")
    with _gateway(site, tmp_path, LyingOnce) as ledger:
        with pytest.raises(IntegrityError):
            ledger.submit_many([sign_proposal(signer, "submit", [ev.independent(7)])])
        size = int(ledger.node.get("/v1/node/size")["size"])
        (kept,) = ledger.submit_many([sign_proposal(signer, "submit", [ev.independent(10)])])
        assert kept.queued
        assert not ledger.sync()
        assert ledger.outbox.counts() == {"pending": 1, "failed": 0}
        assert int(ledger.node.get("/v1/node/size")["size"]) == size
