"""Consistency monitoring: keep the last trusted checkpoint, prove every new one extends it.

This is what a witness or an auditor runs so that the log cannot show them one
history today and another tomorrow (RFC 9162 section 8.1.4; C2SP witnesses).
A checkpoint is trusted only once the consortium's quorum of witnesses cosigned it
(the caller may ask for more, or fewer): a watcher shown a history of its own, signed by
the log alone, would otherwise follow it while everyone else follows another. One
signed by the log alone is still held to the trusted one, since a fork the log signed is
proof enough; it is reported "uncosigned" and trusted no further.
The trusted head lives in a small JSON state file, written atomically and durably (the
file, then its directory, synced) and only after a new checkpoint has been opened and
proven consistent; a failed check leaves it untouched and raises
:class:`LogInconsistentError`.

A log can also show a watcher the same old checkpoint for ever, hiding what it appends
since (a freeze). Witnesses date their cosignatures, and a log offers its latest
checkpoint again while it does not grow (:mod:`ledger_gw.embedded.witnessing`), so with
a ``max_age`` a checkpoint whose quorum of cosignatures is older, or missing, is reported
(:class:`LogStaleError`) once it has been held to the trusted one, as any other.

On Fabric the log watched is the channel's validity log
(:mod:`ledger_gw.audit.fabric_validity`): no log key signs it, so each checkpoint must
carry the signatures of at least the consortium's quorum of members' witnesses, and a
member shown a forked validity history by its gateway is told, as on the embedded log.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ledger_gw.audit.evidence import b64, unb64
from ledger_gw.consortium import Consortium
from ledger_gw.errors import AuditError, LedgerError, LogInconsistentError, LogStaleError
from ledger_gw.files import PUBLIC, locked, make_dirs, write_file
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.merkle import ProofError, verify_consistency
from ledger_gw.log.note import Note


class CheckpointSource(Protocol):
    """Where new checkpoints and consistency proofs come from (a ledger, an HTTP API)."""

    def latest_checkpoint(self) -> str: ...

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]: ...


class _Reader(Protocol):
    """What :class:`ReaderSource` reads: the embedded ledger's log reader."""

    def checkpoint(self, size: int | None = None) -> str: ...

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]: ...


@dataclass(frozen=True)
class ReaderSource:
    """A :class:`CheckpointSource` over an embedded ledger's log."""

    reader: _Reader

    def latest_checkpoint(self) -> str:
        return self.reader.checkpoint()

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        return self.reader.consistency_proof(size1, size2)


@dataclass(frozen=True)
class Observation:
    """What one poll established: ``status`` is "first", "unchanged", "extended",
    "uncosigned" (consistent, but short of the quorum: not trusted, the state kept),
    "behind" (smaller than the trusted one, which was not witnessed, or this one is not,
    and proven a prefix of it: late rather than rolled back) or "behind_unverified" (the
    same, but no proof that it is a prefix could be had); ``witnesses`` names the
    consortium's witnesses whose cosignatures verified."""

    status: str
    old_size: int | None
    new_size: int
    root: str
    witnesses: tuple[str, ...] = ()


