"""The witness's decision (ledger_gw.witness.core) and its wire format, with no I/O: a log
kept in memory, real Ed25519 signatures, real RFC 6962 proofs, and their mutations."""

from __future__ import annotations

import base64

import pytest

from ledger_gw.log.checkpoint import Checkpoint, CheckpointError, open_checkpoint, sign_checkpoint
from ledger_gw.log.merkle import consistency_nodes, leaf_hash, root_of
from ledger_gw.log.note import Note, NoteSigner, SigType, generate_signer
from ledger_gw.witness.core import Cosigned, TrustedLog, Witnessed, add_checkpoint, attach
from ledger_gw.witness.errors import Reason, RefusedError, SizeConflictError
from ledger_gw.witness.protocol import (
    MAX_PROOF_LINES,
    AddCheckpoint,
    format_size,
    parse_signature_lines,
    parse_size,
)

ORIGIN = "example.org/ledger"
NOW = 1_760_000_000


class MemoryLog:
    """A log whose leaves are kept in a list: checkpoints and consistency proofs."""

    def __init__(self, signer: NoteSigner, history: str, size: int = 0) -> None:
        self.signer = signer
        self.history = history
        self.leaves: list[bytes] = []
        self.extend(size)

    def extend(self, n: int) -> None:
        start = len(self.leaves)
        self.leaves += [leaf_hash(f"{self.history}-{i}".encode()) for i in range(start, start + n)]

    def root(self, size: int) -> bytes:
        return root_of(self.leaves[:size])

    def checkpoint(self, size: int, origin: str = ORIGIN) -> str:
        return sign_checkpoint(Checkpoint(origin, size, self.root(size)), self.signer)

    def proof(self, old: int, new: int) -> list[bytes]:
        if old in (0, new):
            return []
        plan = consistency_nodes(old, new)
        return plan.rehash([root_of(self.leaves[n.begin : n.end]) for n in plan.ids])


@pytest.fixture(scope="module")
def log_key() -> NoteSigner:
    return generate_signer(ORIGIN)[0]


@pytest.fixture(scope="module")
def witness() -> NoteSigner:
    return generate_signer("witness.agency-a", SigType.COSIGNATURE_V1)[0]


@pytest.fixture
def log(log_key: NoteSigner) -> MemoryLog:
    return MemoryLog(log_key, "real", 10)


@pytest.fixture
def trusted(log_key: NoteSigner) -> TrustedLog:
    return TrustedLog(ORIGIN, log_key.verifier)


def push(
    log: MemoryLog,
    size: int,
    latest: Witnessed | None,
    trusted: TrustedLog,
    witness: NoteSigner,
    *,
    old: int | None = None,
    proof: list[bytes] | None = None,
    now: int = NOW,
) -> Cosigned:
    old = (0 if latest is None else latest.size) if old is None else old
    proof = log.proof(old, size) if proof is None else proof
    request = AddCheckpoint.build(old, proof, log.checkpoint(size))
    return add_checkpoint(request, latest, trusted, witness, now)


def refused(reason: Reason, *args: object, **kwargs: object) -> RefusedError:
    with pytest.raises(RefusedError) as caught:
        push(*args, **kwargs)
    assert caught.value.reason is reason, caught.value
    return caught.value


def test_first_checkpoint_is_cosigned_and_remembered(
    log: MemoryLog, trusted: TrustedLog, witness: NoteSigner
) -> None:
    done = push(log, 10, None, trusted, witness)
    assert (done.state.origin, done.state.size, done.state.root_hash) == (ORIGIN, 10, log.root(10))
    opened = open_checkpoint(done.state.note, trusted.verifier, [witness.verifier], 1)
    assert [c.timestamp for c in opened.cosignatures] == [NOW]
    assert attach(log.checkpoint(10), done.cosignature, trusted, witness.verifier).endswith(
        done.cosignature
    )
    assert done.cosignature.startswith("— witness.agency-a ")
    assert done.cosignature.endswith("\n")


def test_an_extension_with_its_proof_is_cosigned(
    log: MemoryLog, trusted: TrustedLog, witness: NoteSigner
) -> None:
    first = push(log, 7, None, trusted, witness)
    log.extend(9)
    done = push(log, 19, first.state, trusted, witness, now=NOW + 5)
    assert done.state.size == 19
    opened = open_checkpoint(done.state.note, trusted.verifier, [witness.verifier], 1)
    assert opened.cosignatures[0].timestamp == NOW + 5


