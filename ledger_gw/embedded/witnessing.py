"""The log's side of witnessing: push checkpoints to the consortium's witnesses and keep
the cosignatures they send back in the checkpoint rows.

Witnesses are other parties' servers (C2SP tlog-witness), so nothing here may hold up
a commit: the process that appends pushes from one background thread per witness,
always the latest checkpoint, and a witness that is down is only logged and tried
again later. Each thread remembers the size its witness last cosigned (from 0: the
witness's 409 tells the truth once) so that it can send a consistency proof from it.
A witness that refuses (a fork, a bad proof) is logged as loudly as it deserves.

A log that stops growing is still offered to its witnesses every REFRESH_S: each
cosigns the same checkpoint again, at a new time (tlog-witness), so that a watcher can
tell an idle log from one that shows it a frozen view (``audit watch --max-age``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, insert, select, update

from ledger_gw.consortium import Consortium
from ledger_gw.embedded.reader import LogReader, stored_checkpoint
from ledger_gw.embedded.schema import checkpoints, witnessed
from ledger_gw.errors import ConflictError, NotFoundError, UnavailableError
from ledger_gw.log.checkpoint import CheckpointError
from ledger_gw.log.note import NoteVerifier, SigType, has_cosigned
from ledger_gw.witness.client import request_cosignature
from ledger_gw.witness.core import TrustedLog, attach
from ledger_gw.witness.errors import (
    RefusedError,
    SizeConflictError,
    WitnessError,
    WitnessUnavailableError,
)

_log = logging.getLogger(__name__)

RETRY_S = 5.0  # how long a pusher waits before trying a failing witness again
REFRESH_S = 600.0  # how old a witness's cosignature of the latest checkpoint may grow
CLOSE_GRACE_S = 5.0  # how long closing the ledger waits for the last checkpoint's cosignatures


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A member's witness: where it listens and the key its cosignatures verify with."""

    org_id: str
    url: str
    verifier: NoteVerifier  # as a cosignature (0x04) key


def endpoints(consortium: Consortium) -> tuple[Endpoint, ...]:
    """The witnesses the consortium file names with a URL, but a retired member's: what
    it cosigns after it left counts towards no quorum."""
    return tuple(
        Endpoint(org, url, NoteVerifier.from_vkey(vkey).as_type(SigType.COSIGNATURE_V1))
        for org, (url, vkey) in consortium.witness_urls().items()
        if not consortium.has_left(org)
    )


class Cosigner:
    """Pushes one checkpoint to one witness and stores the verified cosignature."""

    def __init__(self, engine: Engine, consortium: Consortium) -> None:
        self.engine = engine
        self.consortium = consortium
        self.reader = LogReader(engine)
        self.log = TrustedLog.from_vkey(consortium.origin, consortium.log_vkey)

    def latest(self) -> tuple[int, str]:
        return self.reader.sized_checkpoint(None)

    def push(self, witness: Endpoint, size: int, note: str, old_size: int) -> None:
        """Ask ``witness`` to cosign the checkpoint of ``size`` (signed as ``note``),
        from the size it last cosigned, and keep its cosignature.

        WitnessError when it does not cosign; CheckpointError when its answer does not
        verify."""
        answer = request_cosignature(witness.url, note, old_size, self.reader.consistency_proof)
        with self.engine.begin() as conn:
            # Other witnesses' cosignatures land in the same row: it is locked, not the
            # log, whose appends go on meanwhile.
            _, stored = stored_checkpoint(conn, size, for_update=True)
            cosigned = attach(stored, answer.cosignature, self.log, witness.verifier)
            conn.execute(
                update(checkpoints).where(checkpoints.c.size == size).values(note=cosigned)
            )
            # Nothing anchors at a witnessed checkpoint where no quorum is set.
            quorum = self.consortium.witness_quorum
            if quorum and not _recorded(conn, size) and self.consortium.witnessed(cosigned):
                conn.execute(insert(witnessed).values(size=size))

    def ask(self, witnesses: Iterable[Endpoint], size: int | None) -> str:
        """Ask now every witness that has not cosigned the checkpoint of ``size`` (the
        latest when None); the note with what they answered.

        NotFoundError for a size the log has no checkpoint of; ConflictError when there
        is no witness to ask, when every one already cosigned, or when they refuse;
        UnavailableError when none could be reached."""
        if size is not None and not 0 < size <= self.reader.size():
            raise NotFoundError(f"the log has no checkpoint of size {size}")
        size, note = self.reader.sized_checkpoint(size)
        listed = tuple(witnesses)
        if not listed:
            raise ConflictError("the consortium lists no witness to ask", code="no_witnesses")
        missing = [w for w in listed if not has_cosigned(note, w.verifier)]
        if not missing:
            raise ConflictError(
                f"every witness has cosigned the checkpoint of size {size}",
                code="already_cosigned",
            )
        failures: list[str] = []
        refused = False
        for witness in missing:
            try:
                self.push(witness, size, note, 0)
            except (WitnessError, CheckpointError) as exc:
                refused |= not isinstance(exc, WitnessUnavailableError)
                failures.append(f"{witness.org_id}: {exc}")
        if len(failures) == len(missing):
            message = "no witness cosigned: " + "; ".join(failures)
            if refused:
                raise ConflictError(message, code="witness_refused")
            raise UnavailableError(message, code="witnesses_unavailable")
        return self.reader.checkpoint(size)


