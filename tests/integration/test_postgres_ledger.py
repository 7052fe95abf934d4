"""The embedded ledger on a real PostgreSQL: the same code, the same guarantees.

One linear log from threads and from processes (optimistic appends, refused on a
stale head and made again under an advisory lock, stand in for SQLite's write lock),
idempotent replays, proofs against signed checkpoints, and a full verification; and
tampering is caught the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from ledger_gw.client import OrgClient
from ledger_gw.embedded import ledger as ledger_module
from ledger_gw.embedded import simulation, witnessing
from ledger_gw.embedded.database import appending_connection, lock_for_append
from ledger_gw.embedded.driver import Driver, Rows
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.stub import TxStub
from ledger_gw.embedded.verify import verify_ledger
from ledger_gw.embedded.witnessing import Cosigner, endpoints
from ledger_gw.errors import IntegrityError
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.merkle import leaf_hash, verify_consistency, verify_inclusion
from ledger_gw.transaction import SignedTransaction, sign_proposal
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.witnesses import TestWitnesses
from tests.support.writer import parse_ack, start

pytestmark = pytest.mark.slow


@pytest.fixture
def pg_ledger_url(pg_database: Callable[..., str]) -> str:
    return pg_database()


@pytest.fixture
def pg_ledger(workspace: Workspace, pg_ledger_url: str) -> Iterator[EmbeddedLedger]:
    ledger = EmbeddedLedger(pg_ledger_url, workspace.consortium, workspace.log_signer())
    yield ledger
    ledger.close()


def _decides_as_on_sqlite(workspace: Workspace, pg: EmbeddedLedger, tmp_path: Path) -> None:
    """The story in two batches, the second depending on the first, repeating
    transactions of both and with a refusal: the same answers and positions as SQLite's."""
    sqlite = EmbeddedLedger(
        f"sqlite:///{tmp_path / 'ledger.db'}", workspace.consortium, workspace.log_signer()
    )
    txs = [sign_proposal(workspace.signer(org), "submit", [e]) for org, e in ev.story()]
    half = len(txs) // 2
    refused = sign_proposal(workspace.signer("AGENCY-B"), "submit", [ev.story()[1][1]])
    batches = [txs[:half], [*txs[half:], txs[0], txs[-1], txs[-1], refused]]
    try:
        for batch in batches:
            got = pg.submit_many(batch)
            want = sqlite.submit_many(batch)
            assert [(o.result, o.error and o.error.code, o.position) for o in got] == [
                (o.result, o.error and o.error.code, o.position) for o in want
            ]
        assert any(o.error is not None for o in got)
    finally:
        sqlite.close()
    assert verify_ledger(pg.engine, workspace.consortium).size == len(txs)


def test_batches_decide_as_on_sqlite(
    workspace: Workspace, pg_ledger: EmbeddedLedger, tmp_path: Path
) -> None:
    """On PostgreSQL what the transactions read first comes with the log's head, the
    rest one key at a time: each transaction gets what it gets on SQLite."""
    _decides_as_on_sqlite(workspace, pg_ledger, tmp_path)


