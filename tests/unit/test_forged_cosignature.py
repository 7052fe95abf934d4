"""A cosignature by a listed witness's key that does not verify, on a note the log's key
signed, is told apart from a note that is only not cosigned yet: it is made up. Without
a valid log signature it proves nothing, and a cosignature by a key no one lists is
ignored (c2sp.org/tlog-cosignature)."""

from __future__ import annotations

import hashlib

import pytest

from ledger_gw.log.checkpoint import (
    Checkpoint,
    CheckpointError,
    ForgedCosignatureError,
    add_cosignature,
    cosign_statement,
    open_checkpoint,
    open_statement,
    sign_checkpoint,
)
from ledger_gw.log.note import Note, NoteSignature, NoteSigner, SigType, generate_signer

ORIGIN = "ledger.example/log"
CP = Checkpoint(ORIGIN, 5, hashlib.sha256(b"root").digest())
LOG, _ = generate_signer(ORIGIN)
WITNESS, _ = generate_signer("witness.example/w1", SigType.COSIGNATURE_V1)
OTHER, _ = generate_signer("witness.example/w2", SigType.COSIGNATURE_V1)


def _line(under: NoteSigner, by: NoteSigner) -> NoteSignature:
    """A real signature of the checkpoint by ``by``'s key, under ``under``'s name and ID."""
    stamp = 1_700_000_000 if by.sig_type is SigType.COSIGNATURE_V1 else None
    return NoteSignature(under.name, under.key_id, by.sign(CP.body(), timestamp=stamp))


def _note(*lines: NoteSignature) -> str:
    return Note(CP.text(), lines).format()


def _impostor(of: NoteSigner) -> NoteSigner:
    return generate_signer(of.name, of.sig_type)[0]


def _logged() -> NoteSignature:
    return Note.parse(sign_checkpoint(CP, LOG)).signatures[0]


@pytest.mark.parametrize("first", ["log", "witness"])
@pytest.mark.parametrize("quorum", [0, 1])
def test_a_listed_witness_cosignature_that_does_not_verify_is_forged(
    first: str, quorum: int
) -> None:
    forged = _line(WITNESS, _impostor(WITNESS))
    lines = (_logged(), forged) if first == "log" else (forged, _logged())
    with pytest.raises(ForgedCosignatureError, match=f"known key {WITNESS.name}") as caught:
        open_checkpoint(_note(*lines), LOG.verifier, [WITNESS.verifier], quorum)
    assert caught.value.code == "forged_cosignature"


def test_one_forged_among_valid_cosignatures_is_forged() -> None:
    note = add_cosignature(sign_checkpoint(CP, LOG), OTHER, 1_700_000_000)
    note += _line(WITNESS, _impostor(WITNESS)).line()
    with pytest.raises(ForgedCosignatureError):
        open_checkpoint(note, LOG.verifier, [WITNESS.verifier, OTHER.verifier], 1)


@pytest.mark.parametrize("log_key", ["the log's key", "another key"])
def test_without_the_logs_signature_nothing_is_proven(log_key: str) -> None:
    """Anyone can write a note that fails: it is refused, and says nothing of the log."""
    under = LOG if log_key == "the log's key" else _impostor(LOG)
    note = _note(_line(under, _impostor(LOG)), _line(WITNESS, _impostor(WITNESS)))
    with pytest.raises(CheckpointError) as refused:
        open_checkpoint(note, LOG.verifier, [WITNESS.verifier])
    assert not isinstance(refused.value, ForgedCosignatureError)


def test_a_cosignature_by_a_key_no_one_lists_is_ignored() -> None:
    stranger = generate_signer("witness.example/stranger", SigType.COSIGNATURE_V1)[0]
    note = _note(_logged(), _line(stranger, _impostor(stranger)))
    assert open_checkpoint(note, LOG.verifier, [WITNESS.verifier]).cosignatures == ()
    with pytest.raises(CheckpointError, match="quorum not met") as waiting:
        open_checkpoint(note, LOG.verifier, [WITNESS.verifier], 1)
    assert not isinstance(waiting.value, ForgedCosignatureError)


def test_a_statement_has_no_log_signature_to_prove_a_forgery_by() -> None:
    note = cosign_statement(CP, OTHER, 1_700_000_000) + _line(WITNESS, _impostor(WITNESS)).line()
    with pytest.raises(CheckpointError) as refused:
        open_statement(note, [WITNESS.verifier, OTHER.verifier], 1, origin=ORIGIN)
    assert not isinstance(refused.value, ForgedCosignatureError)