class Monitor:
    """A checkpoint monitor with its state in ``state_path``."""

    def __init__(
        self,
        state_path: Path,
        consortium: Consortium,
        quorum: int | None = None,
        *,
        validity_origin: str | None = None,
        max_age: dt.timedelta | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``quorum``: the cosignatures a checkpoint needs to be trusted (default: the
        consortium's). ``validity_origin``: watch that Fabric channel's validity log,
        whose checkpoints the members sign alone (at least the consortium's quorum).
        ``max_age``: how long ago a quorum of them may have cosigned what the log
        serves (by ``clock``, POSIX seconds)."""
        self.state_path = state_path
        self.validity = validity_origin is not None
        self.origin = validity_origin or consortium.origin
        self.log_key = ckpt.NoteVerifier.from_vkey(consortium.log_vkey)
        self.witnesses = consortium.witness_verifiers()
        self.consortium_quorum = consortium.witness_quorum
        required = consortium.witness_quorum if quorum is None else quorum
        self.quorum = max(required, consortium.witness_quorum) if self.validity else required
        if max_age is not None and self.validity:
            raise AuditError(
                "a maximum age says nothing of a validity log: its members date a statement "
                "of any height when asked",
                code="max_age_unsupported",
            )
        if max_age is not None and not self.quorum:
            raise AuditError(
                "a maximum age needs a quorum of witnesses: their cosignatures are dated",
                code="no_witness_quorum",
            )
        self.max_age = max_age
        self.clock = clock

    def _open(self, note: str) -> ckpt.VerifiedCheckpoint:
        if self.validity:
            return ckpt.open_statement(note, self.witnesses, self.quorum, origin=self.origin)
        if self.quorum > len(self.witnesses):
            raise ValueError(
                f"a quorum of {self.quorum} is more than the consortium's "
                f"{len(self.witnesses)} witnesses"
            )
        # The log's signature alone opens it: held to the trusted checkpoint even so,
        # and trusted only with the quorum (observe).
        return ckpt.open_checkpoint(note, self.log_key, self.witnesses, origin=self.origin)

    def trusted(self) -> ckpt.Checkpoint | None:
        """The last checkpoint proven consistent, or None before the first observation."""
        try:
            state = json.loads(self.state_path.read_text())
            return ckpt.Checkpoint(state["origin"], int(state["size"]), unb64(state["root"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, ckpt.CheckpointError) as exc:
            raise AuditError(f"monitor state {self.state_path} is unreadable: {exc}") from exc

    def _trusted_cosigners(self) -> int:
        """How many witnesses cosigned the trusted checkpoint (0 when it does not say)."""
        try:
            note = json.loads(self.state_path.read_text())["note"]
            return len(self._open(str(note)).witnesses)
        except (OSError, ValueError, KeyError, TypeError, ckpt.CheckpointError):
            return 0

    def _save(self, cp: ckpt.Checkpoint, note: str) -> None:
        state = {"origin": cp.origin, "size": cp.size, "root": b64(cp.root_hash), "note": note}
        write_file(self.state_path, (json.dumps(state, indent=2) + "\n").encode(), PUBLIC)

    def observe(self, note: str, proof: Sequence[bytes] | None) -> Observation:
        """Accept ``note`` only if it opens and extends the trusted checkpoint. ``proof``
        is the consistency proof between the two (from the smaller tree to the larger);
        None when none could be had. Then, with a maximum age, require it fresh."""
        try:
            opened = self._open(note)
        except (ckpt.CheckpointError, ValueError) as exc:
            raise AuditError(f"new checkpoint rejected: {exc}", code="bad_checkpoint") from exc
        seen = self._observe(opened, note, proof)
        if self.max_age is not None:  # "uncosigned" too: a quorum it never had is no fresher
            self._require_fresh(opened, self.max_age)
        return seen

    def _require_fresh(self, opened: ckpt.VerifiedCheckpoint, max_age: dt.timedelta) -> None:
        """LogStaleError unless a quorum of witnesses cosigned within ``max_age``, either
        side of this watcher's clock: a cosignature dated further ahead, by a wrong clock
        or a lie, would keep a frozen view fresh until that date."""
        now, limit = self.clock(), max_age.total_seconds()
        dated = [c.timestamp for c in opened.cosignatures]
        times = sorted((t for t in dated if t - now <= limit), reverse=True)
        if sum(now - t <= limit for t in times) >= self.quorum:
            return
        size = opened.checkpoint.size
        if len(times) < self.quorum:
            last = f"carries {len(times)} of the {self.quorum} cosignatures it needs"
        else:
            when = times[self.quorum - 1]  # the quorum's oldest, among the freshest
            at = dt.datetime.fromtimestamp(when, dt.UTC)
            ago = dt.timedelta(seconds=int(now - when))
            last = f"was last cosigned by {self.quorum} witness(es) at {at:%Y-%m-%dT%H:%M:%SZ}"
            last += f", {ago} ago"
        if ahead := len(dated) - len(times):
            last += f" ({ahead} more dated over {max_age} ahead of this watcher's clock)"
        raise LogStaleError(
            f"LOG STALE: the checkpoint of size {size} {last}, over the maximum age of "
            f"{max_age}: the log may be showing this watcher a frozen view, or its "
            "witnesses are down"
        )

    def _observe(
        self, opened: ckpt.VerifiedCheckpoint, note: str, proof: Sequence[bytes] | None
    ) -> Observation:
        new, cosigners = opened.checkpoint, opened.witnesses
        old = self.trusted()
        if old is not None and old.origin != new.origin:
            raise AuditError(
                f"monitor state {self.state_path} is of {old.origin}, not {new.origin}",
                code="bad_checkpoint",
            )
        root = b64(new.root_hash)
        if old is None:
            if len(cosigners) < self.quorum:
                return Observation("uncosigned", None, new.size, root, cosigners)
            self._save(new, note)
            return Observation("first", None, new.size, root, cosigners)
        if new.size < old.size:
            return self._behind(old, opened, proof)
        if new.size == old.size:
            if new.root_hash != old.root_hash:
                raise LogInconsistentError(
                    f"LOG FORKED: two different roots for tree size {new.size} "
                    f"(trusted {b64(old.root_hash)}, new {root})"
                )
            return Observation("unchanged", old.size, new.size, root, cosigners)
        _prefix(
            old,
            new,
            proof,
            f"LOG INCONSISTENT: checkpoint {new.size} does not extend the trusted "
            f"checkpoint {old.size}",
        )
        if len(cosigners) < self.quorum:
            return Observation("uncosigned", old.size, new.size, root, cosigners)
        self._save(new, note)
        return Observation("extended", old.size, new.size, root, cosigners)

    def _behind(
        self, old: ckpt.Checkpoint, opened: ckpt.VerifiedCheckpoint, proof: Sequence[bytes] | None
    ) -> Observation:
        """A checkpoint smaller than the trusted one. An honest log serves its latest
        witnessed checkpoint, which never shrinks: between witnessed ones it is a
        rollback. Before the witnesses' quorum, and for a watcher that trusted less, it
        is only late, if it is a prefix of the trusted tree: a smaller tree the log
        signed that is not is as much a fork as another root at the same size."""
        new, cosigners = opened.checkpoint, opened.witnesses
        witnessed = self.consortium_quorum
        if len(cosigners) >= witnessed and self._trusted_cosigners() >= witnessed:
            raise LogInconsistentError(
                f"LOG ROLLED BACK: new checkpoint has size {new.size}, "
                f"smaller than the trusted {old.size}"
            )
        root = b64(new.root_hash)
        if new.size and proof is None:
            return Observation("behind_unverified", old.size, new.size, root, cosigners)
        _prefix(
            new,
            old,
            proof,
            f"LOG FORKED: checkpoint {new.size} is no prefix of the trusted checkpoint "
            f"{old.size} (trusted {b64(old.root_hash)}, new {root})",
        )
        return Observation("behind", old.size, new.size, root, cosigners)

    def poll(self, source: CheckpointSource) -> Observation:
        """Fetch the latest checkpoint and a proof between it and the trusted one (from
        the smaller tree to the larger), then observe; one poll at a time on the state
        file, whatever process polls: another's new trusted head, saved between this
        one's proof and its observation, would make a sound proof look like a fork."""
        make_dirs(self.state_path.parent)
        # beside the state, which is replaced by renames: a hold on it would be on a file
        # no longer there
        with locked(self.state_path.with_name(self.state_path.name + ".lock")):
            note = source.latest_checkpoint()
            size = ckpt.Checkpoint.parse(Note.parse(note).text).size
            old = self.trusted()
            proof: list[bytes] | None = []
            if old is not None and 0 < old.size < size:
                proof = source.consistency_proof(old.size, size)
            elif old is not None and 0 < size < old.size:
                proof = _proof_back(source, size, old.size)
            return self.observe(note, proof)


def _prefix(
    smaller: ckpt.Checkpoint, larger: ckpt.Checkpoint, proof: Sequence[bytes] | None, fault: str
) -> None:
    """LogInconsistentError (``fault``, then why) unless ``proof`` shows the smaller tree
    a prefix of the larger; the empty tree is a prefix of every tree."""
    try:
        if smaller.size:
            verify_consistency(
                smaller.size, larger.size, proof or [], smaller.root_hash, larger.root_hash
            )
    except ProofError as exc:
        raise LogInconsistentError(f"{fault}: {exc}") from exc


def _proof_back(source: CheckpointSource, size: int, trusted: int) -> list[bytes] | None:
    """The proof that the tree of ``size`` is a prefix of the trusted one; None when the
    source cannot give it (a log that lags may not serve the larger tree yet)."""
    try:
        return source.consistency_proof(size, trusted)
    except (LedgerError, OSError):
        return None
