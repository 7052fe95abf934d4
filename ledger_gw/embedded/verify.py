"""Full verification of an embedded ledger, trusting nothing but the consortium file.

Recomputes everything from the log: each entry's canonical form and signature (by
the certificate the entry names, each stored certificate hashed and named by some entry),
the contract's replay (same result, same writes, same events), the Merkle tree
node by node, every checkpoint's root and signatures, and finally the stored world
state (each current value, and what of its entry it quotes) against the replayed one.
The first discrepancy is reported with the log position it belongs to; a column that
holds what no ledger writes there (a NULL, text for bytes) is one like any other. An
SQLite file is first checked whole by SQLite itself (a torn page, an index that lost
rows), its damage reported with the file's name. What depends on one entry or one
checkpoint alone (inflating, form, signatures, leaf hash) is checked on a pool of
processes (:mod:`ledger_gw.embedded.verify_pool`) while this one replays in log order;
then the stored state is compared there too, a range of keys at a time.

The log must hold a checkpoint at its current size (every commit is covered by one at
once): an operator who deletes the newest checkpoints is caught. What witnesses
cosigned is the check from outside: given the checkpoint a witness last cosigned
(signed by the log's key, so the log cannot disown it), the log must not be behind it,
must hash to its root at its size, and must still hold that checkpoint. Even without
a witness's state, the consortium file's ``witness_quorum`` is a check
(:func:`require_witnessed`): some checkpoint must carry that many of its witnesses'
cosignatures, else the log is its key's word alone, which its operator could give for
any history. The newest entries wait for their cosignatures, so the size the quorum
vouches for (``witnessed_size``) is reported, not required to be the log's: a history
rewritten from position k is witnessed up to k at most.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, func, make_url, select
from sqlalchemy.exc import DBAPIError

from chaincode.contract import WRITE_FUNCTIONS, invoke
from chaincode.errors import ContractError
from ledger_gw.consortium import Consortium
from ledger_gw.embedded.database import READ_ONLY, reading_engine
from ledger_gw.embedded.ledger import ORDER_SLACK
from ledger_gw.embedded.reader import nodes_in_order, stored_certificates
from ledger_gw.embedded.replay import Scratch, ScratchView, StateRow, state_rows
from ledger_gw.embedded.schema import checkpoints, log, nodes, state
from ledger_gw.embedded.state_check import Range, StoredRow
from ledger_gw.embedded.stub import StateView, TxStub
from ledger_gw.embedded.verify_pool import Checker, Checks, Logged, Opened
from ledger_gw.errors import ConfigError, IntegrityError, UnavailableError
from ledger_gw.identity import ROTATION_SLACK
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.entry import effects_digest
from ledger_gw.log.merkle import CompactRange, NodeID, leaf_hash
from ledger_gw.machine import usable_cores

# Entries the pool checks, and state rows it compares, at a time. The replay waits for
# the first chunk's checks: small chunks let it start at once (at 20,000 entries 500
# verify 13% faster than 2,000, at 100,000 and 1,000,000 as fast or faster).
_CHUNK = 500
_Row = tuple[int, bytes, str, str]  # a log row: position, stored entry, transaction ID, time

#: Told, as a run goes, its step, how far the step is and where it ends: the log's
#: entries, then the stored state's keys (as many as the replay left, if the ledger holds).
Progress = Callable[[str, int, int], None]
ENTRIES, STATE_KEYS = "entries", "state keys"


@dataclass(frozen=True)
class VerifyReport:
    size: int
    root: bytes
    checkpoints: int
    cosignatures: int
    state_keys: int
    # The largest size whose checkpoint the consortium's witness quorum cosigned (every
    # checkpoint's, with a quorum of 0).
    witnessed_size: int


def _fail(position: int, message: str) -> IntegrityError:
    return IntegrityError(f"position {position}: {message}", position=position)


class _Replay:
    """Re-executes the log in order into a scratch database (embedded.replay)."""

    def __init__(self) -> None:
        self.scratch = Scratch()
        self.tree = CompactRange()
        self.checkpoint_sizes: set[int] = set()  # where the chunk being replayed needs roots
        self.roots: dict[int, bytes] = {}  # recomputed roots at those sizes, until judged
        self.signers: set[str] = set()  # references the entries replayed so far name
        self.latest: dt.datetime | None = None  # the latest time an entry so far states

    def close(self) -> None:
        self.scratch.close()

    def chunk(
        self, conn: Connection, batch: list[_Row], checks: Checks
    ) -> list[tuple[int, NodeID, bytes]]:
        view = ScratchView(conn)
        produced: list[tuple[int, NodeID, bytes]] = []
        tx_ids: list[bytes] = []
        rows: dict[bytes, StateRow] = {}
        for offset, (position, _, tx_id, timestamp) in enumerate(batch):
            if position != self.tree.size:
                raise _fail(self.tree.size, "entry missing from the log")
            if offset in checks.malformed:
                raise _fail(position, checks.malformed[offset])
            logged = checks.logged[offset]
            self.signers.add(logged.creator)
            if (tx_id, timestamp) != (logged.tx_id, logged.timestamp):
                raise _fail(position, "stored transaction ID or time does not match the entry")
            self._in_time(position, logged)
            stub, replayed = self._execute(position, view, logged, checks.unsigned.get(offset))
            if replayed != logged.result:
                raise _fail(position, "replayed result differs from the logged result")
            writes = tuple(sorted(stub.writes.items()))
            if effects_digest(writes, stub.events) != logged.effects:
                raise _fail(position, "replayed writes or events differ from the logged ones")
            new_nodes = self.tree.append(checks.leaves[offset])
            produced.extend((position, node_id, h) for node_id, h in new_nodes)
            if self.tree.size in self.checkpoint_sizes:
                self.roots[self.tree.size] = self.tree.root()
            tx_ids.append(bytes.fromhex(tx_id))
            state_rows(position, checks.entries[offset], writes, (replayed, *logged.args), rows)
            view.apply(stub.writes)
        try:
            view.reads.write(tx_ids, rows)
        except Exception as exc:  # a repeated transaction ID
            raise _fail(batch[0][0], f"log entries repeat a transaction: {exc}") from exc
        return produced

    def _in_time(self, position: int, logged: Logged) -> None:
        """A ledger never logs a rotated-out key's transaction dated over ORDER_SLACK
        before an entry it logged earlier, nor one dated after the key's rotation (within
        ROTATION_SLACK) once the member's next key has signed. The times a signing key's
        period is judged by are then pinned to the log's order: an entry that a retired
        key dates back before its rotation, appended after entries that came later, or
        dates just after it, appended after the new key's first entry, fails here,
        however valid its signature."""
        at = logged.time
        if logged.late_for & self.signers:
            raise _fail(
                position,
                f"a rotated-out key's entry dated {at:%Y-%m-%dT%H:%M:%SZ}, after its rotation, "
                "logged after an entry of the member's next key: no ledger took it then",
            )
        if logged.rotated_out and self.latest is not None and at < self.latest - ORDER_SLACK:
            raise _fail(
                position,
                f"a rotated-out key's entry dated {at:%Y-%m-%dT%H:%M:%SZ}, over {ORDER_SLACK} "
                f"before one logged earlier ({self.latest:%Y-%m-%dT%H:%M:%SZ}): no ledger took "
                "it then",
            )
        self.latest = at if self.latest is None else max(self.latest, at)

    def _execute(
        self, position: int, view: StateView, logged: Logged, unsigned: str | None
    ) -> tuple[TxStub, bytes]:
        if logged.function not in WRITE_FUNCTIONS:
            raise _fail(position, f"{logged.function!r} is not a write function")
        if logged.identity is None:  # its certificate or signature fails
            raise _fail(position, f"signature check failed: {unsigned}")
        stub = TxStub(view, logged.identity, logged.tx_id, logged.time)
        try:
            return stub, invoke(stub, logged.function, logged.args)
        except ContractError as exc:
            raise _fail(position, f"the contract rejects this transaction: {exc}") from exc


_STORED_STATE = select(
    state.c.key, state.c.seq, state.c.value, state.c.quote_at, state.c.quote_from, state.c.quote_len
).order_by(state.c.key)


def _compare(
    stored: Connection,
    checker: Checker,
    scratch: str,
    chunk: int,
    compared_so_far: Callable[[int], None],
) -> int:
    """Row by row, in key order, ``chunk`` rows at a time (embedded.state_check)."""
    count = 0
    # Streamed (a server-side cursor on PostgreSQL): closed, even on a mismatch.
    with closing(stored.execute(_STORED_STATE.execution_options(yield_per=_CHUNK))) as mine:
        for compared in checker.compare(_ranges(mine.partitions(chunk), scratch)):
            count += compared.rows
            compared_so_far(count)
            if compared.failure is not None:
                position, message = compared.failure
                if position is None:
                    raise IntegrityError(message)
                raise _fail(position, message)
    return count


def _ranges(parts: Iterable[Sequence[Sequence[Any]]], scratch: str) -> Iterator[Range]:
    """The stored rows in ranges of keys, the last reaching past the last stored key."""
    low: bytes | None = None
    for part in parts:
        rows = [_stored_row(*row) for row in part]
        yield Range(scratch, low, rows[-1][0], rows)
        low = rows[-1][0]
    yield Range(scratch, low, None, [])


def _stored_row(key: Any, seq: Any, value: Any, at: Any, start: Any, length: Any) -> StoredRow:
    """A stored row as compared, whatever its columns hold: what no ledger writes there
    (a NULL, text for bytes, a seq that is no integer) matches no replayed row, and is
    reported in key order like any other difference. SQLite sorts a key that is no
    bytes before every key that is: here it is the least bytes, b""."""
    return _blob(key), seq if isinstance(seq, int) else None, _blob(value), at, start, length


def _blob(value: object) -> bytes:
    """A column of bytes as read; what is no bytes (a NULL, text, a number) as b"", which
    no stored entry, value or key is."""
    return bytes(value) if isinstance(value, bytes | memoryview) else b""


class _Checkpoints:
    """Each stored checkpoint judged once its chunk has replayed; the first failure in
    size order is raised at the end, where a pass over them all in that order would."""

    def __init__(self, origin: str, quorum: int) -> None:
        self.origin = origin
        self.quorum = quorum
        self.count = self.cosigned = self.witnessed = 0
        self.failure: IntegrityError | None = None

    def judge(
        self, notes: list[tuple[int, str]], verdicts: list[Opened | str], roots: dict[int, bytes]
    ) -> None:
        for (size, _), verdict in zip(notes, verdicts, strict=True):
            failure = self._failure(size, verdict, roots)
            if failure is None:
                assert isinstance(verdict, Opened)
                self.count += 1
                self.cosigned += verdict.cosignatures
                if verdict.cosignatures >= self.quorum:
                    self.witnessed = max(self.witnessed, size)
            elif self.failure is None or size - 1 < (self.failure.position or 0):
                self.failure = failure

    def _failure(
        self, size: int, verdict: Opened | str, roots: dict[int, bytes]
    ) -> IntegrityError | None:
        if isinstance(verdict, str):
            return _fail(size - 1, f"checkpoint {size} does not verify: {verdict}")
        if verdict.origin != self.origin or verdict.size != size:
            return _fail(size - 1, f"checkpoint {size} names another log or size")
        if roots.get(size) != verdict.root:
            return _fail(size - 1, f"checkpoint {size} root does not match the log")
        return None

    def verdict(self) -> tuple[int, int, int]:
        if self.failure is not None:
            raise self.failure
        return self.count, self.cosigned, self.witnessed


def _witnessed(consortium: Consortium, notes: Mapping[str, str]) -> dict[str, ckpt.Checkpoint]:
    """Each witness's checkpoint, named by the witness keys whose cosignatures on it
    verify (and the caller's label), once the log's signature and at least one
    cosignature by a witness the consortium lists verify: a note the log signed alone
    is the operator's word, which it could give for any history."""
    log_verifier = ckpt.NoteVerifier.from_vkey(consortium.log_vkey)
    witnesses = consortium.witness_verifiers()
    if notes and not witnesses:
        raise ConfigError(
            f"consortium {consortium.name} lists no witness: no witness's checkpoint "
            "can be checked against it"
        )
    out = {}
    for label, note in notes.items():
        try:
            opened = ckpt.open_checkpoint(
                note, log_verifier, witnesses, 1, origin=consortium.origin
            )
        except ckpt.CheckpointError as exc:
            raise IntegrityError(
                f"{label}: its checkpoint is not one this log signed and a witness of "
                f"consortium {consortium.name} cosigned: {exc}",
                code="bad_witness_checkpoint",
            ) from exc
        out[f"{' and '.join(opened.witnesses)} ({label})"] = opened.checkpoint
    return out


def _held(stored: Connection, sizes: set[int]) -> set[int]:
    """Which of ``sizes`` the log holds a checkpoint at."""
    found = stored.execute(select(checkpoints.c.size).where(checkpoints.c.size.in_(sizes)))
    return {int(s) for s in found.scalars()}


def _snapshot(engine: Engine) -> Engine:
    """Reads that all see one committed state. SQLite's read transaction is one already;
    PostgreSQL's default (read committed) would show verify an append that commits
    halfway through, and call an honest, live ledger broken."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    return engine.execution_options(**{READ_ONLY: True})


def _check_storage(stored: Connection, where: str) -> None:
    """SQLite's own check of the whole file, in the snapshot verified, before any row is
    judged: a torn or zeroed page, an index that lost rows, a page no read of rows
    reaches (an index's: the log is read by position, never by transaction ID) would
    otherwise pass, or end in a row no ledger writes. It reads the file once, a small
    part of a verification's cost."""
    if stored.dialect.name != "sqlite":
        return
    said = str(stored.exec_driver_sql("PRAGMA integrity_check(1)").scalar())
    if said != "ok":
        first = next((line for line in said.splitlines() if not line.startswith("***")), said)
        raise UnavailableError(f"the database cannot be used: {where} is damaged: {first}")


def _shown(engine: Engine | str) -> str:
    """The database verified, as a message names it: an SQLite file by its path, else
    its URL, the password hidden."""
    url = make_url(engine) if isinstance(engine, str) else engine.url
    if url.get_backend_name() == "sqlite" and url.database:
        return url.database
    return url.render_as_string(hide_password=True)


def _named(stored: Connection, shown: str) -> str:
    """The SQLite file ``stored`` reads, which a read-only engine's URL does not name;
    else ``shown``."""
    if stored.dialect.name == "sqlite":
        for _, name, path in stored.exec_driver_sql("PRAGMA database_list"):
            if name == "main" and path:
                return str(path)
    return shown


def _log_size(stored: Connection) -> int:
    """The log's size, its highest position plus one: read as the other rows are, so
    that a database that fails here is named (the driver's read would not name it)."""
    last = stored.execute(select(func.max(log.c.seq))).scalar()
    return 0 if last is None else int(last) + 1


def _check_rows(stored: Connection, size: int) -> None:
    """Exactly the positions 0 to size - 1: the size is the highest position's, so a
    row below 0 would otherwise stand in the log unread (and answer for its ID)."""
    count, lowest = stored.execute(select(func.count(), func.min(log.c.seq))).one()
    if count != size or (size and lowest != 0):
        raise IntegrityError(
            f"the log holds {count} rows from position {lowest}, not positions 0 to {size - 1}",
            code="log_rows_forged",
        )


def _check_coverage(stored: Connection, size: int) -> None:
    if size and not _held(stored, {size}):
        below = select(func.max(checkpoints.c.size)).where(checkpoints.c.size < size)
        latest = stored.execute(below).scalar_one_or_none()
        raise IntegrityError(
            f"no checkpoint covers the log's {size} entries (the latest is at size {latest}): "
            "checkpoints were deleted or never written",
            code="missing_checkpoint",
            position=size - 1,
        )


def _check_not_behind(size: int, witnessed: Mapping[str, ckpt.Checkpoint]) -> None:
    for name, cp in witnessed.items():
        if cp.size > size:
            raise IntegrityError(
                f"the log has {size} entries, behind the checkpoint of size {cp.size} that "
                f"{name} cosigned: it was rolled back",
                code="log_behind_witness",
                position=size,
            )


def _check_witnessed(
    witnessed: Mapping[str, ckpt.Checkpoint], roots: dict[int, bytes], stored_sizes: set[int]
) -> None:
    for name, cp in witnessed.items():
        if cp.size and roots.get(cp.size) != cp.root_hash:
            raise IntegrityError(
                f"the log at size {cp.size} does not hash to the root {name} cosigned: "
                "it was rewritten (a fork)",
                code="log_inconsistent",
                position=cp.size - 1,
            )
        if cp.size and cp.size not in stored_sizes:
            raise IntegrityError(
                f"the checkpoint of size {cp.size} that {name} cosigned is missing from the log",
                code="missing_checkpoint",
                position=cp.size - 1,
            )


def verify_ledger(
    engine: Engine | str,
    consortium: Consortium,
    progress: Progress | None = None,
    witnessed: Mapping[str, str] | None = None,
    *,
    workers: int | None = None,
    chunk: int = _CHUNK,
) -> VerifyReport:
    """Verify everything in one read snapshot, so a live ledger can be checked too.

    ``witnessed`` names, by who says so, the checkpoint notes witnesses last cosigned.
    Entries' signatures are checked on ``workers`` processes (default: one per core
    this process may run on), ``chunk`` entries at a time, then the stored state
    ``chunk`` rows at a time; ``workers=1`` checks them in this process. ``progress``
    hears how far each step is. How far the witness quorum vouches for the log is
    reported (``witnessed_size``), not required: a log never shown to its witnesses (a
    test's, a benchmark's) verifies with 0. An auditor also calls
    :func:`require_witnessed`, as ``ledger-gw verify`` does.
    """
    witness_cps = _witnessed(consortium, witnessed or {})
    tell = progress or (lambda step, done, total: None)
    owned = isinstance(engine, str)
    source = reading_engine(engine) if isinstance(engine, str) else engine
    replay = _Replay()
    checker: Checker | None = None
    where = _shown(engine)
    try:
        with (
            _snapshot(source).begin() as stored,
            replay.scratch.engine.connect() as replayed,
        ):
            where = _named(stored, where)
            replayed.begin()
            _check_storage(stored, where)
            size = _log_size(stored)
            witness_sizes = {cp.size for cp in witness_cps.values()}
            _check_not_behind(size, witness_cps)
            chunks = -(-size // chunk)
            certificates = stored_certificates(stored)
            workers = max(1, min(workers or usable_cores(), chunks))
            checker = Checker(consortium, certificates, workers, ROTATION_SLACK)
            judged = _Checkpoints(consortium.origin, consortium.witness_quorum)
            for (start, batch, notes), checks in checker.map(_chunks(stored, size, chunk), _work):
                if start < size and not batch:  # a row far past the others made the size
                    raise _fail(replay.tree.size, "entry missing from the log")
                replay.checkpoint_sizes = witness_sizes | {s for s, _ in notes}
                _verify_chunk(stored, replayed, replay, batch, checks)
                judged.judge(notes, checks.checkpoints, replay.roots)
                for judged_size in {s for s, _ in notes} - witness_sizes:
                    replay.roots.pop(judged_size, None)  # memory stays flat
                tell(ENTRIES, min(start + chunk, size), size)
            if replay.tree.size != size:
                raise _fail(replay.tree.size, "the log has a gap")
            _check_rows(stored, size)
            _check_witnessed(witness_cps, replay.roots, _held(stored, witness_sizes))
            _check_coverage(stored, size)
            if replay.signers != set(certificates):
                raise IntegrityError("the log holds certificates that sign no entry")
            n_nodes = stored.execute(select(func.count()).select_from(nodes)).scalar_one()
            if n_nodes != 2 * size - size.bit_count():
                raise IntegrityError("the tree has nodes that no log entry explains")
            keys = replay.scratch.keys(replayed)
            replayed.commit()  # the ranges read it from other processes
            state_keys = _compare(
                stored, checker, replay.scratch.path, chunk, lambda n: tell(STATE_KEYS, n, keys)
            )
            count, cosigned, witnessed_size = judged.verdict()
    except DBAPIError as exc:  # not a database, a table missing, a column unreadable
        said = str(exc.orig).strip().splitlines() or ["failed"]
        raise UnavailableError(f"the database cannot be used: {where}: {said[0]}") from exc
    finally:
        if checker is not None:
            checker.close()
        replay.close()
        if owned:
            source.dispose()
    return VerifyReport(size, replay.tree.root(), count, cosigned, state_keys, witnessed_size)


def require_witnessed(report: VerifyReport, consortium: Consortium) -> VerifyReport:
    """``report``, if some checkpoint of a non-empty log carries ``consortium``'s witness
    quorum (the one verified with: a quorum of 0 witnesses every checkpoint); else the
    log is its key's word alone, which its operator could give for any history."""
    if report.size and not report.witnessed_size:
        raise IntegrityError(
            f"no checkpoint of the log's {report.size} entries carries the cosignatures of "
            f"{consortium.witness_quorum} of consortium {consortium.name}'s witnesses: "
            "it is the log key's word alone, which could sign any history",
            code="not_witnessed",
        )
    return report


def _batch(stored: Connection, start: int, end: int) -> list[_Row]:
    rows = stored.execute(
        select(log.c.seq, log.c.entry, log.c.tx_id, log.c.timestamp)
        .where(log.c.seq >= start, log.c.seq < end)
        .order_by(log.c.seq)
    )
    return [(int(p), _blob(d), _hex(tx_id), ts) for p, d, tx_id, ts in rows]


def _hex(tx_id: object) -> str:
    """A stored transaction ID as the entry spells it; what is no bytes matches none."""
    return bytes(tx_id).hex() if isinstance(tx_id, bytes | memoryview) else ""


_Chunk = tuple[int, list[_Row], list[tuple[int, str]]]  # first position, rows, checkpoints


def _chunks(stored: Connection, size: int, chunk: int) -> Iterator[_Chunk]:
    """The log in chunks, each with the stored checkpoints of the sizes it reaches; then
    the checkpoints of sizes no entry reaches, which no log root can match."""
    for start in range(0, size, chunk):
        end = min(start + chunk, size)
        yield (
            start,
            _batch(stored, start, end),
            _notes(stored, (checkpoints.c.size > start) & (checkpoints.c.size <= end)),
        )
    yield size, [], _notes(stored, (checkpoints.c.size <= 0) | (checkpoints.c.size > size))


def _notes(stored: Connection, where: ColumnElement[bool]) -> list[tuple[int, str]]:
    rows = stored.execute(
        select(checkpoints.c.size, checkpoints.c.note).where(where).order_by(checkpoints.c.size)
    )
    return [(int(size), str(note)) for size, note in rows]


def _work(chunk: _Chunk) -> tuple[list[bytes], list[str]]:
    return [data for _, data, _, _ in chunk[1]], [note for _, note in chunk[2]]


def _verify_chunk(
    stored: Connection, replayed: Connection, replay: _Replay, batch: list[_Row], checks: Checks
) -> None:
    if not batch:
        return
    first = batch[0][0]
    try:
        produced = replay.chunk(replayed, batch, checks)
    except IntegrityError as exc:
        # Entries moved within the log replay fine until a later one fails: an earlier
        # leaf that differs from the stored tree is the first bad position.
        earlier = _first_bad_leaf(stored, batch, checks.entries, exc.position)
        if earlier is not None:
            raise earlier from exc
        raise
    try:
        found = nodes_in_order(stored, [node_id for _, node_id, _ in produced])
    except IntegrityError as exc:
        raise _fail(first, str(exc)) from exc
    for (position, node_id, h), stored_hash in zip(produced, found, strict=True):
        if h != stored_hash:
            raise _fail(position, f"stored tree node {node_id} differs from the recomputed one")


def _first_bad_leaf(
    stored: Connection, batch: list[_Row], entries: list[bytes], before: int | None
) -> IntegrityError | None:
    earlier = [
        (row[0], data)
        for row, data in zip(batch, entries, strict=True)
        if before is not None and row[0] < before
    ]
    try:
        found = nodes_in_order(stored, [NodeID(0, p) for p, _ in earlier])
    except IntegrityError:
        return None
    for (position, data), stored_hash in zip(earlier, found, strict=True):
        if leaf_hash(data) != stored_hash:
            return _fail(position, "the entry's leaf hash differs from the stored tree")
    return None
