"""A retired member's witness key (ledger_gw.log.checkpoint.RetiredWitness): its
cosignatures verify as any listed witness's do, a forged one is still a forgery, but
only those dated wholly before it left count towards a quorum."""

from __future__ import annotations

import pytest

from ledger_gw.log.checkpoint import (
    Checkpoint,
    CheckpointError,
    ForgedCosignatureError,
    RetiredWitness,
    add_cosignature,
    open_checkpoint,
    sign_checkpoint,
)
from ledger_gw.log.note import Note, NoteSignature, NoteVerifier, SigType, generate_signer

ORIGIN = "example.org/ledger"
LEFT = 1_760_000_000


def _retired(verifier: NoteVerifier) -> RetiredWitness:
    return RetiredWitness(verifier.name, verifier.sig_type, verifier.public_key, LEFT)


def test_only_cosignatures_dated_before_it_left_count() -> None:
    log, _ = generate_signer(ORIGIN)
    stays, _ = generate_signer("witness.stays", SigType.COSIGNATURE_V1)
    left, _ = generate_signer("witness.left")  # an Ed25519 key, as older files list them
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, bytes(32)), log)
    witnesses = [stays.verifier, _retired(left.verifier)]
    for at, counted in ((LEFT - 1, 2), (LEFT, 1), (LEFT + 86_400, 1)):
        cosigned = add_cosignature(add_cosignature(note, stays, LEFT + 5), left, at)
        opened = open_checkpoint(cosigned, log.verifier, witnesses)
        assert len(opened.cosignatures) == counted, at
        if counted == 1:
            assert opened.witnesses == ("witness.stays",)
            with pytest.raises(CheckpointError, match="quorum not met: 1 of 2"):
                open_checkpoint(cosigned, log.verifier, witnesses, 2)


def test_a_forged_cosignature_under_a_retired_key_is_still_a_forgery() -> None:
    log, _ = generate_signer(ORIGIN)
    left, _ = generate_signer("witness.left", SigType.COSIGNATURE_V1)
    note = add_cosignature(sign_checkpoint(Checkpoint(ORIGIN, 3, bytes(32)), log), left, LEFT + 9)
    parsed = Note.parse(note)
    mine = parsed.signatures[-1]
    bad = NoteSignature(mine.name, mine.key_id, mine.signature[:-1] + b"\0")
    forged = Note(parsed.text, (*parsed.signatures[:-1], bad)).format()
    with pytest.raises(ForgedCosignatureError):
        open_checkpoint(forged, log.verifier, [_retired(left.verifier)])


def test_retyped_it_stays_retired() -> None:
    key, _ = generate_signer("witness.left")
    retyped = _retired(key.verifier).as_type(SigType.COSIGNATURE_V1)
    assert isinstance(retyped, RetiredWitness)
    assert (retyped.until, retyped.key_id) == (
        LEFT,
        key.verifier.as_type(SigType.COSIGNATURE_V1).key_id,
    )