@pytest.mark.parametrize(("old", "new"), [(1, 2), (4, 8), (5, 13), (7, 8), (6, 17)])
def test_every_mutation_of_a_consistency_proof_is_refused(
    log_key: NoteSigner, trusted: TrustedLog, witness: NoteSigner, old: int, new: int
) -> None:
    log = MemoryLog(log_key, "real", new)
    latest = push(log, old, None, trusted, witness).state
    good = log.proof(old, new)
    assert good, "these sizes need a non-empty proof"
    for i in range(len(good)):
        for bit in (0, 7, 255):
            bad = list(good)
            bad[i] = bytes([bad[i][0] ^ (1 << (bit % 8))]) + bad[i][1:]
            refused(Reason.BAD_PROOF, log, new, latest, trusted, witness, proof=bad)
    refused(Reason.BAD_PROOF, log, new, latest, trusted, witness, proof=good[:-1])
    refused(Reason.BAD_PROOF, log, new, latest, trusted, witness, proof=[*good, good[0]])
    if len(good) > 1:
        refused(Reason.BAD_PROOF, log, new, latest, trusted, witness, proof=good[::-1])
    assert push(log, new, latest, trusted, witness).state.size == new


def test_a_fork_signed_by_the_same_key_is_refused(
    log_key: NoteSigner, log: MemoryLog, trusted: TrustedLog, witness: NoteSigner
) -> None:
    latest = push(log, 10, None, trusted, witness).state
    fork = MemoryLog(log_key, "fork", 6)  # shares no leaf with the real log
    fork.extend(10)
    refused(Reason.BAD_PROOF, fork, 16, latest, trusted, witness)
    forked_prefix = MemoryLog(log_key, "real", 8)  # shares the first 8 leaves
    forked_prefix.leaves += MemoryLog(log_key, "other", 20).leaves[8:20]
    refused(Reason.BAD_PROOF, forked_prefix, 20, latest, trusted, witness)
    # The same size with another root: a split view, whatever the proof.
    refused(Reason.FORK, fork, 10, latest, trusted, witness, old=10)
    log.extend(3)
    assert push(log, 13, latest, trusted, witness).state.size == 13


def test_the_old_size_must_be_the_one_last_cosigned(
    log: MemoryLog, trusted: TrustedLog, witness: NoteSigner
) -> None:
    latest = push(log, 6, None, trusted, witness).state
    for old in (0, 5, 7):
        with pytest.raises(SizeConflictError) as caught:
            push(log, 10, latest, trusted, witness, old=old, proof=[])
        assert caught.value.size == 6
        assert caught.value.reason is Reason.OLD_SIZE


def test_a_smaller_or_older_tree_is_refused(
    log: MemoryLog, trusted: TrustedLog, witness: NoteSigner
) -> None:
    latest = push(log, 10, None, trusted, witness).state
    refused(Reason.MALFORMED, log, 4, latest, trusted, witness, old=10, proof=[])
    with pytest.raises(SizeConflictError) as caught:
        push(log, 4, latest, trusted, witness, old=4)
    assert caught.value.size == 10


def test_a_replay_of_the_cosigned_checkpoint_is_cosigned_again(
    log: MemoryLog, trusted: TrustedLog, witness: NoteSigner
) -> None:
    latest = push(log, 10, None, trusted, witness).state
    again = push(log, 10, latest, trusted, witness, now=NOW + 60)
    assert (again.state.size, again.state.root_hash) == (latest.size, latest.root_hash)
    opened = open_checkpoint(again.state.note, trusted.verifier, [witness.verifier], 1)
    assert [c.timestamp for c in opened.cosignatures] == [NOW + 60]  # replaced, not doubled
    refused(Reason.BAD_PROOF, log, 10, latest, trusted, witness, proof=[log.root(10)])


def test_a_checkpoint_already_carrying_this_witness_is_cosigned_once(
    log: MemoryLog, trusted: TrustedLog, witness: NoteSigner
) -> None:
    latest = push(log, 10, None, trusted, witness).state
    request = AddCheckpoint.build(10, [], latest.note)
    done = add_checkpoint(request, latest, trusted, witness, NOW + 1)
    assert len(Note.parse(done.state.note).signatures) == 2  # the log's and this witness's


def test_a_proof_from_the_empty_tree_must_be_empty(
    log: MemoryLog, trusted: TrustedLog, witness: NoteSigner
) -> None:
    refused(Reason.BAD_PROOF, log, 10, None, trusted, witness, proof=[log.root(5)])


def test_another_origin_is_an_unknown_log(
    log_key: NoteSigner, trusted: TrustedLog, witness: NoteSigner
) -> None:
    log = MemoryLog(log_key, "real", 3)
    request = AddCheckpoint.build(0, [], log.checkpoint(3, origin="example.org/other"))
    with pytest.raises(RefusedError) as caught:
        add_checkpoint(request, None, trusted, witness, NOW)
    assert caught.value.reason is Reason.UNKNOWN_LOG


def test_a_checkpoint_signed_by_another_key_is_refused(
    trusted: TrustedLog, witness: NoteSigner
) -> None:
    impostor = MemoryLog(generate_signer(ORIGIN)[0], "real", 10)  # same name, other key
    refused(Reason.BAD_SIGNATURE, impostor, 10, None, trusted, witness)