def _recorded(conn: Connection, size: int) -> bool:
    return (
        conn.execute(select(witnessed.c.size).where(witnessed.c.size == size)).first() is not None
    )


class Pusher:
    """One witness's thread: pushes the latest checkpoint whenever woken."""

    def __init__(self, cosigner: Cosigner, witness: Endpoint, retry: float, refresh: float) -> None:
        self.cosigner = cosigner
        self.witness = witness
        self.retry = retry
        self.refresh = refresh
        self.fresh_until = 0.0  # when its cosignature of ``known`` is due again (monotonic)
        self.known = 0  # the size the witness last cosigned, as far as this thread knows
        self.tried = 0  # the latest size pushed, cosigned or not
        self.failing = False
        self._wake = threading.Event()
        self._closing = False
        self._thread = threading.Thread(
            target=self._loop, name=f"witness-{witness.org_id}", daemon=True
        )
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._closing = True
        self._wake.set()

    def _loop(self) -> None:
        while self._next():
            try:
                size, note = self.cosigner.latest()
            except NotFoundError:
                continue
            except Exception:
                _log.warning("cannot read the latest checkpoint", exc_info=True)
                self.failing = True
                continue
            if size == self.known and not self.failing and time.monotonic() < self.fresh_until:
                self.tried = size
                continue
            self._push(size, note)

    def _next(self) -> bool:
        """Wait to be woken, to retry or to refresh; whether to go on."""
        self._wake.wait(self.retry if self.failing else self.refresh)
        self._wake.clear()
        return not self._closing

    def _push(self, size: int, note: str) -> None:
        name = f"witness of {self.witness.org_id} ({self.witness.url})"
        try:
            self.cosigner.push(self.witness, size, note, self.known)
        except SizeConflictError as ahead:  # it cosigned a larger tree: not this log's?
            self.known = ahead.size
            self._failed(logging.ERROR, f"{name} has cosigned size {ahead.size}, beyond {size}")
        except RefusedError as exc:
            self._failed(logging.ERROR, f"{name} refuses checkpoint {size}: {exc.code}: {exc}")
        except WitnessUnavailableError as exc:
            self._failed(logging.WARNING, f"{name} is unavailable; trying again: {exc}")
        except CheckpointError as exc:
            self._failed(logging.ERROR, f"{name} answered a bad cosignature: {exc}")
        except Exception:
            _log.exception("pushing checkpoint %d to the %s failed", size, name)
            self.failing = True
        else:
            if self.failing:
                _log.info("%s cosigns again, at size %d", name, size)
            self.known = size
            self.fresh_until = time.monotonic() + self.refresh
            self.failing = False
            self._wake.set()  # a newer checkpoint may have come meanwhile
        self.tried = size

    def _failed(self, level: int, message: str) -> None:
        if not self.failing:  # once per outage, not once per retry
            _log.log(level, message)
        self.failing = True


class Witnessing:
    """The pushers of one appending process, started when it first appends."""

    def __init__(
        self,
        engine: Engine,
        consortium: Consortium,
        witnesses: Iterable[Endpoint],
        *,
        retry: float = RETRY_S,
        refresh: float | None = None,
    ) -> None:
        cosigner = Cosigner(engine, consortium)
        every = REFRESH_S if refresh is None else refresh
        self.pushers = [Pusher(cosigner, w, retry, every) for w in witnesses]
        staying = consortium.witnesses_in_force()
        if consortium.witness_quorum > len(staying):  # a file from before this was refused
            _log.error(
                "the witness quorum is %d, but only %d witness(es) of members in force are "
                "listed: no checkpoint from now on can be witnessed; list another member's "
                "witness (`ledger-gw consortium add-witness`)",
                consortium.witness_quorum,
                len(staying),
            )

    def committed(self) -> None:
        """A new checkpoint is stored: push it."""
        for pusher in self.pushers:
            pusher.wake()

    def settle(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> bool:
        """Wait until every witness was offered the latest checkpoint (at most
        ``timeout`` seconds); whether all of them cosigned it."""
        deadline = clock() + timeout
        self.committed()
        while True:
            try:
                size, _ = self.pushers[0].cosigner.latest() if self.pushers else (0, "")
            except NotFoundError:
                return True
            if all(p.tried >= size for p in self.pushers):
                return all(p.known >= size and not p.failing for p in self.pushers)
            if clock() >= deadline:
                return False
            time.sleep(0.02)

    def close(self, grace: float = CLOSE_GRACE_S) -> None:
        """Offer the last checkpoint (waiting at most ``grace``), then stop."""
        self.committed()
        self.settle(grace)
        for pusher in self.pushers:
            pusher.close()
