"""A witness: its key, the logs it serves, its memory and its clock, put together."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from ledger_gw.log.note import NoteSigner, NoteVerifier
from ledger_gw.witness.core import (
    Cosigned,
    TrustedLog,
    Witnessed,
    add_checkpoint,
    cosigner,
    signed_by,
)
from ledger_gw.witness.errors import Reason, RefusedError
from ledger_gw.witness.protocol import AddCheckpoint
from ledger_gw.witness.store import WitnessStore


class Witness:
    def __init__(
        self,
        signer: NoteSigner,
        logs: Iterable[TrustedLog],
        store: WitnessStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.signer = cosigner(signer)
        self.logs = {log.origin: log for log in logs}
        self.store = store
        self.clock = clock

    @property
    def verifier(self) -> NoteVerifier:
        """The witness's public key, as a tlog-cosignature (0x04) vkey."""
        return self.signer.verifier

    def add_checkpoint(self, body: bytes) -> Cosigned:
        """Answer an add-checkpoint request body; RefusedError when the witness will not sign."""
        request = AddCheckpoint.parse(body)
        origin = request.checkpoint.origin
        log = self.logs.get(origin)
        if log is None:
            raise RefusedError(Reason.UNKNOWN_LOG, f"unknown log origin {origin!r}")
        signed_by(request, log)  # before the memory's write lock
        return self.store.advance(
            origin,
            lambda latest: add_checkpoint(request, latest, log, self.signer, int(self.clock())),
        )

    def latest(self, origin: str) -> Witnessed | None:
        return self.store.latest(origin)
