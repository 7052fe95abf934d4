"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys.

Supports the two signature types this ledger needs:

* ``0x01`` Ed25519 note signatures (signed-note, "Ed25519 signatures"), used by
  the log itself;
* ``0x04`` timestamped Ed25519 checkpoint cosignatures
  (https://c2sp.org/tlog-cosignature, "Ed25519 signed message"), used by witnesses.

Keys are encoded as vkeys (``<name>+<hex key ID>+<base64(type || pubkey)>``) and,
for private keys, in the golang.org/x/mod/sumdb/note skey format
``PRIVATE+KEY+<name>+<hex key ID>+<base64(type || 32-byte seed)>``.
All cryptography is done by the ``cryptography`` package.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger_gw.errors import EvidenceError

__all__ = [
    "MAX_SIGNATURES",
    "MAX_TIMESTAMP",
    "Note",
    "NoteError",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "SigType",
    "check_key_name",
    "cosignature_v1_message",
    "generate_signer",
    "key_id",
    "sign_note",
]

#: Upper bound on signature lines accepted in one note (the spec requires >= 16;
#: golang.org/x/mod/sumdb/note also stops at 100).
MAX_SIGNATURES = 100
#: tlog-cosignature: "It MUST NOT exceed 2^63 - 1".
MAX_TIMESTAMP = (1 << 63) - 1

_EM_DASH_PREFIX = "\u2014 "
_SKEY_PREFIX = "PRIVATE+KEY+"
_HEX_ID = re.compile(r"[0-9a-f]{8}")
_ED25519_SIG_LEN = 64
_COSIG_PREFIX = b"cosignature/v1\ntime "


class NoteError(EvidenceError):
    """A note, key or signature is malformed or fails verification."""

    code = "invalid_note"


class SigType(IntEnum):
    """Signature type identifier bytes (signed-note, "Signature types")."""

    ED25519 = 0x01
    COSIGNATURE_V1 = 0x04


def _b64decode(what: str, s: str) -> bytes:
    """Strict standard base64 (RFC 4648 section 4): alphabet, padding, canonical."""
    try:
        raw = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"{what} is not valid base64") from exc
    if base64.b64encode(raw).decode("ascii") != s:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def _is_control(c: str) -> bool:
    """An ASCII control character: below U+0020, those signed-note names, or DEL, which
    no note text or key name needs either and a terminal would act on."""
    return c < " " or c == "\x7f"


def _check_utf8(what: str, text: str) -> None:
    """A str that UTF-8 cannot encode (a lone surrogate) is no UTF-8 text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteError(f"{what} is not valid UTF-8") from exc


def check_key_name(name: str) -> None:
    """Key names MUST be non-empty UTF-8 with no Unicode spaces or '+' (signed-note); a
    control character could not stand in a note's signature line either."""
    if not isinstance(name, str) or not name:
        raise NoteError("key name must be a non-empty string")
    _check_utf8("key name", name)
    if any(c.isspace() or c == "+" or _is_control(c) for c in name):
        raise NoteError(f"invalid key name {name!r}: spaces, '+' and control characters forbidden")


