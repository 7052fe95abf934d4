"""Transparency log checkpoints and witness cosignatures.

* https://c2sp.org/tlog-checkpoint -- the note text (origin, size, root hash,
  optional extension lines) signed by the log with an Ed25519 note key (0x01);
* https://c2sp.org/tlog-cosignature -- Ed25519 cosignatures v1 (0x04) added by
  witnesses, each carrying the time it was made;
* https://c2sp.org/signed-note -- the note format itself (see :mod:`ledger_gw.log.note`).

Opening a checkpoint is fail-closed: the log's signature must be present and
valid, a known key with a bad signature rejects the whole note, a known key may
sign only once, unknown signatures are ignored, and a witness quorum is enforced.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ledger_gw.log.merkle import EMPTY_ROOT
from ledger_gw.log.note import (
    MAX_TIMESTAMP,
    Note,
    NoteError,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    SigType,
    generate_signer,
    sign_note,
)

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "Cosignature",
    "ForgedCosignatureError",
    "NoteSigner",
    "NoteVerifier",
    "RetiredWitness",
    "SigType",
    "VerifiedCheckpoint",
    "add_cosignature",
    "cosign_statement",
    "dump_signer",
    "generate_signer",
    "merge_statements",
    "open_checkpoint",
    "open_statement",
    "parse_signer",
    "sign_checkpoint",
]

_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")  # at most 19 digits: a size SQLite can hold
MAX_SIZE = 2**63 - 1
_HASH_SIZE = 32


class CheckpointError(NoteError):
    """A checkpoint is malformed, badly signed, or lacks the required signatures."""

    code = "invalid_checkpoint"


class ForgedCosignatureError(CheckpointError):
    """A note whose log signature verifies carries a cosignature by a listed witness's
    key (its name and key ID) that does not: not a note still awaiting its cosignatures,
    but one made up. Signature lines are not signed, so who added it is for the caller
    to judge from where the note came."""

    code = "forged_cosignature"


def _check_line(what: str, line: str) -> None:
    if not line:
        raise CheckpointError(f"checkpoint {what} must be non-empty")
    if any(c < " " or c == "\x7f" for c in line):  # as a note's text (ledger_gw.log.note)
        raise CheckpointError(f"checkpoint {what} contains a newline or control character")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log tree head: origin, tree size, RFC 6962 root hash, extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line("origin", self.origin)
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 0:
            raise CheckpointError(f"checkpoint size must be a non-negative int, got {self.size!r}")
        if len(self.root_hash) != _HASH_SIZE:
            raise CheckpointError(
                f"checkpoint root hash must be {_HASH_SIZE} bytes, got {len(self.root_hash)}"
            )
        if self.size == 0 and self.root_hash != EMPTY_ROOT:  # RFC 6962: MTH({}) = SHA-256()
            raise CheckpointError("a checkpoint of the empty tree must have the empty root")
        for ext in self.extensions:
            _check_line("extension line", ext)

    def text(self) -> str:
        """The note text (tlog-checkpoint, "Note text"), newline-terminated lines."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        return "".join(
            f"{line}\n" for line in (self.origin, str(self.size), root, *self.extensions)
        )

    def body(self) -> bytes:
        """The note text as UTF-8 bytes: what the log and witnesses sign."""
        return self.text().encode()

    @classmethod
    def parse(cls, text: str | bytes) -> Checkpoint:
        """Parse a checkpoint note text (tlog-checkpoint, "Note text").

        At least three non-empty lines; the size is decimal without leading
        zeroes; the root hash is canonical base64 of 32 bytes; extension lines,
        if any, are non-empty. The text must end in a newline.
        """
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CheckpointError("checkpoint is not valid UTF-8") from exc
        if not text.endswith("\n"):
            raise CheckpointError("checkpoint text must end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError(f"checkpoint has {len(lines)} lines, needs at least 3")
        origin, size_line, root_line, *extensions = lines
        if not _SIZE.fullmatch(size_line) or int(size_line) > MAX_SIZE:
            raise CheckpointError(
                f"checkpoint tree size {size_line[:30]!r} is not canonical decimal below 2^63"
            )
        try:
            root = base64.b64decode(root_line, validate=True)
        except ValueError as exc:
            raise CheckpointError("checkpoint root hash is not valid base64") from exc
        if base64.b64encode(root).decode("ascii") != root_line:
            raise CheckpointError("checkpoint root hash is not canonical base64")
        cp = cls(origin, int(size_line), root, tuple(extensions))
        if cp.text() != text:  # belt and braces: parsing must round-trip exactly
            raise CheckpointError("checkpoint text does not round-trip")
        return cp


@dataclass(frozen=True, slots=True)
class RetiredWitness(NoteVerifier):
    """The witness key of a member that left at ``until`` (POSIX seconds): a cosignature
    dated wholly before then still counts, one dated from then on counts for no one, as
    a retired member's signing key signs nothing more. The date is the witness's own
    word: one that colludes can still date a cosignature back."""

    until: int

    def as_type(self, sig_type: SigType) -> NoteVerifier:
        """The same key as ``sig_type``, still retired at ``until``."""
        retyped = NoteVerifier.as_type(self, sig_type)
        return RetiredWitness(retyped.name, retyped.sig_type, retyped.public_key, self.until)

    def counts(self, timestamp: int) -> bool:
        return timestamp < self.until


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A verified witness cosignature: who signed, and when (POSIX seconds)."""

    witness: NoteVerifier
    timestamp: int


@dataclass(frozen=True, slots=True)
class VerifiedCheckpoint:
    """A checkpoint whose log signature and witness quorum were verified."""

    checkpoint: Checkpoint
    cosignatures: tuple[Cosignature, ...]
    note: str

    @property
    def witnesses(self) -> tuple[str, ...]:
        """Names of the witnesses whose cosignatures verified."""
        return tuple(c.witness.name for c in self.cosignatures)


def sign_checkpoint(cp: Checkpoint, log_signer: NoteSigner) -> str:
    """Sign a checkpoint as the log (Ed25519 note signature, type 0x01).

    tlog-checkpoint: the log's key name SHOULD match the origin line; this is not
    enforced here, but :func:`open_checkpoint` checks the origin by default.
    """
    if log_signer.sig_type is not SigType.ED25519:
        raise CheckpointError("the log must sign with an Ed25519 (0x01) note key")
    return sign_note(cp.text(), [log_signer])


def add_cosignature(note_text: str, witness_signer: NoteSigner, timestamp: int) -> str:
    """Append a witness cosignature (tlog-cosignature v1, type 0x04) to a signed note.

    An Ed25519 (0x01) signer is used as the cosigner key of the same private key
    (key ID recomputed for type 0x04, as transparency-dev/formats does).
    Precondition (the witness's job, not checked here): the witness has opened
    the checkpoint with the log's key and verified consistency with the largest
    tree it has seen. Raises CheckpointError if the note is malformed, is not a
    checkpoint, or already carries a signature by this witness key.
    """
    try:
        witness_signer = witness_signer.as_type(SigType.COSIGNATURE_V1)
    except NoteError as exc:
        raise CheckpointError(f"witness {witness_signer.name} cannot cosign: {exc}") from exc
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CheckpointError(f"cosignature timestamp {timestamp} outside [0, 2^63-1]")
    try:
        note = Note.parse(note_text)
    except NoteError as exc:
        raise CheckpointError(str(exc)) from exc
    Checkpoint.parse(note.text)
    for sig in note.signatures:
        if sig.name == witness_signer.name and sig.key_id == witness_signer.key_id:
            raise CheckpointError(f"note already has a cosignature by {witness_signer.name}")
    raw = witness_signer.sign(note.text.encode(), timestamp=timestamp)
    cosig = NoteSignature(witness_signer.name, witness_signer.key_id, raw)
    return Note(note.text, (*note.signatures, cosig)).format()


def _index_verifiers(
    log_verifier: NoteVerifier, witnesses: Sequence[NoteVerifier], quorum: int
) -> dict[tuple[str, bytes], NoteVerifier]:
    if log_verifier.sig_type is not SigType.ED25519:
        raise ValueError("the log verifier must be an Ed25519 (0x01) note key")
    return _index_witnesses(
        witnesses, quorum, {(log_verifier.name, log_verifier.key_id): log_verifier}
    )


def _index_witnesses(
    witnesses: Sequence[NoteVerifier],
    quorum: int,
    known: dict[tuple[str, bytes], NoteVerifier],
) -> dict[tuple[str, bytes], NoteVerifier]:
    """``known`` with each witness's cosignature key added; a key listed twice or a
    quorum the witnesses cannot reach is the caller's mistake."""
    for given in witnesses:
        try:
            w = given.as_type(SigType.COSIGNATURE_V1)
        except NoteError as exc:
            raise ValueError(f"witness {given.name}: {exc}") from exc
        if (w.name, w.key_id) in known:
            raise ValueError(f"witness key {w.vkey} listed twice")
        known[(w.name, w.key_id)] = w
    if not 0 <= quorum <= len(witnesses):
        raise ValueError(f"quorum {quorum} impossible with {len(witnesses)} witnesses")
    return known


def open_checkpoint(
    note_text: str | bytes,
    log_verifier: NoteVerifier,
    witnesses: Sequence[NoteVerifier] = (),
    quorum: int = 0,
    *,
    origin: str | None = None,
) -> VerifiedCheckpoint:
    """Verify and parse a signed checkpoint.

    Implements signed-note "Signatures" and tlog-cosignature verification:

    1. Parse the note; every signature line must be well formed.
    2. Signatures whose (name, key ID) match no known key are ignored.
    3. A known key's signature must verify, or the whole note is rejected; a
       known key signing twice is rejected (so a witness cannot count twice).
       A witness's that does not verify, on a note the log's signature does, raises
       :class:`ForgedCosignatureError`.
       Cosignatures count by public key: one key under two names counts once,
       and the log's own key, re-typed as a cosigner, not at all; a
       :class:`RetiredWitness`'s dated from its retirement on, not at all.
    4. The log's signature must be present.
    5. The body must be a well-formed checkpoint whose origin equals ``origin``
       (default: the log key's name, per tlog-checkpoint's SHOULD).
    6. At least ``quorum`` of ``witnesses`` must have valid cosignatures.

    Witness vkeys may be cosignature/v1 (0x04) keys or Ed25519 (0x01) keys, which
    are taken as the cosignature/v1 key of the same public key (as
    transparency-dev/formats does); :attr:`Cosignature.witness` is the 0x04 form.

    Raises CheckpointError on any failure, ValueError for an impossible
    configuration (wrong key types, duplicate witnesses, quorum > witnesses).
    """
    known = _index_verifiers(log_verifier, witnesses, quorum)
    note, seen, cosigs = _verified_signatures(note_text, known, log_verifier)
    if (log_verifier.name, log_verifier.key_id) not in seen:
        raise CheckpointError(f"no signature by the log key {log_verifier.name}")
    cp = Checkpoint.parse(note.text)
    want_origin = log_verifier.name if origin is None else origin
    if cp.origin != want_origin:
        raise CheckpointError(f"checkpoint origin {cp.origin!r} is not {want_origin!r}")
    if len(cosigs) < quorum:
        raise CheckpointError(
            f"cosignature quorum not met: {len(cosigs)} of {len(witnesses)} witnesses "
            f"verified, {quorum} required"
        )
    note_str = note_text if isinstance(note_text, str) else note_text.decode("utf-8")
    return VerifiedCheckpoint(cp, tuple(cosigs), note_str)


def _verified_signatures(
    note_text: str | bytes,
    known: dict[tuple[str, bytes], NoteVerifier],
    log_verifier: NoteVerifier | None,
) -> tuple[Note, set[tuple[str, bytes]], list[Cosignature]]:
    """The note and the known keys whose signatures verified (the witnesses' as
    cosignatures); CheckpointError if a known key's does not, or one signs twice, and
    ForgedCosignatureError if that key is a witness's and the log's signature verifies."""
    try:
        note = Note.parse(note_text)
    except NoteError as exc:
        raise CheckpointError(str(exc)) from exc
    text = note.text.encode()
    seen: set[tuple[str, bytes]] = set()
    cosigs: list[Cosignature] = []
    forged: NoteSignature | None = None  # judged once the log's signature is
    for sig in note.signatures:
        ident = (sig.name, sig.key_id)
        verifier = known.get(ident)
        if verifier is None:
            continue
        if ident in seen:
            raise CheckpointError(f"duplicate signature by {sig.name}+{sig.key_id.hex()}")
        seen.add(ident)
        if not verifier.verify(text, sig.signature):
            if verifier is log_verifier or log_verifier is None:
                raise CheckpointError(_invalid(sig))
            forged = forged or sig
        elif verifier is not log_verifier:
            timestamp = int.from_bytes(sig.signature[:8], "big")
            if not isinstance(verifier, RetiredWitness) or verifier.counts(timestamp):
                cosigs.append(Cosignature(verifier, timestamp))
    if forged is not None:  # a proof only if the log's signature verified (seen: it did)
        logged = log_verifier is not None and (log_verifier.name, log_verifier.key_id) in seen
        raise (ForgedCosignatureError if logged else CheckpointError)(_invalid(forged))
    return note, seen, _independent(cosigs, log_verifier)


def _invalid(sig: NoteSignature) -> str:
    return f"invalid signature by known key {sig.name}+{sig.key_id.hex()}"


def _independent(cosigs: list[Cosignature], log_verifier: NoteVerifier | None) -> list[Cosignature]:
    """One cosignature per public key, none by the log's: a quorum counts parties, and
    one key under two names is one party, the log's own key none."""
    taken = set() if log_verifier is None else {log_verifier.public_key}
    kept: list[Cosignature] = []
    for cosig in cosigs:
        if cosig.witness.public_key not in taken:
            taken.add(cosig.witness.public_key)
            kept.append(cosig)
    return kept


# -- checkpoints without a log key: statements the witnesses make themselves -------------


def cosign_statement(cp: Checkpoint, witness_signer: NoteSigner, timestamp: int) -> str:
    """A checkpoint signed by one witness alone (cosignature v1): the witness states a
    tree it computed itself, where no single log operator speaks for the log."""
    try:
        signer = witness_signer.as_type(SigType.COSIGNATURE_V1)
    except NoteError as exc:
        raise CheckpointError(f"witness {witness_signer.name} cannot cosign: {exc}") from exc
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CheckpointError(f"cosignature timestamp {timestamp} outside [0, 2^63-1]")
    raw = signer.sign(cp.body(), timestamp=timestamp)
    return Note(cp.text(), (NoteSignature(signer.name, signer.key_id, raw),)).format()


def merge_statements(notes: Sequence[str]) -> str:
    """One note with every signature of ``notes``, which must state the same checkpoint
    (nothing is verified here: :func:`open_statement` does)."""
    if not notes:
        raise CheckpointError("no statement to merge")
    try:
        parsed = [Note.parse(n) for n in notes]
    except NoteError as exc:
        raise CheckpointError(str(exc)) from exc
    text = parsed[0].text
    if any(p.text != text for p in parsed):
        raise CheckpointError("the statements are about different checkpoints")
    Checkpoint.parse(text)
    signatures: list[NoteSignature] = []
    for p in parsed:
        signatures.extend(s for s in p.signatures if s not in signatures)
    return Note(text, tuple(signatures)).format()


def open_statement(
    note_text: str | bytes, witnesses: Sequence[NoteVerifier], quorum: int, *, origin: str
) -> VerifiedCheckpoint:
    """Verify a checkpoint that only witnesses sign (:func:`cosign_statement`): the same
    fail-closed rules as :func:`open_checkpoint` without a log key, and at least one
    witness however low ``quorum`` is, since a statement nobody signs states nothing."""
    if not witnesses:
        raise ValueError("no witness key to check the statement with")
    known = _index_witnesses(witnesses, quorum, {})
    note, _, cosigs = _verified_signatures(note_text, known, None)
    cp = Checkpoint.parse(note.text)
    if cp.origin != origin:
        raise CheckpointError(f"checkpoint origin {cp.origin!r} is not {origin!r}")
    need = max(quorum, 1)
    if len(cosigs) < need:
        raise CheckpointError(
            f"cosignature quorum not met: {len(cosigs)} of {len(witnesses)} witnesses "
            f"verified, {need} required"
        )
    note_str = note_text if isinstance(note_text, str) else note_text.decode("utf-8")
    return VerifiedCheckpoint(cp, tuple(cosigs), note_str)


def dump_signer(signer: NoteSigner) -> bytes:
    """Serialise a private key for a key file: the skey line (keep the file private)."""
    return (signer.to_skey() + "\n").encode()


def parse_signer(data: bytes) -> NoteSigner:
    """A key file's contents written by :func:`dump_signer` (or a Go note skey)."""
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise CheckpointError("not an skey file") from exc
    try:
        return NoteSigner.from_skey(text)
    except NoteError as exc:
        raise CheckpointError(str(exc)) from exc
