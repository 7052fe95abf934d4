"""C2SP tlog-proof (https://c2sp.org/tlog-proof): one entry's inclusion proof with the
checkpoint it proves against, as a self-contained text file that verifies offline.

    c2sp.org/tlog-proof@v1
    [extra <base64>]
    index <decimal>
    <base64 hash>          (zero or more: the RFC 6962 audit path, leaf side first)

    <the signed checkpoint note, verbatim, with its cosignatures>
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from ledger_gw.errors import EvidenceError
from ledger_gw.log.merkle import HASH_SIZE

__all__ = ["HEADER", "TlogProof", "TlogProofError", "is_tlog_proof"]

HEADER = "c2sp.org/tlog-proof@v1"
_INDEX = re.compile(r"index (0|[1-9][0-9]{0,18})")  # at most a checkpoint's size


class TlogProofError(EvidenceError):
    """A tlog-proof file is malformed."""

    code = "invalid_tlog_proof"


def is_tlog_proof(data: bytes) -> bool:
    """Whether a file is a tlog-proof (its first line names the format)."""
    return data.startswith(HEADER.encode() + b"\n")


def _b64(line: str, what: str) -> bytes:
    try:
        value = base64.b64decode(line, validate=True)
    except ValueError as exc:  # binascii.Error, or a character beyond ASCII
        raise TlogProofError(f"{what} is not base64") from exc
    if base64.b64encode(value).decode() != line:
        raise TlogProofError(f"{what} is not canonical base64")
    return value


@dataclass(frozen=True)
class TlogProof:
    index: int
    proof: tuple[bytes, ...]
    checkpoint: str  # the signed note, verbatim
    extra: bytes | None = None

    def text(self) -> str:
        lines = [HEADER]
        if self.extra is not None:
            lines.append(f"extra {base64.b64encode(self.extra).decode()}")
        lines.append(f"index {self.index}")
        lines += [base64.b64encode(h).decode() for h in self.proof]
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def parse(cls, data: str | bytes) -> TlogProof:
        """The proof in a file; TlogProofError unless it follows the format exactly."""
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise TlogProofError("a tlog-proof is UTF-8 text") from exc
        head, blank, checkpoint = data.partition("\n\n")
        if not blank or not checkpoint:
            raise TlogProofError("a tlog-proof needs an empty line, then the checkpoint")
        lines = head.split("\n")
        if lines[0] != HEADER:
            raise TlogProofError(f"the first line must be {HEADER}")
        extra = None
        at = 1
        if len(lines) > at and lines[at].startswith("extra "):
            extra = _b64(lines[at].removeprefix("extra "), "the extra data")
            at += 1
        match = _INDEX.fullmatch(lines[at]) if len(lines) > at else None
        if match is None:
            raise TlogProofError("the index line must read 'index N' (decimal, no leading 0)")
        proof = tuple(_b64(line, f"proof line {i + 1}") for i, line in enumerate(lines[at + 1 :]))
        if any(len(h) != HASH_SIZE for h in proof):
            raise TlogProofError(f"every proof line must be a {HASH_SIZE}-byte hash")
        return cls(int(match[1]), proof, checkpoint, extra)