def test_a_damaged_log_signature_is_refused(
    log: MemoryLog, trusted: TrustedLog, witness: NoteSigner
) -> None:
    note = Note.parse(log.checkpoint(10))
    sig = note.signatures[0]
    damaged = type(sig)(sig.name, sig.key_id, bytes([sig.signature[0] ^ 1]) + sig.signature[1:])
    request = AddCheckpoint.build(0, [], Note(note.text, (damaged,)).format())
    with pytest.raises(RefusedError) as caught:
        add_checkpoint(request, None, trusted, witness, NOW)
    assert caught.value.reason is Reason.BAD_SIGNATURE


def test_an_old_size_above_the_tree_is_malformed(
    log: MemoryLog, trusted: TrustedLog, witness: NoteSigner
) -> None:
    refused(Reason.MALFORMED, log, 5, None, trusted, witness, old=6, proof=[])


def test_attach_keeps_only_the_named_witness(
    log: MemoryLog, trusted: TrustedLog, witness: NoteSigner
) -> None:
    done = push(log, 10, None, trusted, witness)
    other = generate_signer("witness.agency-b", SigType.COSIGNATURE_V1)[0]
    with pytest.raises(CheckpointError):
        attach(log.checkpoint(10), done.cosignature, trusted, other.verifier)
    forged = done.cosignature.replace(done.cosignature[-10:-1], "A" * 9)
    with pytest.raises(CheckpointError):
        attach(log.checkpoint(10), forged, trusted, witness.verifier)


# --- The wire format ------------------------------------------------------------------------


def test_a_request_round_trips(log: MemoryLog) -> None:
    proof = log.proof(3, 10)
    request = AddCheckpoint.build(3, proof, log.checkpoint(10))
    body = request.body()
    assert body.startswith(b"old 3\n" + base64.b64encode(proof[0]) + b"\n")
    assert b"\n\n" + log.checkpoint(10).encode() == body[body.index(b"\n\n") :]
    assert AddCheckpoint.parse(body) == request
    assert AddCheckpoint.parse(b"old 0\n\n" + log.checkpoint(10).encode()).proof == ()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 0\n",
        b"old 0\nnot a checkpoint\n",
        b"old 01\n\n{note}",
        b"old -1\n\n{note}",
        b"old 1.0\n\n{note}",
        b"new 0\n\n{note}",
        b"old  0\n\n{note}",
        b"old 99999999999999999999\n\n{note}",
        b"old 0\nnot base64!\n\n{note}",
        b"old 0\n" + base64.b64encode(b"x" * 31) + b"\n\n{note}",
        b"old 0\n" + (base64.b64encode(b"x" * 32) + b"\n") * (MAX_PROOF_LINES + 1) + b"\n{note}",
        b"old 0\n\nexample.org/ledger\n10\n\n",
        b"old 0\n\n\xff\xfe{note}",
        b"old 0\n\n{unsigned}",
    ],
)
def test_a_malformed_request_is_refused(log: MemoryLog, body: bytes) -> None:
    note = log.checkpoint(10).encode()
    unsigned = Note.parse(note).text.encode()
    body = body.replace(b"{note}", note).replace(b"{unsigned}", unsigned)
    with pytest.raises(RefusedError) as caught:
        AddCheckpoint.parse(body)
    assert caught.value.reason is Reason.MALFORMED


def test_sixty_three_proof_lines_are_accepted(log: MemoryLog) -> None:
    line = base64.b64encode(b"x" * 32) + b"\n"
    body = b"old 5\n" + line * MAX_PROOF_LINES + b"\n" + log.checkpoint(10).encode()
    assert len(AddCheckpoint.parse(body).proof) == MAX_PROOF_LINES


def test_size_and_signature_answers() -> None:
    assert format_size(42) == b"42\n"
    assert parse_size(b"42\n") == 42
    for bad in (b"42", b"042\n", b"x\n", b""):
        with pytest.raises(RefusedError):
            parse_size(bad)
    assert parse_signature_lines(b"\xe2\x80\x94 w AAAAAAAA\n")[0].name == "w"
    with pytest.raises(RefusedError):
        parse_signature_lines(b"not a signature\n")


def test_lines_a_request_brings_are_not_kept_in_its_memory(
    log: MemoryLog, trusted: TrustedLog, witness: NoteSigner
) -> None:
    """Anyone may post a checkpoint the log signed, with a forged line under another
    witness's name: kept, it would make this witness's memory read as forged (what
    `ledger-gw verify --witness-state` opens). Only the log's line and its own stay."""
    other = generate_signer("witness.auditor-x", SigType.COSIGNATURE_V1)[0]
    first = push(log, 10, None, trusted, witness)
    forged = base64.b64encode(other.verifier.key_id + bytes(72)).decode()
    note = log.checkpoint(10) + f"— witness.auditor-x {forged}\n"
    again = add_checkpoint(AddCheckpoint.build(10, [], note), first.state, trusted, witness, NOW)
    kept = Note.parse(again.state.note).signatures
    assert [s.name for s in kept] == [ORIGIN, "witness.agency-a"]
    opened = open_checkpoint(again.state.note, trusted.verifier, [witness.verifier, other.verifier])
    assert [c.witness.name for c in opened.cosignatures] == ["witness.agency-a"]
