"""Read side of the embedded log: entries, proofs and checkpoints.

Proofs are assembled the transparency-dev way: `merkle` names the perfect
subtrees to fetch, this module fetches them, `merkle` folds them into a proof.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager

from sqlalchemy import Connection, Engine, func, select

from ledger_gw.embedded.database import READ_ONLY
from ledger_gw.embedded.driver import Driver
from ledger_gw.embedded.packing import unpack
from ledger_gw.embedded.schema import certificates, checkpoints, log, nodes, state, witnessed
from ledger_gw.errors import IntegrityError, LedgerError, NotFoundError
from ledger_gw.log.merkle import CompactRange, NodeID, consistency_nodes, inclusion_nodes
from ledger_gw.transaction import certificate_ref


def log_size(conn: Connection) -> int:
    return Driver(conn).log_size()


def node_hashes(conn: Connection, ids: Sequence[NodeID]) -> list[bytes]:
    """Hashes of perfect subtrees, by primary-key lookups (a proof needs about log2 n)."""
    driver = Driver(conn)
    found: list[bytes] = []
    for node in ids:
        h = driver.node_hash(node.level, node.index)
        if h is None:
            raise IntegrityError(f"tree node {node} is missing from storage")
        found.append(h)
    return found


def nodes_in_order(conn: Connection, ids: Sequence[NodeID]) -> list[bytes]:
    """`node_hashes` of many nodes that lie in a few runs per level (those a run of
    appends made): one range read per level rather than a lookup per node."""
    wanted: dict[int, list[int]] = {}
    for node in ids:
        wanted.setdefault(node.level, []).append(node.index)
    found: dict[tuple[int, int], bytes] = {}
    for level, indices in wanted.items():
        rows = conn.execute(
            select(nodes.c.idx, nodes.c.hash).where(
                nodes.c.level == level, nodes.c.idx.between(min(indices), max(indices))
            )
        )
        found.update(((level, idx), _hash(h)) for idx, h in rows if isinstance(idx, int))
    try:
        return [found[(node.level, node.index)] for node in ids]
    except KeyError as missing:
        level, index = missing.args[0]
        raise IntegrityError(f"tree node {NodeID(level, index)} is missing from storage") from None


def _hash(stored: object) -> bytes:
    """A stored node's hash; b"", which no hash is, for what is no bytes (a NULL, text)."""
    return bytes(stored) if isinstance(stored, bytes | memoryview) else b""


def _written(position: int, stored: object) -> bytes:
    """The entry written at ``position``, from its stored form; IntegrityError naming
    the position for a column that holds no stored form (a NULL, text, a number), as
    for one that does not inflate."""
    if not isinstance(stored, bytes | memoryview):
        raise IntegrityError(f"log entry {position} is not stored as bytes", position=position)
    try:
        return unpack(bytes(stored))
    except IntegrityError as exc:
        raise IntegrityError(f"log entry {position}: {exc}", position=position) from None


def stored_certificates(conn: Connection) -> dict[str, str]:
    """Every stored certificate by its reference, each row checked by hashing its PEM."""
    found: dict[str, str] = {}
    for ref, pem in conn.execute(select(certificates.c.ref, certificates.c.pem)):
        try:
            ok = isinstance(pem, str) and certificate_ref(pem) == ref
        except LedgerError:  # not a certificate at all
            ok = False
        if not ok:
            raise IntegrityError(
                f"stored certificate {str(ref)[:16]} is not the one its reference names"
            )
        found[str(ref)] = str(pem)
    return found


def stored_checkpoint(
    conn: Connection, size: int | None, *, for_update: bool = False
) -> tuple[int, str]:
    """The stored checkpoint for `size` (the latest when None): its size and its note.
    `for_update`: its row is this transaction's until it ends (PostgreSQL; SQLite's
    writer holds the whole database already)."""
    if size is not None and not 0 <= size < 1 << 63:  # beyond any log, and any SQL integer
        raise NotFoundError(f"no checkpoint at {size}")
    query = select(checkpoints.c.size, checkpoints.c.note)
    if for_update:
        query = query.with_for_update()
    if size is None:
        query = query.order_by(checkpoints.c.size.desc()).limit(1)
    else:
        query = query.where(checkpoints.c.size == size)
    row = conn.execute(query).first()
    if row is None:
        raise NotFoundError("no checkpoint yet" if size is None else f"no checkpoint at {size}")
    return int(row.size), str(row.note)


