"""The text formats of C2SP tlog-witness ``add-checkpoint``, both ways.

Request body::

    old <size>\\n
    <base64 consistency proof hash>\\n     (0 to 63 lines)
    \\n
    <signed checkpoint note>

A 409 answer carries the witness's size (``<size>\\n``, ``text/x.tlog.size``); a
200 answer carries one or more note signature lines.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ledger_gw.log.checkpoint import Checkpoint
from ledger_gw.log.merkle import HASH_SIZE
from ledger_gw.log.note import Note, NoteError, NoteSignature
from ledger_gw.witness.errors import Reason, RefusedError

MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"

_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")
_MAX_SIZE = (1 << 63) - 1  # what the witness's table can hold


def _malformed(message: str) -> RefusedError:
    return RefusedError(Reason.MALFORMED, message)


def _size(text: str, what: str) -> int:
    if not _SIZE.fullmatch(text):
        raise _malformed(f"{what} {text[:30]!r} is not a canonical decimal size")
    return _bounded(int(text), what)


def _bounded(size: int, what: str) -> int:
    if size > _MAX_SIZE:
        raise _malformed(f"{what} {size} exceeds 2^63-1")
    return size


def _hash(line: str) -> bytes:
    try:
        raw = base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        raise _malformed("a consistency proof line is not base64") from None
    if len(raw) != HASH_SIZE or base64.b64encode(raw).decode("ascii") != line:
        raise _malformed(f"a consistency proof line is not canonical base64 of {HASH_SIZE} bytes")
    return raw


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    """An add-checkpoint request. ``checkpoint`` is parsed from the note, NOT verified."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str
    checkpoint: Checkpoint

    @classmethod
    def build(cls, old_size: int, proof: Sequence[bytes], note: str) -> AddCheckpoint:
        """A request a client sends (checked as the witness will check it)."""
        return cls.parse(_body(old_size, proof, note))

    def body(self) -> bytes:
        return _body(self.old_size, self.proof, self.note)

    @classmethod
    def parse(cls, body: bytes) -> AddCheckpoint:
        """RefusedError(MALFORMED) unless ``body`` is exactly the format above."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed("the request is not UTF-8") from None
        head, blank, note_text = text.partition("\n\n")
        if not blank:
            raise _malformed("the request has no empty line before the checkpoint")
        first, *proof_lines = head.split("\n")
        if not first.startswith("old "):
            raise _malformed("the request does not start with an old size line")
        old_size = _size(first[4:], "old size")
        if len(proof_lines) > MAX_PROOF_LINES:
            raise _malformed(f"more than {MAX_PROOF_LINES} consistency proof lines")
        proof = tuple(_hash(line) for line in proof_lines)
        try:
            note = Note.parse(note_text)
            checkpoint = Checkpoint.parse(note.text)
        except NoteError as exc:  # CheckpointError is a NoteError
            raise _malformed(f"the checkpoint is malformed: {exc}") from None
        _bounded(checkpoint.size, "checkpoint size")
        return cls(old_size, proof, note_text, checkpoint)


def _body(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    lines = [f"old {old_size}", *(base64.b64encode(h).decode("ascii") for h in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode("utf-8")


def format_size(size: int) -> bytes:
    """The body of a 409 answer."""
    return f"{size}\n".encode("ascii")


def parse_size(body: bytes) -> int:
    """The witness's size from a 409 answer's body."""
    text = body.decode("ascii", errors="replace")
    if not text.endswith("\n"):
        raise _malformed("a tree size answer must end in a newline")
    return _size(text[:-1], "the witness's tree size")


def parse_signature_lines(body: bytes) -> tuple[NoteSignature, ...]:
    """The signature lines of a 200 answer (parsed, not verified)."""
    try:
        return Note.parse("x\n\n" + body.decode("utf-8")).signatures
    except (UnicodeDecodeError, NoteError) as exc:
        raise _malformed(f"the cosignature answer is malformed: {exc}") from None