def key_id(name: str, sig_type: SigType, public_key: bytes) -> bytes:
    """SHA-256(key name || 0x0A || signature type || public key)[:4] (signed-note)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def cosignature_v1_message(text: bytes, timestamp: int) -> bytes:
    """The message an Ed25519 cosigner signs (tlog-cosignature, "Ed25519 signed message").

    ``cosignature/v1\\n`` ``time <timestamp>\\n`` followed by the whole note text
    (including its final newline, without signature lines).
    """
    _check_timestamp(timestamp)
    return _COSIG_PREFIX + str(timestamp).encode() + b"\n" + text


def _check_timestamp(timestamp: int) -> None:
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise NoteError(f"timestamp must be an int, got {type(timestamp).__name__}")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"timestamp {timestamp} outside [0, 2^63-1]")


def _check_retype(have: SigType, want: SigType) -> None:
    if (have, want) != (SigType.ED25519, SigType.COSIGNATURE_V1):
        raise NoteError(f"cannot use a {have.name} key as {SigType(want).name}")


def _raw_public(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """A trusted public key: name, signature type and Ed25519 public key."""

    name: str
    sig_type: SigType
    public_key: bytes  # 32-byte raw Ed25519 public key

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if self.sig_type not in (SigType.ED25519, SigType.COSIGNATURE_V1):
            raise NoteError(f"unsupported signature type {self.sig_type:#04x}")
        if len(self.public_key) != 32:
            raise NoteError(f"Ed25519 public key must be 32 bytes, got {len(self.public_key)}")

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID (signed-note / tlog-cosignature)."""
        return key_id(self.name, self.sig_type, self.public_key)

    @property
    def vkey(self) -> str:
        """``<name>+<hex key ID>+<base64(type || pubkey)>`` (signed-note, "NoteVerifier keys")."""
        material = base64.b64encode(bytes([self.sig_type]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{material}"

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse a vkey; the key ID must match the one computed from name and key."""
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise NoteError("vkey must have the form <name>+<hex key ID>+<base64 key>")
        name, hex_id, material = parts
        check_key_name(name)
        if not _HEX_ID.fullmatch(hex_id):
            raise NoteError(f"vkey key ID {hex_id!r} is not 8 lowercase hex digits")
        raw = _b64decode("vkey key material", material)
        if not raw:
            raise NoteError("vkey key material is empty")
        try:
            sig_type = SigType(raw[0])
        except ValueError:
            raise NoteError(f"unsupported vkey signature type {raw[0]:#04x}") from None
        v = cls(name, sig_type, raw[1:])
        if v.key_id.hex() != hex_id:
            raise NoteError(f"vkey key ID {hex_id} does not match its key ({v.key_id.hex()})")
        return v

    def as_type(self, sig_type: SigType) -> NoteVerifier:
        """The same public key as another signature type (new key ID).

        Only Ed25519 (0x01) -> cosignature/v1 (0x04) is allowed, as
        transparency-dev/formats does for witness vkeys.
        """
        if sig_type == self.sig_type:
            return self
        _check_retype(self.sig_type, sig_type)
        return NoteVerifier(self.name, sig_type, self.public_key)

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Check one note signature (without the 4-byte key ID prefix) over ``text``."""
        if self.sig_type is SigType.COSIGNATURE_V1:
            if len(signature) != 8 + _ED25519_SIG_LEN:
                return False
            timestamp = int.from_bytes(signature[:8], "big")
            if timestamp > MAX_TIMESTAMP:
                return False
            message, sig = cosignature_v1_message(text, timestamp), signature[8:]
        else:
            if len(signature) != _ED25519_SIG_LEN:
                return False
            message, sig = text, signature
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(sig, message)
        except InvalidSignature:
            return False
        return True


class NoteSigner:
    """A named Ed25519 private key producing note signatures of one type."""

    __slots__ = ("_key", "_verifier")

    def __init__(
        self, name: str, private_key: Ed25519PrivateKey, sig_type: SigType = SigType.ED25519
    ) -> None:
        self._key = private_key
        self._verifier = NoteVerifier(
            name, SigType(sig_type), _raw_public(private_key.public_key())
        )

    @property
    def name(self) -> str:
        """Key name."""
        return self._verifier.name

    @property
    def sig_type(self) -> SigType:
        """Signature type this signer produces."""
        return self._verifier.sig_type

    @property
    def key_id(self) -> bytes:
        """4-byte key ID."""
        return self._verifier.key_id

    @property
    def verifier(self) -> NoteVerifier:
        """The matching public verifier."""
        return self._verifier

    def sign(self, text: bytes, *, timestamp: int | None = None) -> bytes:
        """Signature bytes (without key ID) over the note ``text``.

        Type 0x01: Ed25519 over the text (signed-note). Type 0x04: the
        ``timestamped_signature`` = u64 big-endian timestamp || Ed25519 over
        :func:`cosignature_v1_message` (tlog-cosignature); ``timestamp`` required.
        """
        if self.sig_type is SigType.COSIGNATURE_V1:
            if timestamp is None:
                raise NoteError("a cosignature needs a timestamp")
            message = cosignature_v1_message(text, timestamp)
            return timestamp.to_bytes(8, "big") + self._key.sign(message)
        if timestamp is not None:
            raise NoteError("plain Ed25519 note signatures carry no timestamp")
        return self._key.sign(text)

    def to_skey(self) -> str:
        """``PRIVATE+KEY+<name>+<hex key ID>+<base64(type || seed)>`` -- keep secret."""
        seed = self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        material = base64.b64encode(bytes([self.sig_type]) + seed).decode("ascii")
        return f"{_SKEY_PREFIX}{self.name}+{self.key_id.hex()}+{material}"

    @classmethod
    def from_skey(cls, skey: str, sig_type: SigType | None = None) -> NoteSigner:
        """Parse an skey (golang.org/x/mod/sumdb/note format).

        ``sig_type`` may re-type a 0x01 Ed25519 skey as a 0x04 cosigner key, as
        transparency-dev witnesses do; the key ID is then recomputed.
        """
        if not skey.startswith(_SKEY_PREFIX):
            raise NoteError("skey must start with PRIVATE+KEY+")
        parts = skey[len(_SKEY_PREFIX) :].split("+", 2)
        if len(parts) != 3:
            raise NoteError("skey must have the form PRIVATE+KEY+<name>+<hex id>+<base64 key>")
        name, hex_id, material = parts
        check_key_name(name)
        if not _HEX_ID.fullmatch(hex_id):
            raise NoteError(f"skey key ID {hex_id!r} is not 8 lowercase hex digits")
        raw = _b64decode("skey key material", material)
        if len(raw) != 33 or raw[0] not in tuple(SigType):
            raise NoteError("skey key material must be a known type byte and a 32-byte seed")
        encoded_type = SigType(raw[0])
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]), encoded_type)
        if signer.key_id.hex() != hex_id:
            raise NoteError(f"skey key ID {hex_id} does not match its key")
        return signer if sig_type is None else signer.as_type(sig_type)

    def as_type(self, sig_type: SigType) -> NoteSigner:
        """The same private key as another signature type (see :meth:`NoteVerifier.as_type`)."""
        if sig_type == self.sig_type:
            return self
        _check_retype(self.sig_type, sig_type)
        return NoteSigner(self.name, self._key, sig_type)

    def __repr__(self) -> str:
        return f"NoteSigner({self._verifier.vkey!r})"


