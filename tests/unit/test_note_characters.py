"""Which characters a signed note and a key name may hold (c2sp.org/signed-note, "Format"):
UTF-8 text with no ASCII control character but newline, DEL included, and key names with
no Unicode space, '+' or control character. Real Ed25519 keys sign every note here."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger_gw.log.checkpoint import (
    Checkpoint,
    CheckpointError,
    add_cosignature,
    open_checkpoint,
    sign_checkpoint,
)
from ledger_gw.log.note import (
    Note,
    NoteError,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    SigType,
    generate_signer,
    sign_note,
)

ORIGIN = "ledger.example/log"
LOG = NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes([1]) * 32))
WITNESS = NoteSigner(
    "witness.example/w1",
    Ed25519PrivateKey.from_private_bytes(bytes([2]) * 32),
    SigType.COSIGNATURE_V1,
)
ROOT = base64.b64encode(hashlib.sha256(b"root").digest()).decode()

CONTROLS = [chr(c) for c in (*range(0x20), 0x7F) if c != 0x0A]


def _signed_anyway(text: str, signer: NoteSigner = LOG) -> str:
    """A note over ``text`` with a valid signature, built without sign_note's checks:
    what a signer that does not follow the spec would publish."""
    sig = NoteSignature(signer.name, signer.key_id, signer.sign(text.encode()))
    return Note(text, (sig,)).format()


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: f"{ord(c):#04x}")
def test_no_control_character_but_newline_is_signed(control: str) -> None:
    with pytest.raises(NoteError, match="control character"):
        sign_note(f"a{control}b\n", [LOG])
    with pytest.raises(CheckpointError, match="control character"):
        sign_checkpoint(Checkpoint(ORIGIN, 1, hashlib.sha256(b"root").digest(), (control,)), LOG)


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: f"{ord(c):#04x}")
def test_a_validly_signed_note_with_a_control_character_does_not_open(control: str) -> None:
    """The signature verifies; the note is refused all the same, as text or as bytes."""
    text = f"{ORIGIN}\n1\n{ROOT}\next{control}ension\n"
    note = _signed_anyway(text)
    signature = base64.b64decode(note.rsplit(" ", 1)[1])[4:]
    assert LOG.verifier.verify(text.encode(), signature)
    for given in (note, note.encode()):
        with pytest.raises(NoteError, match="control character"):
            Note.parse(given)
        with pytest.raises(CheckpointError, match="control character"):
            open_checkpoint(given, LOG.verifier)
    with pytest.raises(CheckpointError, match="control character"):
        add_cosignature(note, WITNESS, 1)  # no witness cosigns it


def test_del_in_a_checkpoint_line_is_refused() -> None:
    with pytest.raises(CheckpointError, match="control character"):
        Checkpoint(f"{ORIGIN}\x7f", 1, hashlib.sha256(b"root").digest())
    with pytest.raises(CheckpointError, match="control character"):
        Checkpoint.parse(f"{ORIGIN}\n1\n{ROOT}\nextension\x7f\n")


def test_newlines_and_text_beyond_ascii_are_signed_and_opened() -> None:
    text = f"{ORIGIN}\n1\n{ROOT}\nréseau — 網絡 \u00a0\n"
    opened = open_checkpoint(sign_note(text, [LOG]), LOG.verifier)
    assert opened.checkpoint.extensions == ("réseau — 網絡 \u00a0",)


BAD_NAMES = [
    "",
    "has space",
    "has+plus",
    "tab\there",
    "nul\x00",
    "del\x7f",
    "nbsp\u00a0",
    "nel\u0085",
    "em-space\u2003",
    "ideographic\u3000",
    "line\u2028separator",
    "surrogate\ud800",  # no UTF-8 encodes it
]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_bad_key_names_are_refused_everywhere(name: str) -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes([3]) * 32)
    with pytest.raises(NoteError, match="key name"):
        NoteSigner(name, key)
    with pytest.raises(NoteError, match="key name"):
        generate_signer(name)
    material = base64.b64encode(bytes([SigType.ED25519]) + LOG.verifier.public_key).decode()
    with pytest.raises(NoteError):
        NoteVerifier.from_vkey(f"{name}+00000000+{material}")
    with pytest.raises(NoteError):  # a signature line naming it
        Note.parse(f"text\n\n\u2014 {name} {base64.b64encode(bytes(68)).decode()}\n")


def test_a_key_name_beyond_ascii_is_a_name() -> None:
    signer, vkey = generate_signer("réseau.example/日志")
    assert NoteVerifier.from_vkey(vkey) == signer.verifier
    note = sign_note("text\n", [signer])
    assert Note.parse(note).signatures[0].name == "réseau.example/日志"
