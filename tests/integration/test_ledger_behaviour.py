"""The embedded ledger's contract with its callers, on a real SQLite file.

Rejections write nothing; retries and replays return the original result; every
authentication failure is an Outcome error with its code; proofs verify against the
stored, signed checkpoints; only the witnesses the consortium lists cosign them.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from sqlalchemy import select

from chaincode.canonical import canonical_json
from ledger_gw.client import OrgClient
from ledger_gw.embedded import simulation
from ledger_gw.embedded.driver import Driver
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.packing import unpack
from ledger_gw.embedded.schema import checkpoints, log, metadata, state
from ledger_gw.embedded.stub import StateView
from ledger_gw.embedded.witnessing import Cosigner, endpoints
from ledger_gw.errors import AuthenticationError, ConflictError, NotFoundError, RejectedError
from ledger_gw.identity import (
    P256_ORDER,
    Signer,
    cert_pem,
    issue_ca,
    issue_member,
    load_certificate,
    load_signing_key,
)
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.merkle import ProofError, leaf_hash, verify_consistency, verify_inclusion
from ledger_gw.transaction import SignedTransaction, sign_proposal
from ledger_gw.witness import TrustedLog, WitnessHome
from ledger_gw.witness.server import make_witness_server
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.ledgers import MakeClient, MakeLedger, Verify
from tests.support.witnesses import TestWitnesses

Snapshot = dict[str, list[tuple[Any, ...]]]


def snapshot(ledger: EmbeddedLedger) -> Snapshot:
    """Every row of every table: what a rejected request must leave untouched."""
    with ledger.reader() as conn:
        return {
            table.name: sorted(tuple(row) for row in conn.execute(select(table)))
            for table in metadata.sorted_tables
        }


@dataclass(frozen=True)
class Seeded:
    ledger: EmbeddedLedger
    a: OrgClient
    b: OrgClient
    person: str
    consent: dict[str, Any]
    grant: dict[str, Any]
    referral: dict[str, Any]


@pytest.fixture
def seeded(ledger: EmbeddedLedger, client: MakeClient) -> Seeded:
    a, b = client(ledger, "AGENCY-A"), client(ledger, "AGENCY-B")
    person = ev.pid()
    consent = ev.consent_granted(person)
    grant = ev.entitlement_granted(person)
    referral = ev.referral_created(person, consent_id=consent["consent_id"])
    for event in (consent, grant, referral):
        a.submit(event)
    assert ledger.size() == 3
    return Seeded(ledger, a, b, person, consent, grant, referral)


# -- rejections write nothing ---------------------------------------------------------------

Case = Callable[[Seeded, MakeClient], tuple[OrgClient, dict[str, Any]]]

REJECTIONS: dict[str, tuple[Case, str]] = {
    "unknown field": (
        lambda s, c: (s.a, ev.entitlement_granted(s.person, beneficiary_name="Fatima")),
        "unknown_field",
    ),
    "name as pid": (
        lambda s, c: (s.a, ev.entitlement_granted("Fatima Al-Hassan")),
        "invalid_format",
    ),
    "birth date in programme": (
        lambda s, c: (s.a, ev.entitlement_granted(s.person, programme="FATIMA-1991-03-14")),
        "invalid_format",
    ),
    "phone number in programme": (
        lambda s, c: (s.a, ev.entitlement_granted(s.person, programme="P963944123456")),
        "invalid_format",
    ),
    "auditor submits": (
        lambda s, c: (c(s.ledger, "AUDITOR-X"), ev.entitlement_granted(s.person)),
        "role_forbidden",
    ),
    "donor submits": (
        lambda s, c: (c(s.ledger, "DONOR-Y"), ev.consent_granted(s.person)),
        "role_forbidden",
    ),
    "completed before accepted": (
        lambda s, c: (s.b, ev.referral_step("completed", s.referral["referral_id"])),
        "invalid_transition",
    ),
    "accepted by a third agency": (
        lambda s, c: (
            c(s.ledger, "AGENCY-C"),
            ev.referral_step("accepted", s.referral["referral_id"]),
        ),
        "not_receiver",
    ),
    "resumed while active": (
        lambda s, c: (s.a, ev.entitlement_step("resumed", s.grant["entitlement_id"])),
        "invalid_transition",
    ),
    "delivery above entitlement": (
        lambda s, c: (s.a, ev.delivery(s.grant["entitlement_id"], "150.01")),
        "exceeds_entitlement",
    ),
    "same event_id, other content": (
        lambda s, c: (s.a, {**s.grant, "amount": "999"}),
        "event_id_conflict",
    ),
}


@pytest.mark.parametrize("name", list(REJECTIONS))
def test_rejection_writes_nothing(seeded: Seeded, client: MakeClient, name: str) -> None:
    case, code = REJECTIONS[name]
    org, event = case(seeded, client)
    before = snapshot(seeded.ledger)
    (outcome,) = org.submit_many([event])
    assert outcome.error is not None
    assert outcome.error.code == code
    assert outcome.result is None
    assert outcome.position is None
    with pytest.raises(RejectedError) as caught:
        org.submit(event)
    assert caught.value.code == code
    assert snapshot(seeded.ledger) == before


def test_rejection_inside_a_batch_spares_the_others(seeded: Seeded) -> None:
    good_1, good_2 = ev.independent(0), ev.independent(1)
    bad = ev.referral_step("completed", seeded.referral["referral_id"])
    outcomes = seeded.b.submit_many([good_1, bad, good_2])
    assert [o.position for o in outcomes] == [3, None, 4]
    assert outcomes[1].error is not None
    assert outcomes[1].error.code == "invalid_transition"
    assert seeded.ledger.size() == 5


def test_idempotent_replay_returns_the_original(seeded: Seeded) -> None:
    before = snapshot(seeded.ledger)
    again = seeded.a.submit(seeded.grant)  # same event, new transaction
    (first_row,) = [r for r in before["log"] if r[0] == 1]
    assert again["event_id"] == seeded.grant["event_id"]
    assert again["tx_id"] == bytes(first_row[1]).hex()  # the original transaction's result
    (outcome,) = seeded.a.submit_many([seeded.grant])
    assert outcome.error is None
    assert outcome.result == again
    assert outcome.position is None
    assert snapshot(seeded.ledger) == before


def test_retried_signed_transaction_is_not_appended_twice(seeded: Seeded) -> None:
    tx = seeded.a.sign("submit", ev.independent(0))
    (first,) = seeded.ledger.submit_many([tx])
    assert first.position == 3
    after_first = snapshot(seeded.ledger)
    (second,) = seeded.ledger.submit_many([tx])
    assert second.result == first.result
    assert second.position == first.position
    assert snapshot(seeded.ledger) == after_first
    # Twice in one batch: appended once, both answered with the same position.
    tx2 = seeded.a.sign("submit", ev.independent(1))
    outcomes = seeded.ledger.submit_many([tx2, tx2])
    assert [o.position for o in outcomes] == [4, 4]
    assert outcomes[0].result == outcomes[1].result
    assert seeded.ledger.size() == 5


# -- authentication ---------------------------------------------------------------------------


def _org_ca(workspace: Workspace, org_id: str) -> tuple[ec.EllipticCurvePrivateKey, Any]:
    d = workspace.root / "orgs" / org_id
    return load_signing_key(d / "ca.key"), load_certificate((d / "ca.pem").read_text())


def _member(workspace: Workspace, issuer: str, org_id: str, role: Any) -> Signer:
    ca_key, ca_cert = _org_ca(workspace, issuer)
    key, cert = issue_member(ca_key, ca_cert, org_id, role, "rogue.gateway")
    return Signer(key, cert_pem(cert))


def _high_s(tx: SignedTransaction, workspace: Workspace) -> SignedTransaction:
    r, s = decode_dss_signature(tx.signature)
    high = encode_dss_signature(r, P256_ORDER - s)
    # Still a mathematically valid ECDSA signature: only the low-S rule refuses it.
    key = workspace.signer("AGENCY-A").key.public_key()
    key.verify(high, canonical_json(tx.proposal.to_dict()), ec.ECDSA(hashes.SHA256()))
    return SignedTransaction(tx.proposal, high)


def _tx(signer: Signer) -> SignedTransaction:
    return sign_proposal(signer, "submit", [ev.independent(0)])


AUTH_CASES: dict[str, tuple[Callable[[Workspace], SignedTransaction], str]] = {
    "signed by another key": (
        lambda ws: _tx(Signer(ws.signer("AGENCY-B").key, ws.signer("AGENCY-A").cert_pem)),
        "bad_signature",
    ),
    "certificate from another org's CA": (
        lambda ws: _tx(_member(ws, "AGENCY-B", "AGENCY-A", "agency")),
        "untrusted_certificate",
    ),
    "certificate with another role": (
        lambda ws: _tx(_member(ws, "AGENCY-A", "AGENCY-A", "auditor")),
        "wrong_role",
    ),
    "auditor's CA issues an agency certificate": (
        lambda ws: _tx(_member(ws, "AUDITOR-X", "AUDITOR-X", "agency")),
        "wrong_role",
    ),
    "organisation outside the consortium": (
        lambda ws: _tx(Signer(*_self_issued("AGENCY-Z"))),
        "unknown_organisation",
    ),
    "high-S signature": (lambda ws: _high_s(_tx(ws.signer("AGENCY-A")), ws), "bad_signature"),
    "signature is not DER": (
        lambda ws: SignedTransaction(_tx(ws.signer("AGENCY-A")).proposal, b"\x30\x03junk"),
        "bad_signature",
    ),
    "payload changed after signing": (
        lambda ws: _changed_after_signing(_tx(ws.signer("AGENCY-A"))),
        "bad_signature",
    ),
    "creator is not a certificate": (
        lambda ws: _with_creator(_tx(ws.signer("AGENCY-A")), "not a certificate"),
        "bad_certificate",
    ),
    # Signed over another wrapping of its own certificate: it would verify now, and not
    # once read back from the log, which keeps one PEM per certificate (the member could
    # then disown its entry as the operator's forgery).
    "certificate wrapped otherwise, signed so": (
        lambda ws: _tx(_rewrapped(ws.signer("AGENCY-A"))),
        "bad_certificate",
    ),
}


def _rewrapped(signer: Signer) -> Signer:
    return Signer(signer.key, signer.cert_pem.replace("\n", "\r\n"))


def _self_issued(org_id: str) -> tuple[ec.EllipticCurvePrivateKey, str]:
    ca_key, ca_cert = issue_ca(org_id)
    key, cert = issue_member(ca_key, ca_cert, org_id, "agency", "gateway")
    return key, cert_pem(cert)


def _changed_after_signing(tx: SignedTransaction) -> SignedTransaction:
    return SignedTransaction(replace(tx.proposal, args=(ev.independent(1),)), tx.signature)


def _with_creator(tx: SignedTransaction, creator: str) -> SignedTransaction:
    return SignedTransaction(replace(tx.proposal, creator=creator), tx.signature)


@pytest.mark.parametrize("name", list(AUTH_CASES))
def test_authentication_failure_is_an_outcome_error(
    seeded: Seeded, workspace: Workspace, name: str
) -> None:
    make, code = AUTH_CASES[name]
    tx = make(workspace)
    before = snapshot(seeded.ledger)
    (outcome,) = seeded.ledger.submit_many([tx])
    assert outcome.error is not None, name
    assert outcome.error.kind == "unauthenticated"
    assert outcome.error.code == code, str(outcome.error)
    assert outcome.tx_id == tx.tx_id
    if name == "high-S signature":
        assert "low-S" in str(outcome.error)
    assert snapshot(seeded.ledger) == before


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.pop("signature"),
        lambda d: d.__setitem__("signature", "%%%"),
        lambda d: d["proposal"].__setitem__("nonce", "not base64!"),
        lambda d: d["proposal"].__setitem__("timestamp", "2026-01-01T00:00:00Z"),
        lambda d: d["proposal"].pop("args"),
        lambda d: d.__setitem__("proposal", None),
        lambda d: d["proposal"]["args"][0].__setitem__("amount", 1.5),
    ],
    ids=["no signature", "signature", "nonce", "timestamp", "no args", "no proposal", "float"],
)
def test_malformed_transaction(workspace: Workspace, damage: Callable[[Any], Any]) -> None:
    data = _tx(workspace.signer("AGENCY-A")).to_dict()
    damage(data)
    with pytest.raises(AuthenticationError) as caught:
        SignedTransaction.from_dict(data)
    assert caught.value.code == "malformed_transaction"


# -- time and function checks -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset_minutes", "accepted"), [(-11, False), (-9, True), (9, True), (11, False)]
)
def test_clock_skew(
    make_ledger: MakeLedger, client: MakeClient, offset_minutes: int, accepted: bool
) -> None:
    ledger = make_ledger(
        clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(minutes=offset_minutes)
    )
    (outcome,) = client(ledger, "AGENCY-A").submit_many([ev.independent(0)])
    if accepted:
        assert outcome.error is None
        assert outcome.position == 0
    else:
        assert outcome.error is not None
        assert outcome.error.code == "clock_skew"
        assert ledger.size() == 0


def test_evaluate_refuses_writes_and_submit_refuses_queries(seeded: Seeded) -> None:
    before = snapshot(seeded.ledger)
    with pytest.raises(RejectedError) as caught:
        seeded.ledger.evaluate(seeded.a.sign("submit", ev.independent(0)))
    assert caught.value.code == "unknown_function"
    (outcome,) = seeded.ledger.submit_many(
        [seeded.a.sign("entitlements", seeded.person, "deduplication")]
    )
    assert outcome.error is not None
    assert outcome.error.code == "unknown_function"
    assert snapshot(seeded.ledger) == before
    # The same query through evaluate works and sees the entitlement.
    found = seeded.a.entitlements(seeded.person, "deduplication")
    assert seeded.grant["entitlement_id"] in str(found)


# -- proofs against the stored checkpoints --------------------------------------------------


def _roots(ledger: EmbeddedLedger, workspace: Workspace) -> dict[int, bytes]:
    log_key = ckpt.NoteVerifier.from_vkey(workspace.consortium.log_vkey)
    with ledger.reader() as conn:
        rows = conn.execute(select(checkpoints.c.size, checkpoints.c.note)).all()
    out = {}
    for size, note in rows:
        cp = ckpt.open_checkpoint(note, log_key).checkpoint
        assert cp.size == size
        assert cp.origin == workspace.consortium.origin
        out[cp.size] = cp.root_hash
    return out


def test_proofs_verify_against_signed_checkpoints(seeded: Seeded, workspace: Workspace) -> None:
    ledger = seeded.ledger
    for org, event in ev.story()[:9]:
        OrgClient(ledger, workspace.signer(org)).submit(event)
    for n in (2, 5, 1, 3):
        assert all(
            o.error is None for o in seeded.a.submit_many(ev.independent(i) for i in range(n))
        )
    size = ledger.size()
    assert size == 3 + 9 + 11
    roots = _roots(ledger, workspace)
    assert max(roots) == size
    assert len(roots) == 3 + 9 + 4  # one per batch
    leaves = [leaf_hash(ledger.log.entry(i)) for i in range(size)]
    for tree_size, root in roots.items():
        for index in range(tree_size):
            proof = ledger.log.inclusion_proof(index, tree_size)
            verify_inclusion(leaves[index], index, tree_size, proof, root)
            if index + 1 < tree_size:
                with pytest.raises(ProofError):
                    verify_inclusion(leaves[index + 1], index, tree_size, proof, root)
    sizes = sorted(roots)
    for i, size1 in enumerate(sizes):
        for size2 in sizes[i:]:
            proof = ledger.log.consistency_proof(size1, size2)
            verify_consistency(size1, size2, proof, roots[size1], roots[size2])
            if size1 < size2:
                with pytest.raises(ProofError):
                    verify_consistency(size1, size2, proof, roots[size1], leaves[0])


# -- cosigning ----------------------------------------------------------------------------------


def test_witnesses_cosign_when_asked(
    seeded: Seeded,
    workspace: Workspace,
    witnesses: TestWitnesses,
    make_ledger: MakeLedger,
    ledger_url: str,
    verify: Verify,
) -> None:
    asking = make_ledger(witnesses=endpoints(workspace.consortium))  # appends nothing itself
    log_key = ckpt.NoteVerifier.from_vkey(workspace.consortium.log_vkey)
    members = workspace.consortium.witness_verifiers()
    note = asking.cosign()
    assert seeded.ledger.log.checkpoint() == note
    opened = ckpt.open_checkpoint(note, log_key, members, quorum=2)
    assert sorted(opened.witnesses) == ["witness.agency-a", "witness.auditor-x"]
    assert opened.checkpoint.size == 3
    assert verify(ledger_url).cosignatures == 2
    before = snapshot(seeded.ledger)
    with pytest.raises(ConflictError) as twice:
        asking.cosign()
    assert twice.value.code == "already_cosigned"
    with pytest.raises(ConflictError) as older:  # a witness never goes back to a smaller tree
        asking.cosign(size=1)
    assert older.value.code == "witness_refused"
    for size in (0, 4, 2**63 - 1, 2**63, 10**30):
        with pytest.raises(NotFoundError):
            asking.cosign(size=size)
    assert snapshot(seeded.ledger) == before


def test_a_cosignature_by_an_unlisted_key_is_not_kept(
    seeded: Seeded, workspace: Workspace, witnesses: TestWitnesses, tmp_path: Path
) -> None:
    log = TrustedLog.from_vkey(workspace.consortium.origin, workspace.consortium.log_vkey)
    impostor = WitnessHome.create(tmp_path / "impostor", "AGENCY-A").open([log])
    server = make_witness_server(impostor, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        listed = endpoints(workspace.consortium)[0]
        elsewhere = replace(listed, url=f"http://127.0.0.1:{server.server_port}")
        before = snapshot(seeded.ledger)
        with pytest.raises(ConflictError) as caught:
            Cosigner(seeded.ledger.engine, workspace.consortium).ask([elsewhere], None)
        assert caught.value.code == "witness_refused"
        assert snapshot(seeded.ledger) == before
    finally:
        server.shutdown()
        server.server_close()
        impostor.store.close()


def test_no_witness_key_in_the_operators_directory(workspace: Workspace) -> None:
    assert not list(workspace.root.rglob("witness.key"))
    assert workspace.consortium.witness_keys()  # the file lists their public keys only


def test_workspace_paths_are_private(workspace: Workspace) -> None:
    for key in (workspace.root / "orgs").glob("*/*.key"):
        assert Path(key).stat().st_mode & 0o077 == 0, key


def test_contract_crash_on_one_transaction_spares_the_batch(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A contract bug (not a ContractError) rejects only the transaction that hit it."""
    good_1, poison, good_2 = ev.independent(0), ev.independent(1), ev.independent(2)
    real_invoke = simulation.invoke

    def crashing(stub: Any, function: str, args: list[bytes]) -> bytes:
        if poison["event_id"].encode() in args[0]:
            raise RuntimeError("simulated contract bug")
        return real_invoke(stub, function, args)

    monkeypatch.setattr(simulation, "invoke", crashing)
    size = seeded.ledger.size()
    outcomes = seeded.a.submit_many([good_1, poison, good_2])
    assert [o.error is None for o in outcomes] == [True, False, True]
    error = outcomes[1].error
    assert error is not None
    assert (error.kind, error.code) == ("internal", "contract_failure")
    assert seeded.ledger.size() == size + 2