def generate_signer(name: str, sig_type: SigType = SigType.ED25519) -> tuple[NoteSigner, str]:
    """A fresh random key: returns the signer and its vkey string."""
    signer = NoteSigner(name, Ed25519PrivateKey.generate(), sig_type)
    return signer, signer.verifier.vkey


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: key name, 4-byte key ID and signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """``— <name> <base64(key ID || signature)>\\n`` (signed-note, "Format")."""
        blob = base64.b64encode(self.key_id + self.signature).decode("ascii")
        return f"{_EM_DASH_PREFIX}{self.name} {blob}\n"


def _check_text(text: str) -> None:
    """Notes MUST be UTF-8 with no ASCII control characters but newline (signed-note),
    DEL among them: signing refuses such a text, opening such a note."""
    _check_utf8("note", text)
    for c in text:
        if _is_control(c) and c != "\n":
            raise NoteError(f"note contains control character {ord(c):#04x}")


@dataclass(frozen=True, slots=True)
class Note:
    """A parsed (not yet verified!) signed note: text and signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...]

    @classmethod
    def parse(cls, note: str | bytes) -> Note:
        """Split a note into text and signatures (signed-note, "Format").

        The text ends at the *last* blank line; every line after it must be a
        well-formed signature line. Nothing is verified here.
        """
        if isinstance(note, bytes):
            try:
                note = note.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise NoteError("note is not valid UTF-8") from exc
        _check_text(note)
        split = note.rfind("\n\n")
        if split < 0:
            raise NoteError("malformed note: no blank line before the signatures")
        text, sig_block = note[: split + 1], note[split + 2 :]
        if not sig_block or not sig_block.endswith("\n"):
            raise NoteError("malformed note: signature block must be newline-terminated lines")
        lines = sig_block[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise NoteError(f"note has {len(lines)} signatures, more than {MAX_SIGNATURES}")
        return cls(text, tuple(_parse_sig_line(line) for line in lines))

    def format(self) -> str:
        """The note text, a blank line, then the signature lines."""
        return self.text + "\n" + "".join(s.line() for s in self.signatures)


def _parse_sig_line(line: str) -> NoteSignature:
    if not line.startswith(_EM_DASH_PREFIX):
        raise NoteError(f"malformed signature line {line[:40]!r}: must start with an em dash")
    name, sep, blob = line[len(_EM_DASH_PREFIX) :].partition(" ")
    if not sep:
        raise NoteError(f"malformed signature line {line[:40]!r}: no signature")
    check_key_name(name)
    raw = _b64decode(f"signature from {name!r}", blob)
    if len(raw) < 5:
        raise NoteError(f"signature from {name!r} is too short")
    return NoteSignature(name, raw[:4], raw[4:])


def sign_note(text: str, signers: Iterable[NoteSigner], *, timestamp: int | None = None) -> str:
    """Sign ``text`` (which must end in a newline) with each signer; return the note."""
    _check_note_text(text)
    body = text.encode()
    sigs = tuple(
        NoteSignature(
            s.name,
            s.key_id,
            s.sign(body, timestamp=timestamp if s.sig_type is SigType.COSIGNATURE_V1 else None),
        )
        for s in signers
    )
    if not sigs:
        raise NoteError("a note needs at least one signature")
    return Note(text, sigs).format()


def _check_note_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end in a newline")
    _check_text(text)


def has_cosigned(note: str, witness: NoteVerifier) -> bool:
    """Whether ``note`` carries a signature line by ``witness``'s key (not verified)."""
    try:
        signatures = Note.parse(note).signatures
    except NoteError:
        return False
    return any((s.name, s.key_id) == (witness.name, witness.key_id) for s in signatures)
