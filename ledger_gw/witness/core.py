"""The witness's decision, without I/O: cosign a checkpoint only if it extends what
the witness last cosigned for that log (C2SP tlog-witness, ``add-checkpoint``).

Given the witness's memory of a log (:class:`Witnessed`) and a request, either the
witness refuses (:class:`~ledger_gw.witness.errors.RefusedError`) or it returns its
cosignature and its new memory, which the caller must persist before answering.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger_gw.errors import ConfigError
from ledger_gw.log.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from ledger_gw.log.merkle import ProofError, verify_consistency
from ledger_gw.log.note import Note, NoteError, NoteSignature, NoteSigner, NoteVerifier, SigType
from ledger_gw.witness.errors import Reason, RefusedError, SizeConflictError
from ledger_gw.witness.protocol import AddCheckpoint


@dataclass(frozen=True, slots=True)
class TrustedLog:
    """A log the witness serves: its origin line and its Ed25519 (0x01) note key."""

    origin: str
    verifier: NoteVerifier

    def __post_init__(self) -> None:
        if self.verifier.sig_type is not SigType.ED25519:
            raise ConfigError(f"the log key of {self.origin} must be an Ed25519 (0x01) key")

    @classmethod
    def from_vkey(cls, origin: str, vkey: str) -> TrustedLog:
        try:
            return cls(origin, NoteVerifier.from_vkey(vkey))
        except NoteError as exc:
            raise ConfigError(f"the log key of {origin}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Witnessed:
    """What the witness last cosigned for one log; ``note`` carries its cosignature."""

    origin: str
    size: int
    root_hash: bytes
    note: str


@dataclass(frozen=True, slots=True)
class Cosigned:
    """The answer to a good request: the cosignature line(s) and the memory to keep."""

    cosignature: str
    state: Witnessed


def cosigner(signer: NoteSigner) -> NoteSigner:
    """The witness key as a tlog-cosignature (0x04) signer; an Ed25519 key is re-typed."""
    return signer.as_type(SigType.COSIGNATURE_V1)


def signed_by(request: AddCheckpoint, log: TrustedLog) -> Checkpoint:
    """The request's checkpoint, if it is ``log``'s and the log signed it: checked before
    the witness's memory is locked too, so that forged requests keep no one waiting."""
    if request.checkpoint.origin != log.origin:
        raise RefusedError(Reason.UNKNOWN_LOG, f"unknown log origin {request.checkpoint.origin!r}")
    try:
        return open_checkpoint(request.note, log.verifier, origin=log.origin).checkpoint
    except CheckpointError as exc:
        refused = f"the log's signature does not verify: {exc}"
        raise RefusedError(Reason.BAD_SIGNATURE, refused) from None


def add_checkpoint(
    request: AddCheckpoint,
    latest: Witnessed | None,
    log: TrustedLog,
    signer: NoteSigner,
    now: int,
) -> Cosigned:
    """Cosign ``request``'s checkpoint at time ``now`` (POSIX seconds), or refuse.

    The checks, in the order tlog-witness gives them: the origin is ``log``'s
    (404), the log signed it (403), the old size is not above the new one (400),
    the old size is the one last cosigned (409 with that size), the consistency
    proof leads from the remembered root to the new one (422), and an equal size
    has an equal root (409).
    """
    checkpoint = signed_by(request, log)
    if request.old_size > checkpoint.size:
        raise RefusedError(
            Reason.MALFORMED, f"old size {request.old_size} exceeds tree size {checkpoint.size}"
        )
    have = 0 if latest is None else latest.size
    if request.old_size != have:
        raise SizeConflictError(have)
    if latest is not None and checkpoint.size == latest.size:
        if checkpoint.root_hash != latest.root_hash:
            raise RefusedError(
                Reason.FORK, f"a different root hash for tree size {checkpoint.size} was cosigned"
            )
        if request.proof:
            raise RefusedError(Reason.BAD_PROOF, "equal tree sizes need an empty proof")
    elif latest is None or latest.size == 0:
        if request.proof:
            raise RefusedError(Reason.BAD_PROOF, "a proof from tree size 0 must be empty")
    else:
        try:
            verify_consistency(
                latest.size, checkpoint.size, request.proof, latest.root_hash, checkpoint.root_hash
            )
        except ProofError as exc:
            raise RefusedError(Reason.BAD_PROOF, f"the consistency proof fails: {exc}") from None
    witness = cosigner(signer)
    line = NoteSignature(
        witness.name, witness.key_id, witness.sign(checkpoint.body(), timestamp=now)
    )
    # Kept: the log's signature, verified above, and this witness's own. Any other line
    # came with the request unchecked; kept, it would make this witness's memory
    # (`ledger-gw verify --witness-state`) fail as forged.
    note = Note.parse(request.note)
    logs = tuple(
        s for s in note.signatures if (s.name, s.key_id) == (log.verifier.name, log.verifier.key_id)
    )
    kept = Note(note.text, (*logs, line)).format()
    return Cosigned(line.line(), Witnessed(log.origin, checkpoint.size, checkpoint.root_hash, kept))


def attach(note: str, answer: str, log: TrustedLog, witness: NoteVerifier) -> str:
    """``note`` with ``witness``'s cosignature taken from its ``answer``, verified.

    Lines by other keys are ignored (tlog-witness: the client MUST ignore them); any
    earlier cosignature by ``witness`` is replaced. CheckpointError when none verifies.
    """
    witness = witness.as_type(SigType.COSIGNATURE_V1)
    ident = (witness.name, witness.key_id)
    try:
        answered = Note.parse("x\n\n" + answer).signatures
        parsed = Note.parse(note)
    except NoteError as exc:
        raise CheckpointError(str(exc)) from None
    theirs = [s for s in answered if (s.name, s.key_id) == ident]
    if len(theirs) != 1:
        raise CheckpointError(f"the answer has {len(theirs)} cosignatures by {witness.name}")
    mine = [s for s in parsed.signatures if (s.name, s.key_id) != ident]
    cosigned = Note(parsed.text, (*mine, theirs[0])).format()
    open_checkpoint(cosigned, log.verifier, [witness], 1, origin=log.origin)
    return cosigned