def test_a_storage_failure_under_the_contract_is_the_ledgers_not_the_transactions(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read the contract makes that fails in the database fails the batch as the
    ledger unavailable, to be sent again; not as the contract failing on that one
    transaction, which an outbox sets aside for good."""
    event = ev.independent(3)
    real_init = Driver.__init__
    failures = [1]

    class Disk:
        """The database's cursor, whose next state read (the contract's) fails."""

        def __init__(self, cursor: Any, state_read: str) -> None:
            self.cursor, self.state_read = cursor, state_read

        def execute(self, sql: str, params: Any = ()) -> Any:
            if failures[0] and sql == self.state_read:
                failures[0] -= 1
                raise sqlite3.OperationalError("disk I/O error")
            return self.cursor.execute(sql, params)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.cursor, name)

    def init(self: Driver, conn: Any) -> None:
        real_init(self, conn)
        self.cursor = Disk(self.cursor, self._get)

    monkeypatch.setattr(Driver, "__init__", init)
    size = seeded.ledger.size()
    (failed,) = seeded.a.submit_many([event])
    assert failed.error is not None
    assert (failed.error.kind, failed.error.code) == ("unavailable", "ledger_unavailable")
    assert failures == [0]  # the read did fail, under the contract
    assert seeded.ledger.size() == size
    (again,) = seeded.a.submit_many([event])
    assert again.error is None
    assert seeded.ledger.size() == size + 1


def test_values_quote_their_entry_rather_than_copy_it(
    make_ledger: MakeLedger, workspace: Workspace
) -> None:
    ledger = make_ledger()
    event = ev.entitlement_granted(ev.pid())
    OrgClient(ledger, workspace.signer("AGENCY-A")).submit(event)
    arg = canonical_json(event)
    with ledger.reader() as conn:
        (entry,) = conn.execute(select(log.c.entry)).scalars()
        rows = conn.execute(select(state)).all()
        view = StateView(conn)
        read = {bytes(r.key): view.get(bytes(r.key)) for r in rows}
    quoting = [r for r in rows if r.quote_at is not None]
    assert quoting
    assert any(r.quote_at is None for r in rows)  # small ones hold no part of it
    stored = {bytes(r.key): unpack(bytes(r.value)) for r in rows}  # as written, inflated
    for r in quoting:
        value, kept = read[bytes(r.key)], stored[bytes(r.key)]
        assert value is not None
        part = unpack(bytes(entry))[r.quote_from : r.quote_from + r.quote_len]
        assert part not in kept
        assert value == kept[: r.quote_at] + part + kept[r.quote_at :]
    assert any(arg in value for value in read.values() if value is not None)
    assert not any(arg in kept for kept in stored.values())  # the event is in its entry only
