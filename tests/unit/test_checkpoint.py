"""Tests for ledger_gw.log.note and ledger_gw.log.checkpoint (C2SP signed-note, tlog-checkpoint,
tlog-cosignature)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger_gw.log.checkpoint import (
    Checkpoint,
    CheckpointError,
    add_cosignature,
    cosign_statement,
    dump_signer,
    merge_statements,
    open_checkpoint,
    open_statement,
    parse_signer,
    sign_checkpoint,
)
from ledger_gw.log.merkle import EMPTY_ROOT
from ledger_gw.log.note import (
    MAX_SIGNATURES,
    Note,
    NoteError,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    SigType,
    cosignature_v1_message,
    generate_signer,
    key_id,
    sign_note,
)

# --- Known-answer vectors ------------------------------------------------------------------------
# golang.org/x/mod/sumdb/note, package documentation (note.go "Example") and note_test.go.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIG_LINE = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdn"
    "gotpRZb6KE6RyyBwJnAM=\n"
)
GO_NOTE = GO_TEXT + "\n" + GO_SIG_LINE

# c2sp.org/signed-note, "NoteVerifier keys" / "Example".
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n"
    "\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRK"
    "uwHjG1Yu72IneyaQM=\n"
)

# github.com/transparency-dev/formats note/note_cosigv1_test.go (TestCoSigV1NewVerifier,
# TestCoSigV1Timestamp): a native 0x04 cosigner vkey, a 0x01 vkey, and a cosignature
# whose timestamp field is 1727964367.
FORMATS_COSIG_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
FORMATS_ED25519_VKEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
FORMATS_COSIG_SIG = (
    "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEB"
    "YJXORmnFBOBA=="
)

ROOT = hashlib.sha256(b"root").digest()
ORIGIN = "ledger.example/log"


def _seeded(name: str, seed: int, sig_type: SigType = SigType.ED25519) -> NoteSigner:
    key = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
    return NoteSigner(name, key, sig_type)


LOG = _seeded(ORIGIN, 1)
W1 = _seeded("witness.example/w1", 2, SigType.COSIGNATURE_V1)
W2 = _seeded("witness.example/w2", 3, SigType.COSIGNATURE_V1)
W3 = _seeded("witness.example/w3", 4, SigType.COSIGNATURE_V1)
CP = Checkpoint(ORIGIN, 20852163, ROOT)


def _signed(cp: Checkpoint = CP) -> str:
    return sign_checkpoint(cp, LOG)


def _cosigned(*witnesses: NoteSigner, ts: int = 1679315147) -> str:
    note = _signed()
    for w in witnesses:
        note = add_cosignature(note, w, ts)
    return note


# --- Interoperability vectors --------------------------------------------------------------------


def test_go_note_vector_sign_reproduces_bytes() -> None:
    signer = NoteSigner.from_skey(GO_SKEY)
    assert signer.verifier.vkey == GO_VKEY
    assert signer.key_id.hex() == "c74f20a3"
    assert signer.to_skey() == GO_SKEY
    # Ed25519 is deterministic (RFC 8032): same key and text give the same note.
    assert sign_note(GO_TEXT, [signer]) == GO_NOTE


def test_go_note_vector_verifies() -> None:
    v = NoteVerifier.from_vkey(GO_VKEY)
    note = Note.parse(GO_NOTE)
    assert note.text == GO_TEXT
    (sig,) = note.signatures
    assert (sig.name, sig.key_id) == ("PeterNeumann", v.key_id)
    assert v.verify(note.text.encode(), sig.signature)
    assert not v.verify(note.text.replace("answer", "Answer").encode(), sig.signature)
    assert note.format() == GO_NOTE


@pytest.mark.parametrize(
    "bad",
    [  # golang.org/x/mod/sumdb/note note_test.go TestOpen "bad messages" table
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + GO_SIG_LINE[:-1],
        "\x01" + GO_TEXT + "\n" + GO_SIG_LINE,
        GO_TEXT + "\n— Bad Name " + GO_SIG_LINE.split(" ")[2],
        GO_TEXT + "\n" + GO_SIG_LINE + "Unexpected line.\n",
    ],
)
def test_go_bad_messages_rejected(bad: str) -> None:
    with pytest.raises(NoteError):
        Note.parse(bad)


def test_invalid_utf8_rejected() -> None:
    with pytest.raises(NoteError, match="UTF-8"):
        Note.parse(b"\xff" + GO_NOTE.encode())


@pytest.mark.parametrize(
    "bad_vkey",
    [  # note_test.go TestNewVerifier: wrong length key / unknown algorithm, adjusted hash
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong ID
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # upper hex
        "PeterNeumann+c74f20a3",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
    ],
)
def test_bad_vkeys_rejected(bad_vkey: str) -> None:
    with pytest.raises(NoteError):
        NoteVerifier.from_vkey(bad_vkey)


def test_c2sp_signed_note_example() -> None:
    v = NoteVerifier.from_vkey(C2SP_VKEY)
    assert v.vkey == C2SP_VKEY
    note = Note.parse(C2SP_NOTE)
    (sig,) = note.signatures
    assert sig.key_id == v.key_id
    assert v.verify(note.text.encode(), sig.signature)


def test_transparency_dev_cosigner_vkeys() -> None:
    cosigner = NoteVerifier.from_vkey(FORMATS_COSIG_VKEY)  # key ID check is 0x04-specific
    assert cosigner.sig_type is SigType.COSIGNATURE_V1
    assert cosigner.vkey == FORMATS_COSIG_VKEY
    plain = NoteVerifier.from_vkey(FORMATS_ED25519_VKEY)
    assert plain.sig_type is SigType.ED25519
    converted = plain.as_type(SigType.COSIGNATURE_V1)
    assert converted.key_id == key_id("TEST", SigType.COSIGNATURE_V1, plain.public_key)
    assert converted.key_id != plain.key_id


def test_transparency_dev_cosignature_timestamp_layout() -> None:
    raw = base64.b64decode(FORMATS_COSIG_SIG)
    line = NoteSignature("w", raw[:4], raw[4:]).line()
    (parsed,) = Note.parse("x\n\n" + line).signatures
    assert len(parsed.signature) == 8 + 64
    assert int.from_bytes(parsed.signature[:8], "big") == 1727964367


def test_key_id_definitions() -> None:
    pub = W1.verifier.public_key
    name = W1.name.encode()
    assert W1.key_id == hashlib.sha256(name + b"\n\x04" + pub).digest()[:4]
    assert (
        LOG.key_id
        == hashlib.sha256(ORIGIN.encode() + b"\n\x01" + LOG.verifier.public_key).digest()[:4]
    )


def test_cosignature_message_matches_spec_example() -> None:
    # c2sp.org/tlog-cosignature, "Ed25519 signed message".
    body = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    assert cosignature_v1_message(body, 1679315147) == (b"cosignature/v1\ntime 1679315147\n" + body)


def test_cosignature_signs_spec_message() -> None:
    note = Note.parse(_cosigned(W1, ts=1679315147))
    sig = note.signatures[-1].signature
    assert sig[:8] == (1679315147).to_bytes(8, "big")
    pub = W1.verifier.public_key
    Ed25519PublicKey.from_public_bytes(pub).verify(
        sig[8:], b"cosignature/v1\ntime 1679315147\n" + CP.body()
    )


# --- Checkpoint body ---------------------------------------------------------------------------


def test_checkpoint_body_format() -> None:
    cp = Checkpoint(
        "example.com/behind-the-sofa",
        20852163,
        base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="),
    )
    assert cp.body() == (
        b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    assert Checkpoint.parse(cp.body()) == cp
    ext = Checkpoint(ORIGIN, 1, ROOT, ("ext one", "ext two"))
    assert Checkpoint.parse(ext.text()) == ext


@pytest.mark.parametrize(
    "text",
    [
        "",
        "o\n1\n",
        f"o\n1\n{base64.b64encode(ROOT).decode()}",  # no final newline
        f"o\n01\n{base64.b64encode(ROOT).decode()}\n",  # leading zero
        f"o\n-1\n{base64.b64encode(ROOT).decode()}\n",
        f"o\n+1\n{base64.b64encode(ROOT).decode()}\n",
        f"o\n 1\n{base64.b64encode(ROOT).decode()}\n",
        f"o\n1\n{base64.b64encode(ROOT[:31]).decode()}\n",  # short hash
        f"o\n1\n{base64.b64encode(ROOT).decode().rstrip('=')}\n",  # unpadded
        f"\n1\n{base64.b64encode(ROOT).decode()}\n",  # empty origin
        f"o\n1\n{base64.b64encode(ROOT).decode()}\n\n",  # empty extension line
        f"o\n1\n{base64.b64encode(ROOT).decode()}\nx\r\n",
        f"o\n{'9' * 5000}\n{base64.b64encode(ROOT).decode()}\n",  # beyond int()'s digits
        f"o\n{2**63}\n{base64.b64encode(ROOT).decode()}\n",  # beyond SQLite's integers
        f"o\n1\n{base64.b64encode(ROOT).decode()[:-1]}\u00e9\n",  # base64 beyond ASCII
    ],
)
def test_checkpoint_parse_rejects(text: str) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint.parse(text)


def test_checkpoint_constructor_validates() -> None:
    with pytest.raises(CheckpointError, match="32 bytes"):
        Checkpoint(ORIGIN, 1, b"short")
    with pytest.raises(CheckpointError, match="non-negative"):
        Checkpoint(ORIGIN, -1, ROOT)
    with pytest.raises(CheckpointError, match="newline"):
        Checkpoint("a\nb", 1, ROOT)
    with pytest.raises(CheckpointError, match="non-empty"):
        Checkpoint(ORIGIN, 1, ROOT, ("",))
    # the empty tree has one root: a witness must not cosign another for size 0, after
    # which any tree would extend it without a proof
    with pytest.raises(CheckpointError, match="empty root"):
        Checkpoint(ORIGIN, 0, bytes(32))
    assert Checkpoint(ORIGIN, 0, EMPTY_ROOT).size == 0


# --- Sign / cosign / open ----------------------------------------------------------------------


def test_round_trip_log_only() -> None:
    note = _signed()
    opened = open_checkpoint(note, LOG.verifier)
    assert opened.checkpoint == CP
    assert opened.cosignatures == ()
    assert opened.note == note
    assert open_checkpoint(note.encode(), LOG.verifier).checkpoint == CP


def test_round_trip_with_cosignatures_and_quorum() -> None:
    note = _cosigned(W1, W2, ts=1700000000)
    witnesses = [W1.verifier, W2.verifier, W3.verifier]
    opened = open_checkpoint(note, LOG.verifier, witnesses, quorum=2)
    assert opened.witnesses == (W1.name, W2.name)
    assert [c.timestamp for c in opened.cosignatures] == [1700000000, 1700000000]
    assert opened.cosignatures[0].witness == W1.verifier


def test_vkey_round_trip_and_generate_signer() -> None:
    signer, vkey = generate_signer("gen.example/log")
    v = NoteVerifier.from_vkey(vkey)
    assert v == signer.verifier
    cosigner, cvkey = generate_signer("gen.example/w", SigType.COSIGNATURE_V1)
    assert NoteVerifier.from_vkey(cvkey).sig_type is SigType.COSIGNATURE_V1
    assert NoteSigner.from_skey(cosigner.to_skey()).verifier == cosigner.verifier


def test_key_file_round_trip(tmp_path: Path) -> None:
    signer, vkey = generate_signer(ORIGIN)
    path = tmp_path / "log.key"
    path.write_bytes(dump_signer(signer))
    loaded = parse_signer(path.read_bytes())
    assert loaded.verifier.vkey == vkey
    note = sign_checkpoint(CP, loaded)
    assert open_checkpoint(note, NoteVerifier.from_vkey(vkey)).checkpoint == CP
    path.write_text("PRIVATE+KEY+garbage\n")
    with pytest.raises(CheckpointError):
        parse_signer(path.read_bytes())


def test_ed25519_witness_keys_are_used_as_cosigners() -> None:
    # Like transparency-dev/formats: a plain 0x01 witness vkey/skey is taken as the
    # cosignature/v1 key of the same Ed25519 key pair.
    plain = _seeded("witness.example/plain", 9)
    note = add_cosignature(_signed(), plain, 5)
    opened = open_checkpoint(note, LOG.verifier, [plain.verifier], quorum=1)
    assert opened.cosignatures[0].witness.sig_type is SigType.COSIGNATURE_V1
    assert Note.parse(note).signatures[-1].key_id == plain.as_type(SigType.COSIGNATURE_V1).key_id


def test_tampered_body_rejected() -> None:
    note = _cosigned(W1)
    for old, new in (("20852163", "20852164"), (ORIGIN + "\n", ORIGIN + "x\n")):
        tampered = note.replace(old, new, 1)
        with pytest.raises(CheckpointError, match="invalid signature by known key"):
            open_checkpoint(tampered, LOG.verifier, [W1.verifier], quorum=1)
    b64root = base64.b64encode(ROOT).decode()
    other = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    with pytest.raises(CheckpointError, match="invalid signature"):
        open_checkpoint(note.replace(b64root, other), LOG.verifier)


def test_tampered_signature_rejected() -> None:
    note = _signed()
    sig_b64 = note.rsplit(" ", 1)[1].strip()
    raw = bytearray(base64.b64decode(sig_b64))
    raw[-1] ^= 1
    bad = note.replace(sig_b64, base64.b64encode(bytes(raw)).decode())
    with pytest.raises(CheckpointError, match=f"invalid signature by known key {ORIGIN}"):
        open_checkpoint(bad, LOG.verifier)


def test_truncated_signature_rejected() -> None:
    note = _signed()
    sig_b64 = note.rsplit(" ", 1)[1].strip()
    raw = base64.b64decode(sig_b64)[:-1]
    bad = note.replace(sig_b64, base64.b64encode(raw).decode())
    with pytest.raises(CheckpointError, match="invalid signature"):
        open_checkpoint(bad, LOG.verifier)


def test_wrong_log_key_rejected() -> None:
    impostor = _seeded(ORIGIN, 7)  # same name, different key: different key ID
    note = sign_checkpoint(CP, impostor)
    with pytest.raises(CheckpointError, match="no signature by the log key"):
        open_checkpoint(note, LOG.verifier)


def test_key_id_collision_with_wrong_key_is_a_bad_signature() -> None:
    # Same name and key ID as the log but a different key: treated as the log's
    # signature and rejected (signed-note: "If the key name and ID match a known key,
    # verifiers MUST verify the signature").
    impostor = _seeded(ORIGIN, 7)
    forged = NoteSignature(ORIGIN, LOG.key_id, impostor.sign(CP.body()))
    note = Note(CP.text(), (forged,)).format()
    with pytest.raises(CheckpointError, match="invalid signature by known key"):
        open_checkpoint(note, LOG.verifier)


def test_origin_must_match() -> None:
    cp = Checkpoint("another.example/log", 1, ROOT)
    note = sign_checkpoint(cp, LOG)
    with pytest.raises(CheckpointError, match=re.escape("origin 'another.example/log'")):
        open_checkpoint(note, LOG.verifier)
    assert open_checkpoint(note, LOG.verifier, origin="another.example/log").checkpoint == cp


def test_unknown_cosignature_ignored() -> None:
    stranger = _seeded("witness.example/stranger", 8, SigType.COSIGNATURE_V1)
    note = add_cosignature(_cosigned(W1), stranger, 1)
    opened = open_checkpoint(note, LOG.verifier, [W1.verifier], quorum=1)
    assert opened.witnesses == (W1.name,)
    # Also unknown garbage lines from unknown keys are ignored (only well-formed ones).
    junk = NoteSignature("someone.else", b"\x00\x00\x00\x00", b"\x01" * 10).line()
    assert open_checkpoint(note + junk, LOG.verifier).checkpoint == CP


def test_unknown_key_sharing_name_or_id_is_ignored() -> None:
    other = _seeded(W1.name, 10, SigType.COSIGNATURE_V1)  # same name, other key ID
    note = add_cosignature(_signed(), other, 1)
    opened = open_checkpoint(note, LOG.verifier, [W1.verifier])
    assert opened.cosignatures == ()
    same_id = NoteSignature("x.example", W1.key_id, b"\x00" * 72).line()  # ID only
    assert open_checkpoint(_signed() + same_id, LOG.verifier, [W1.verifier]).cosignatures == ()


def test_forged_cosignature_rejected() -> None:
    # A cosignature line claiming W1's name and key ID, signed with another key.
    forger = _seeded(W1.name, 11, SigType.COSIGNATURE_V1)
    note = _signed()
    forged = NoteSignature(W1.name, W1.key_id, forger.sign(CP.body(), timestamp=1))
    with pytest.raises(CheckpointError, match=f"invalid signature by known key {W1.name}"):
        open_checkpoint(note + forged.line(), LOG.verifier, [W1.verifier])


def test_cosignature_timestamp_is_signed() -> None:
    note = _cosigned(W1, ts=1000)
    sig = Note.parse(note).signatures[-1]
    moved = NoteSignature(sig.name, sig.key_id, (2000).to_bytes(8, "big") + sig.signature[8:])
    bad = Note(CP.text(), (Note.parse(note).signatures[0], moved)).format()
    with pytest.raises(CheckpointError, match="invalid signature"):
        open_checkpoint(bad, LOG.verifier, [W1.verifier])


def test_log_signature_is_not_a_cosignature() -> None:
    # The log's 0x01 signature must not count as a witness, even for the same key.
    as_witness = LOG.verifier.as_type(SigType.COSIGNATURE_V1)
    opened = open_checkpoint(_signed(), LOG.verifier, [as_witness])
    assert opened.cosignatures == ()
    with pytest.raises(CheckpointError, match="quorum not met"):
        open_checkpoint(_signed(), LOG.verifier, [as_witness], quorum=1)


def test_quorum_unmet() -> None:
    note = _cosigned(W1)
    witnesses = [W1.verifier, W2.verifier, W3.verifier]
    with pytest.raises(CheckpointError, match="quorum not met: 1 of 3 witnesses verified, 2"):
        open_checkpoint(note, LOG.verifier, witnesses, quorum=2)
    assert len(open_checkpoint(note, LOG.verifier, witnesses, quorum=1).cosignatures) == 1


def test_missing_log_signature_rejected() -> None:
    note = _cosigned(W1, W2)
    parsed = Note.parse(note)
    without_log = Note(parsed.text, parsed.signatures[1:]).format()
    with pytest.raises(CheckpointError, match="no signature by the log key"):
        open_checkpoint(without_log, LOG.verifier, [W1.verifier, W2.verifier])


def test_duplicate_signatures_rejected() -> None:
    note = _cosigned(W1)
    parsed = Note.parse(note)
    dup_cosig = Note(parsed.text, (*parsed.signatures, parsed.signatures[1])).format()
    with pytest.raises(CheckpointError, match=f"duplicate signature by {W1.name}"):
        open_checkpoint(dup_cosig, LOG.verifier, [W1.verifier, W2.verifier], quorum=2)
    dup_log = Note(parsed.text, (parsed.signatures[0], *parsed.signatures)).format()
    with pytest.raises(CheckpointError, match=f"duplicate signature by {ORIGIN}"):
        open_checkpoint(dup_log, LOG.verifier)
    with pytest.raises(CheckpointError, match="already has a cosignature"):
        add_cosignature(note, W1, 2)


def test_duplicate_unknown_signatures_ignored() -> None:
    stranger = _seeded("witness.example/stranger", 8, SigType.COSIGNATURE_V1)
    note = add_cosignature(_signed(), stranger, 1)
    line = Note.parse(note).signatures[-1].line()
    assert open_checkpoint(note + line, LOG.verifier).checkpoint == CP


def test_signature_count_limit() -> None:
    stranger_line = NoteSignature("s.example", b"\x00" * 4, b"\x00" * 64).line()
    note = _signed()
    ok = note + stranger_line * (MAX_SIGNATURES - 1)
    assert open_checkpoint(ok, LOG.verifier).checkpoint == CP
    with pytest.raises(CheckpointError, match="more than 100"):
        open_checkpoint(ok + stranger_line, LOG.verifier)


def test_bad_configuration_rejected() -> None:
    note = _cosigned(W1)
    with pytest.raises(ValueError, match="quorum 2 impossible with 1"):
        open_checkpoint(note, LOG.verifier, [W1.verifier], quorum=2)
    with pytest.raises(ValueError, match="listed twice"):
        open_checkpoint(note, LOG.verifier, [W1.verifier, W1.verifier])
    with pytest.raises(ValueError, match="log verifier must be an Ed25519"):
        open_checkpoint(note, W1.verifier)
    with pytest.raises(ValueError, match="cannot use a COSIGNATURE_V1 key"):
        W1.verifier.as_type(SigType.ED25519)
    with pytest.raises(CheckpointError, match="log must sign with an Ed25519"):
        sign_checkpoint(CP, W1)
    with pytest.raises(CheckpointError, match="timestamp"):
        add_cosignature(_signed(), W1, -1)
    with pytest.raises(CheckpointError, match="timestamp"):
        add_cosignature(_signed(), W1, 1 << 63)


def test_one_private_key_under_two_names_is_one_witness() -> None:
    """A quorum counts public keys: the same key under another name (so another key ID)
    cosigning too is one witness, not two."""
    alias = _seeded("witness.example/alias", 2, SigType.COSIGNATURE_V1)  # W1's key
    assert alias.key_id != W1.key_id
    note = add_cosignature(_cosigned(W1), alias, 1679315147)
    keys = [W1.verifier, alias.verifier, W2.verifier]
    with pytest.raises(CheckpointError, match="quorum not met: 1 of 3"):
        open_checkpoint(note, LOG.verifier, keys, quorum=2)
    assert open_checkpoint(note, LOG.verifier, keys, quorum=1).witnesses == (W1.name,)
    statement = merge_statements(
        [cosign_statement(CP, W1, 1679315147), cosign_statement(CP, alias, 1679315147)]
    )
    with pytest.raises(CheckpointError, match="quorum not met: 1 of 3"):
        open_statement(statement, keys, 2, origin=ORIGIN)


def test_the_logs_own_key_cosigning_is_no_witness() -> None:
    """The log's key re-typed as a cosigner (0x04) would let the operator vouch for its
    own checkpoint: its cosignature verifies but counts for nothing."""
    itself = _seeded("witness.example/log", 1, SigType.COSIGNATURE_V1)  # LOG's key
    note = add_cosignature(_signed(), itself, 1679315147)
    with pytest.raises(CheckpointError, match="quorum not met: 0 of 1"):
        open_checkpoint(note, LOG.verifier, [itself.verifier], quorum=1)
    assert open_checkpoint(note, LOG.verifier, [itself.verifier]).cosignatures == ()


def test_add_cosignature_requires_a_checkpoint() -> None:
    with pytest.raises(CheckpointError):
        add_cosignature(GO_NOTE, W1, 1)
    with pytest.raises(CheckpointError):
        add_cosignature(CP.text(), W1, 1)  # no signatures at all


def test_note_text_validation() -> None:
    with pytest.raises(NoteError, match="newline"):
        sign_note("no newline", [LOG])
    with pytest.raises(NoteError, match="control character"):
        sign_note("tab\there\n", [LOG])
    with pytest.raises(NoteError, match="key name"):
        generate_signer("has space")
    with pytest.raises(NoteError, match="key name"):
        generate_signer("has+plus")
    with pytest.raises(NoteError, match="key name"):
        generate_signer("")


def test_non_canonical_signature_base64_rejected() -> None:
    note = _signed()
    unpadded = note.rstrip("\n").rstrip("=") + "\n"
    assert unpadded != note
    with pytest.raises(CheckpointError, match="base64"):
        open_checkpoint(unpadded, LOG.verifier)


def test_text_with_blank_lines_splits_at_last_blank_line() -> None:
    text = "a\n\nb\n"
    note = sign_note(text, [LOG])
    parsed = Note.parse(note)
    assert parsed.text == text
    assert LOG.verifier.verify(text.encode(), parsed.signatures[0].signature)


# --- statements: checkpoints only witnesses sign --------------------------------------------------


def _statement_keys(n: int) -> list[NoteSigner]:
    return [generate_signer(f"witness.m{i}", SigType.COSIGNATURE_V1)[0] for i in range(n)]


def test_statements_merge_and_open_with_a_quorum_and_no_log_key() -> None:
    cp = Checkpoint("fabric-validity/x", 3, bytes(range(32)))
    signers = _statement_keys(3)
    note = merge_statements([cosign_statement(cp, s, 10 + i) for i, s in enumerate(signers)])
    opened = open_statement(note, [s.verifier for s in signers], 2, origin="fabric-validity/x")
    assert opened.checkpoint == cp
    assert opened.witnesses == tuple(s.name for s in signers)
    assert [c.timestamp for c in opened.cosignatures] == [10, 11, 12]


def test_a_statement_below_quorum_or_by_strangers_or_tampered_fails() -> None:
    cp = Checkpoint("fabric-validity/x", 3, bytes(range(32)))
    members = _statement_keys(3)
    keys = [s.verifier for s in members]
    one = cosign_statement(cp, members[0], 1)
    with pytest.raises(CheckpointError, match="quorum"):
        open_statement(one, keys, 2, origin="fabric-validity/x")
    strangers = merge_statements([cosign_statement(cp, s, 1) for s in _statement_keys(3)])
    with pytest.raises(CheckpointError, match="quorum"):
        open_statement(strangers, keys, 1, origin="fabric-validity/x")  # at least one, always
    with pytest.raises(CheckpointError, match="quorum"):
        open_statement(strangers, keys, 0, origin="fabric-validity/x")
    two = merge_statements([one, cosign_statement(cp, members[1], 1)])
    other = two.replace(
        base64.b64encode(cp.root_hash).decode(), base64.b64encode(bytes(32)).decode()
    )
    with pytest.raises(CheckpointError, match="invalid signature"):
        open_statement(other, keys, 2, origin="fabric-validity/x")
    with pytest.raises(CheckpointError, match="origin"):
        open_statement(two, keys, 2, origin="fabric-validity/y")
    with pytest.raises(CheckpointError, match="different checkpoints"):
        merge_statements(
            [one, cosign_statement(Checkpoint("fabric-validity/x", 4, bytes(32)), members[1], 1)]
        )