class LogReader:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _read(self) -> AbstractContextManager[Connection]:
        return self.engine.execution_options(**{READ_ONLY: True}).begin()

    def size(self) -> int:
        with self._read() as conn:
            return log_size(conn)

    def entry(self, index: int) -> bytes:
        with self._read() as conn:
            row = conn.execute(select(log.c.entry).where(log.c.seq == index)).first()
        if row is None:
            raise NotFoundError(f"no log entry at position {index}")
        return _written(index, row.entry)

    def certificates(self) -> dict[str, str]:
        """Every certificate that signed an entry, by reference (checked as read)."""
        with self._read() as conn:
            return stored_certificates(conn)

    def position_of(self, tx_id: str) -> int:
        try:
            key = bytes.fromhex(tx_id)
        except ValueError:
            raise NotFoundError(f"transaction {tx_id} is not in the log") from None
        with self._read() as conn:
            seq = conn.execute(select(log.c.seq).where(log.c.tx_id == key)).scalar()
        if seq is None:
            raise NotFoundError(f"transaction {tx_id} is not in the log")
        return int(seq)

    def entries(self, start: int = 0, chunk: int = 2000) -> Iterator[tuple[int, bytes]]:
        """Every entry from `start`, in order, without loading the log into memory."""
        position = start
        while True:
            with self._read() as conn:
                rows = conn.execute(
                    select(log.c.seq, log.c.entry)
                    .where(log.c.seq >= position)
                    .order_by(log.c.seq)
                    .limit(chunk)
                ).all()
            if not rows:
                return
            for seq, data in rows:
                yield int(seq), _written(seq, data)
            position = int(rows[-1][0]) + 1

    def state_value(self, key: bytes) -> bytes | None:
        """The current value of one world-state key."""
        with self._read() as conn:
            return Driver(conn).get_state(key)

    def written_at(self, prefix: bytes, below: int) -> list[int]:
        """Log positions below ``below`` of the last writes of the keys under ``prefix``
        (the world state's primary key answers the range), in log order."""
        with self._read() as conn:
            seqs = conn.execute(
                select(state.c.seq).where(
                    state.c.key >= prefix, state.c.key < prefix + b"\xff", state.c.seq < below
                )
            ).scalars()
            return sorted({int(s) for s in seqs})

    def entries_at(self, positions: Sequence[int]) -> list[tuple[int, bytes]]:
        """The entries at ``positions``, in log order."""
        with self._read() as conn:
            rows = conn.execute(
                select(log.c.seq, log.c.entry).where(log.c.seq.in_(positions)).order_by(log.c.seq)
            ).all()
        if [int(r.seq) for r in rows] != sorted(set(positions)):
            raise IntegrityError("the log lacks entries its world state names")
        return [(int(r.seq), _written(r.seq, r.entry)) for r in rows]

    def proven_entries(
        self, tx_ids: Sequence[str]
    ) -> tuple[str, dict[str, tuple[int, bytes, list[bytes]]]]:
        """The latest checkpoint's note, and the position, entry and inclusion proof to
        it of each transaction of ``tx_ids`` in the log, all read in one snapshot."""
        keys: dict[bytes, str] = {}
        for tx_id in tx_ids:
            try:
                keys[bytes.fromhex(tx_id)] = tx_id
            except ValueError:
                continue  # no transaction's ID: not in the log
        found: dict[str, tuple[int, bytes, list[bytes]]] = {}
        with self._read() as conn:
            size, note = stored_checkpoint(conn, None)
            rows = conn.execute(
                select(log.c.seq, log.c.tx_id, log.c.entry).where(log.c.tx_id.in_(list(keys)))
            )
            for seq, key, data in rows:
                plan = inclusion_nodes(int(seq), size)
                proof = plan.rehash(node_hashes(conn, plan.ids))
                found[keys[bytes(key)]] = (int(seq), _written(seq, data), proof)
        return note, found

    def _check_size(self, conn: Connection, size: int) -> None:
        current = log_size(conn)
        if not 0 < size <= current:
            raise NotFoundError(f"tree size {size} is outside 1..{current}")

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self._read() as conn:
            self._check_size(conn, size)
            if not 0 <= index < size:
                raise NotFoundError(f"leaf {index} is outside a tree of size {size}")
            plan = inclusion_nodes(index, size)
            return plan.rehash(node_hashes(conn, plan.ids))

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        with self._read() as conn:
            self._check_size(conn, size2)
            if not 0 < size1 <= size2:
                raise NotFoundError(f"cannot prove size {size1} consistent with size {size2}")
            plan = consistency_nodes(size1, size2)
            return plan.rehash(node_hashes(conn, plan.ids))

    def leaf_hash(self, index: int) -> bytes:
        with self._read() as conn:
            return node_hashes(conn, [NodeID(0, index)])[0]

    def checkpoint(self, size: int | None = None) -> str:
        """The node's signed note for `size` (the latest when None), with cosignatures."""
        return self.sized_checkpoint(size)[1]

    def sized_checkpoint(self, size: int | None = None) -> tuple[int, str]:
        """The checkpoint for `size` (the latest when None): its size and its note."""
        with self._read() as conn:
            return stored_checkpoint(conn, size)

    def latest_witnessed(self) -> tuple[int, str] | None:
        """The latest checkpoint recorded as witnessed (schema.witnessed), if any: its
        size and its note, which the caller verifies."""
        with self._read() as conn:
            row = conn.execute(
                select(checkpoints.c.size, checkpoints.c.note).where(
                    checkpoints.c.size == select(func.max(witnessed.c.size)).scalar_subquery()
                )
            ).first()
        return None if row is None else (int(row.size), str(row.note))

    def checkpoints_newest_first(
        self, above: int = 0, chunk: int = 500
    ) -> Iterator[tuple[int, str]]:
        """Every stored checkpoint of a size beyond `above`, newest first, a chunk at a
        time."""
        below: int | None = None
        while True:
            query = select(checkpoints.c.size, checkpoints.c.note).where(checkpoints.c.size > above)
            if below is not None:
                query = query.where(checkpoints.c.size < below)
            with self._read() as conn:
                rows = conn.execute(query.order_by(checkpoints.c.size.desc()).limit(chunk)).all()
            if not rows:
                return
            for size, note in rows:
                yield int(size), str(note)
            below = int(rows[-1][0])

    def border_hashes(self, size: int) -> list[bytes]:
        """The stored roots of the perfect subtrees covering ``[0, size)`` (a compact
        range's hashes): about log2 n lookups, where hashing the prefix reads it all."""
        with self._read() as conn:
            return node_hashes(conn, CompactRange.border_ids(size))

    def level_hashes(self, level: int, begin: int, end: int) -> list[bytes]:
        """Hashes of the perfect subtrees ``[begin, end)`` of one level, in one range read."""
        with self._read() as conn:
            rows = conn.execute(
                select(nodes.c.idx, nodes.c.hash)
                .where(nodes.c.level == level, nodes.c.idx >= begin, nodes.c.idx < end)
                .order_by(nodes.c.idx)
            ).all()
        if [int(r.idx) for r in rows] != list(range(begin, end)):
            raise NotFoundError(f"the tree has no nodes {begin}..{end - 1} at level {level}")
        return [bytes(r.hash) for r in rows]

    def entry_range(self, begin: int, end: int) -> list[bytes]:
        """The entries ``[begin, end)``, in one range read."""
        with self._read() as conn:
            rows = conn.execute(
                select(log.c.seq, log.c.entry)
                .where(log.c.seq >= begin, log.c.seq < end)
                .order_by(log.c.seq)
            ).all()
        if [int(r.seq) for r in rows] != list(range(begin, end)):
            raise NotFoundError(f"the log has no entries {begin}..{end - 1}")
        return [_written(r.seq, r.entry) for r in rows]