def test_what_a_transaction_reads_first_comes_with_the_head(
    workspace: Workspace, pg_ledger: EmbeddedLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a database server every other read is a round trip: a grant reads nothing
    more, a closing step only her index of open entitlements (named by the entitlement
    it reads first)."""
    reads: list[bytes] = []
    get_state = Driver.get_state

    def counted(self: Driver, key: bytes) -> bytes | None:
        reads.append(key)
        return get_state(self, key)

    monkeypatch.setattr(Driver, "get_state", counted)
    client = OrgClient(pg_ledger, workspace.signer("AGENCY-A"))
    granted = ev.entitlement_granted(ev.pid())
    client.submit(granted)
    assert reads == []
    client.submit(ev.entitlement_step("closed", granted["entitlement_id"]))
    assert len(reads) == 1
    assert b"entitlement" in reads[0]
    assert granted["pid"].encode() in reads[0]


def test_a_contract_failing_to_name_its_first_reads_sinks_no_batch(
    workspace: Workspace, pg_ledger: EmbeddedLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Naming the first reads runs the contract's parsing before the batch's turn: a bug
    there costs the round trip it would have saved, not the batch."""

    def broken(*_: object) -> list[str]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(simulation, "keys_read_first", broken)
    client = OrgClient(pg_ledger, workspace.signer("AGENCY-A"))
    outcomes = client.submit_many([ev.entitlement_granted(ev.pid()) for _ in range(3)])
    assert all(o.error is None for o in outcomes)
    assert pg_ledger.size() == 3


def test_a_signers_certificate_is_sent_once_per_writer(
    workspace: Workspace,
    pg_ledger: EmbeddedLedger,
    pg_ledger_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An entry names its signer's certificate by reference: once a writer has committed
    it, its later appends do not send it again; a new writer does, harmlessly, once."""
    sent: list[set[str]] = []
    append = Driver.append

    def watched(self: Driver, rows: Rows, checkpoint: tuple[int, str]) -> None:
        sent.append(set(rows.certificates))
        append(self, rows, checkpoint)

    monkeypatch.setattr(Driver, "append", watched)
    a, b = (OrgClient(pg_ledger, workspace.signer(org)) for org in ("AGENCY-A", "AGENCY-B"))
    for client, i in ((a, 1), (a, 2), (b, 3), (a, 4), (b, 7)):
        client.submit(ev.independent(i))
    assert [len(refs) for refs in sent] == [1, 0, 1, 0, 0]
    again = EmbeddedLedger(pg_ledger_url, workspace.consortium, workspace.log_signer())
    try:
        OrgClient(again, workspace.signer("AGENCY-A")).submit(ev.independent(6))
    finally:
        again.close()
    assert sent[-1] == sent[0]
    with pg_ledger.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM certificates")).scalar_one() == 2
    assert verify_ledger(pg_ledger.engine, workspace.consortium).size == 6


def test_story_replays_and_verifies(workspace: Workspace, pg_ledger: EmbeddedLedger) -> None:
    for org, event in ev.story():
        OrgClient(pg_ledger, workspace.signer(org)).submit(event)
    size = pg_ledger.size()
    a = OrgClient(pg_ledger, workspace.signer("AGENCY-A"))
    first = ev.story()[0][1]
    a.submit(first)
    assert a.submit(first) == a.submit(first)  # an idempotent replay appends nothing
    assert pg_ledger.size() == size + 1
    report = verify_ledger(pg_ledger.engine, workspace.consortium)
    assert report.size == size + 1
    note = pg_ledger.log.checkpoint()
    cp = ckpt.open_checkpoint(note, ckpt.NoteVerifier.from_vkey(workspace.consortium.log_vkey))
    root = cp.checkpoint.root_hash
    for i in range(report.size):
        proof = pg_ledger.log.inclusion_proof(i, report.size)
        verify_inclusion(leaf_hash(pg_ledger.log.entry(i)), i, report.size, proof, root)
    old = ckpt.open_checkpoint(
        pg_ledger.log.checkpoint(3), ckpt.NoteVerifier.from_vkey(workspace.consortium.log_vkey)
    )
    proof = pg_ledger.log.consistency_proof(3, report.size)
    verify_consistency(3, report.size, proof, old.checkpoint.root_hash, root)


def test_threads_and_processes_make_one_log(
    workspace: Workspace, pg_ledger: EmbeddedLedger, pg_ledger_url: str
) -> None:
    writers = [start(workspace.root, pg_ledger_url, 60, seed) for seed in (1, 2)]
    a = OrgClient(pg_ledger, workspace.signer("AGENCY-A"))
    threads = [
        threading.Thread(
            target=lambda i=i: [a.submit(ev.independent(i * 100 + j)) for j in range(20)]
        )
        for i in range(4)
    ]
    for t in threads:
        t.start()
    acked: dict[str, int] = {}
    for proc in writers:
        with proc:  # closes the pipe
            assert proc.stdout is not None
            for line in proc.stdout:
                ack = parse_ack(line)
                if ack is not None:
                    acked[ack[0]] = ack[1]
        assert proc.returncode == 0
    for t in threads:
        t.join()
    assert len(acked) == 120
    assert pg_ledger.size() == 120 + 80
    for tx_id, position in acked.items():
        assert pg_ledger.log.position_of(tx_id) == position
    assert verify_ledger(pg_ledger.engine, workspace.consortium).size == 200


def test_an_append_on_a_stale_head_writes_nothing_and_lands_under_the_lock(
    workspace: Workspace,
    pg_ledger: EmbeddedLedger,
    pg_ledger_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No lock is held between reading the head and appending: another process's append
    in between makes the head stale. The log's positions refuse the append whole (its
    rows, its state, its checkpoint), and it is made again on the new head, holding the
    lock: both land, one log, and the writer's tree head in memory follows."""
    other = EmbeddedLedger(pg_ledger_url, workspace.consortium, workspace.log_signer())
    signer = workspace.signer("AGENCY-A")
    mine, theirs, after = (sign_proposal(signer, "submit", [ev.independent(i)]) for i in range(3))
    runs: list[str] = []
    execute = ledger_module.execute

    def overtaken(stub: TxStub, tx: SignedTransaction) -> simulation.Execution:
        runs.append(tx.tx_id)
        if runs == [mine.tx_id]:  # its head is read: the other appends now
            (outcome,) = other.submit_many([theirs])
            assert outcome.position == 0
        return execute(stub, tx)

    monkeypatch.setattr(ledger_module, "execute", overtaken)
    try:
        (outcome,) = pg_ledger.submit_many([mine])
    finally:
        other.close()
    assert (outcome.error, outcome.position) == (None, 1)
    assert runs == [mine.tx_id, theirs.tx_id, mine.tx_id]  # once stale, once locked
    with pg_ledger.engine.connect() as conn:
        sizes = conn.execute(text("SELECT size FROM checkpoints ORDER BY size")).all()
    assert sizes == [(1,), (2,)]
    assert pg_ledger.submit_many([after])[0].position == 2
    assert pg_ledger.log.position_of(theirs.tx_id) == 0
    assert verify_ledger(pg_ledger.engine, workspace.consortium).size == 3


def test_no_append_writes_while_the_lock_is_held(
    workspace: Workspace, pg_ledger: EmbeddedLedger
) -> None:
    """An appender that holds the lock (one whose head went stale, appending again) is
    not overtaken: an optimistic append waits for it before it writes anything."""
    tx = sign_proposal(workspace.signer("AGENCY-A"), "submit", [ev.independent(1)])
    outcomes: list[object] = []
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
    )
    with pg_ledger.engine.begin() as holder:
        lock_for_append(holder)
        appender = threading.Thread(target=lambda: outcomes.extend(pg_ledger.submit_many([tx])))
        appender.start()
        with pg_ledger.engine.connect() as watcher:
            deadline = time.monotonic() + 30
            while watcher.execute(waiting).scalar_one() == 0:
                assert time.monotonic() < deadline, "the append never waited for the lock"
                time.sleep(0.02)
                watcher.rollback()  # a fresh snapshot of the activity
            assert pg_ledger.size() == 0
        assert not outcomes
    appender.join(30)
    assert [(o.error, o.position) for o in outcomes] == [(None, 0)]  # type: ignore[attr-defined]


def test_a_cosignature_being_stored_holds_up_no_append_and_loses_no_other(
    workspace: Workspace,
    pg_ledger: EmbeddedLedger,
    witnesses: TestWitnesses,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Witnesses' cosignatures of one checkpoint land in its row, which a cosigner locks
    while it adds its own: the log's appends go on meanwhile, and a second witness's
    cosignature waits for the row and is kept beside the first."""
    client = OrgClient(pg_ledger, workspace.signer("AGENCY-A"))
    client.submit(ev.independent(1))
    cosigner = Cosigner(pg_ledger.engine, workspace.consortium)
    size, note = cosigner.latest()
    first, second = endpoints(workspace.consortium)
    storing, release = threading.Event(), threading.Event()
    attach = witnessing.attach

    def held(*args: Any) -> str:
        if not storing.is_set():  # the first cosigner, its row locked, waits here
            storing.set()
            release.wait(60)
        return attach(*args)

    monkeypatch.setattr(witnessing, "attach", held)
    pushes = [
        threading.Thread(target=cosigner.push, args=(witness, size, note, 0))
        for witness in (first, second)
    ]
    pushes[0].start()
    assert storing.wait(30)
    appended: list[int | None] = []
    append = threading.Thread(
        target=lambda: appended.extend(o.position for o in client.submit_many([ev.independent(2)]))
    )
    append.start()
    append.join(30)
    assert appended == [1]  # while the first cosigner holds its checkpoint's row
    pushes[1].start()
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock'"
    )
    with pg_ledger.engine.connect() as watcher:
        deadline = time.monotonic() + 30
        while watcher.execute(waiting).scalar_one() == 0:  # the second, at the row
            assert time.monotonic() < deadline, "the second cosigner never waited"
            time.sleep(0.02)
            watcher.rollback()
    release.set()
    for push in pushes:
        push.join(30)
    stored = pg_ledger.log.checkpoint(size)
    log_key = ckpt.NoteVerifier.from_vkey(workspace.consortium.log_vkey)
    members = workspace.consortium.witness_verifiers()
    opened = ckpt.open_checkpoint(stored, log_key, members, quorum=2)
    assert sorted(opened.witnesses) == sorted(w.verifier.name for w in (first, second))


def test_tampering_is_caught(workspace: Workspace, pg_ledger: EmbeddedLedger) -> None:
    for org, event in ev.story()[:10]:
        OrgClient(pg_ledger, workspace.signer(org)).submit(event)
    with pg_ledger.engine.begin() as conn:
        seq = conn.execute(text("SELECT min(seq) FROM state WHERE seq >= 4")).scalar_one()
        tamper = text("UPDATE state SET value = value || ' '::bytea WHERE seq = :s")
        conn.execute(tamper, {"s": seq})
    with pytest.raises(IntegrityError) as caught:
        verify_ledger(pg_ledger.engine, workspace.consortium)
    assert caught.value.position == seq


def test_the_heads_reads_read_what_one_at_a_time_reads(
    workspace: Workspace, pg_ledger: EmbeddedLedger
) -> None:
    """The keys the head reads in its one statement give, value for value, what reading
    each one alone gives: quoted values restored, absent keys left out."""
    for org, event in ev.story():
        OrgClient(pg_ledger, workspace.signer(org)).submit(event)
    with pg_ledger.engine.connect() as conn:
        driver = Driver(conn)
        keys = [bytes(k) for (k,) in conn.execute(text("SELECT key FROM state")).all()]
        head = driver.head([], [*keys, b"absent"])
        assert head.values == {k: driver.get_state(k) for k in keys}
        assert head.size == pg_ledger.size()


def test_a_dropped_connection_costs_no_acknowledged_append(
    workspace: Workspace, pg_ledger: EmbeddedLedger
) -> None:
    """The writer keeps its connection from one commit to the next: when the server ends
    it (a restart, an administrator), the next batch is appended on a new one, once, and
    what was acknowledged before stays in one verified log."""
    signer = workspace.signer("AGENCY-A")
    txs = [sign_proposal(signer, "submit", [ev.independent(i)]) for i in range(5)]
    assert [o.position for o in pg_ledger.submit_many(txs[:3])] == [0, 1, 2]
    for position in (3, 4):
        with pg_ledger.engine.connect() as admin:
            ended = admin.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        assert ended >= 1  # the writer's connection, at least
        (outcome,) = pg_ledger.submit_many([txs[position]])
        assert (outcome.error, outcome.position) == (None, position)
    replayed = pg_ledger.submit_many(txs)  # the same transactions: replays, not appends
    assert [(o.error, o.position) for o in replayed] == [(None, i) for i in range(5)]
    assert verify_ledger(pg_ledger.engine, workspace.consortium).size == 5


def test_appending_looks_rows_up_by_index_however_small_the_tables(
    workspace: Workspace, pg_ledger: EmbeddedLedger
) -> None:
    """A plan made while the tables were small enough to scan would be kept as they grow,
    and cost more with every append: the append's statements look rows up by index
    from the first, whatever the server's statistics say."""
    for org, event in ev.story()[:3]:
        OrgClient(pg_ledger, workspace.signer(org)).submit(event)
    with pg_ledger.engine.connect() as conn:
        keys = [bytes(k) for (k,) in conn.execute(text("SELECT key FROM state")).all()]
        tx_ids = [bytes(t).hex() for (t,) in conn.execute(text("SELECT tx_id FROM log")).all()]
    scans = (
        "SELECT relname, seq_scan FROM pg_stat_xact_user_tables"
        " WHERE relname IN ('log', 'state', 'nodes') ORDER BY relname"
    )
    conn = appending_connection(pg_ledger.engine)  # the writer's: autocommit, its settings
    raw = conn.connection.dbapi_connection
    assert raw is not None
    with conn, raw.transaction():  # the counts are the transaction's
        before = raw.execute(scans).fetchall()
        driver = Driver(conn)
        for _ in range(8):  # past the server's custom plans, into the one it keeps
            head = driver.head(tx_ids, keys)
        after = raw.execute(scans).fetchall()
    assert (head.size, len(head.committed), len(head.values)) == (3, 3, len(keys))
    assert [name for name, _ in before] == ["log", "nodes", "state"]
    assert after == before  # not one table scanned


@pytest.mark.parametrize("workers", [1, 2])
def test_an_append_while_verify_reads_is_not_taken_for_tampering(
    workspace: Workspace, pg_ledger: EmbeddedLedger, workers: int
) -> None:
    """A live ledger is verified as it stood when verify began: an honest append that
    commits halfway through is not seen, so neither a gap nor an extra entry."""
    client = OrgClient(pg_ledger, workspace.signer("AGENCY-A"))
    client.submit_many([ev.independent(i) for i in range(9)])
    appended: list[int] = []

    def append_once(step: str, done: int, total: int) -> None:
        if not appended:
            appended.append(client.submit_many([ev.independent(99)])[0].position or 0)

    report = verify_ledger(
        pg_ledger.engine, workspace.consortium, append_once, workers=workers, chunk=4
    )
    assert appended == [9]
    assert report.size == 9
    assert verify_ledger(pg_ledger.engine, workspace.consortium).size == 10
