"""The log entry's bytes are exactly RFC 8785 canonical JSON, however they are built, and
name the signer's certificate by hash; the proposal inside, read back with that
certificate, gives back exactly the signed bytes."""

from __future__ import annotations

import hashlib
import json

import orjson
import pytest
from cryptography.hazmat.primitives import serialization

from chaincode.canonical import canonical_json
from ledger_gw.errors import AuthenticationError
from ledger_gw.identity import Signer, cert_pem, issue_ca, issue_member, load_certificate
from ledger_gw.log.entry import Entry, effects_digest
from ledger_gw.transaction import Proposal, SignedTransaction, certificate_ref, sign_proposal


@pytest.fixture(scope="module")
def signer() -> Signer:
    ca_key, ca_cert = issue_ca("AGENCY-A")
    key, cert = issue_member(ca_key, ca_cert, "AGENCY-A", "agency", "gw")
    return Signer(key, cert_pem(cert))


def _entry(signer: Signer) -> Entry:
    tx = sign_proposal(signer, "submit", [{"type": "consent.revoked", "note": 'é \u2028 "q"'}])
    result = canonical_json({"b": [1, None, True], "a": "x"})
    return tx.entry(result, effects_digest([(b"k", b"v")], [("e", b"{}")]))


def test_entry_bytes_are_canonical_json(signer: Signer) -> None:
    entry = _entry(signer)
    data = entry.to_bytes()
    tx = SignedTransaction.of_entry(entry, {certificate_ref(signer.cert_pem): signer.cert_pem})
    as_dict = {
        "tx": {**tx.to_dict(), "proposal": {**tx.proposal.to_dict(), "creator": _ref(signer)}},
        "result": json.loads(entry.result),
        "effects": entry.effects,
    }
    assert data == canonical_json(as_dict)
    assert Entry.from_bytes(data) == entry


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.replace(b'"effects":"', b'"effects": "'),
        lambda d: d[:-1],
        lambda d: d + b" ",
        lambda d: d.replace(b"}}", b',"extra":1}}', 1),
    ],
    ids=["whitespace", "truncated", "trailing", "extra-field"],
)
def test_non_canonical_entries_are_refused(signer: Signer, mutate: object) -> None:
    data = _entry(signer).to_bytes()
    with pytest.raises(ValueError, match="entry"):
        Entry.from_bytes(mutate(data))  # type: ignore[operator]


def _ref(signer: Signer) -> str:
    return certificate_ref(signer.cert_pem)


def test_an_entry_names_its_certificate_by_the_hash_of_its_der(signer: Signer) -> None:
    data = _entry(signer).to_bytes()
    assert b"CERTIFICATE" not in data
    der = load_certificate(signer.cert_pem).public_bytes(serialization.Encoding.DER)
    assert _ref(signer) == hashlib.sha256(der).hexdigest()
    assert f'"creator":"{_ref(signer)}"'.encode() in data


def test_an_entry_gives_back_the_signed_transaction_with_its_certificate(signer: Signer) -> None:
    signed = sign_proposal(signer, "submit", [{"type": "consent.revoked", "note": 'é "q"'}])
    entry = Entry.from_bytes(signed.entry(b"{}", effects_digest([], [])).to_bytes())
    again = SignedTransaction.of_entry(entry, {_ref(signer): signer.cert_pem})
    assert again.proposal.payload == signed.proposal.payload  # the signed bytes, rebuilt
    assert (again.tx_id, again.signature) == (signed.tx_id, signed.signature)


def test_an_entry_is_read_with_no_certificate_but_the_one_it_names(signer: Signer) -> None:
    entry = _entry(signer)
    with pytest.raises(AuthenticationError, match="unknown certificate"):
        SignedTransaction.of_entry(entry, {})
    ca_key, ca_cert = issue_ca("AGENCY-A")
    _, other = issue_member(ca_key, ca_cert, "AGENCY-A", "agency", "gw")
    with pytest.raises(AuthenticationError, match="not the one named"):
        SignedTransaction.of_entry(entry, {_ref(signer): cert_pem(other)})


def test_effects_digest_separates_writes_from_events() -> None:
    assert effects_digest([(b"a", b"b")], []) != effects_digest([], [("a", b"b")])
    assert effects_digest([(b"ab", b"")], []) != effects_digest([(b"a", b"b")], [])


# -- the proposal inside: read back from its signed bytes, it keeps them exactly ------


def test_a_proposal_read_from_its_payload_is_the_same_proposal(signer: Signer) -> None:
    signed = sign_proposal(signer, "submit", [{"type": "consent.revoked", "note": 'é "q"'}])
    again = Proposal.from_payload(signed.proposal.payload)
    assert again == signed.proposal
    assert again.payload == signed.proposal.payload
    assert again.tx_id == signed.tx_id


def _payload(signer: Signer) -> dict[str, object]:
    return sign_proposal(signer, "submit", [{"type": "x"}]).proposal.to_dict()


@pytest.mark.parametrize(
    "spoil",
    [
        lambda p: orjson.dumps(p),  # keys out of order
        lambda p: orjson.dumps({**p, "extra": 1}, option=orjson.OPT_SORT_KEYS),
        lambda p: orjson.dumps({**p, "function": 7}, option=orjson.OPT_SORT_KEYS),
        lambda p: orjson.dumps({**p, "args": {"a": 1}}, option=orjson.OPT_SORT_KEYS),
        lambda p: orjson.dumps({**p, "args": [1.5]}, option=orjson.OPT_SORT_KEYS),
        lambda p: orjson.dumps([p], option=orjson.OPT_SORT_KEYS),
        lambda p: orjson.dumps(p, option=orjson.OPT_SORT_KEYS) + b" ",
        lambda p: b"{not json",
    ],
)
def test_anything_else_is_refused(signer: Signer, spoil: object) -> None:
    payload = spoil(_payload(signer))  # type: ignore[operator]
    with pytest.raises(ValueError, match="malformed proposal"):
        Proposal.from_payload(payload)


def test_a_certificate_is_named_by_the_fingerprint_the_key_list_uses(signer: Signer) -> None:
    """One name however the PEM is wrapped, and the one the consortium's key periods use."""
    body = "".join(signer.cert_pem.strip().splitlines()[1:-1])
    rewrapped = (
        "-----BEGIN CERTIFICATE-----\n"
        + "\n".join(body[i : i + 76] for i in range(0, len(body), 76))
        + "\n-----END CERTIFICATE-----\n"
    )
    assert rewrapped != signer.cert_pem
    der = load_certificate(signer.cert_pem).public_bytes(serialization.Encoding.DER)
    assert certificate_ref(rewrapped) == certificate_ref(signer.cert_pem)
    assert certificate_ref(signer.cert_pem) == hashlib.sha256(der).hexdigest()
    assert certificate_ref.cache_info().maxsize is not None  # callers cannot grow it unbounded
