"""`ledger-gw verify` and the audit commands on a ledger file damaged under its rows.

Pages torn, zeroed or cut off, bytes flipped anywhere in the file, columns holding what
no ledger writes there (a NULL, text or a number where bytes go, a position that is no
integer), rows out of place, stored entries that inflate to a gigabyte: each ends in a
verdict, an integrity failure at the first bad position or the damaged file by name,
never a traceback, a hang or "ledger verifies". One ledger of a few hundred entries is
built per module; each test damages a copy of its file, as a disk, a crash or an
operator with database access could. Every test runs twice: entries checked in the
verifying process, and on a pool of worker processes in chunks of 64, so that the damage
lands in the middle of the pipeline.
"""

from __future__ import annotations

import json
import random
import sqlite3
import tracemalloc
import zlib
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chaincode.canonical import canonical_json
from ledger_gw.client import OrgClient
from ledger_gw.embedded.database import reading_engine
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.packing import pack, unpack
from ledger_gw.embedded.reader import LogReader
from ledger_gw.embedded.verify import ENTRIES, verify_ledger
from ledger_gw.errors import IntegrityError, LedgerError, UnavailableError
from ledger_gw.log.entry import Entry
from ledger_gw.workspace import Workspace
from tests.support.cli import clean_failure, run_cli
from tests.support.disk import sqlite_copy
from tests.support.events import independent, story
from tests.support.ledgers import verify_url

BATCHES = 10  # of 28 independent events each, after the story: a few hundred entries
SIZE = len(story()) + 28 * BATCHES
CHUNK = 64  # on the pool: five chunks, several in flight at once
PAGE = 16384  # the ledger's page size (embedded.database)
AT = 150  # the entry damaged, in the middle of the third chunk on the pool


INLINE = (1, 2000)


@pytest.fixture(autouse=True, params=[INLINE, (2, CHUNK)], ids=["inline", "pool"])
def checked_on(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """The defaults of every verify_ledger call made by the test: workers and chunk (a
    test that runs the command passes it the workers)."""
    workers, chunk = request.param
    monkeypatch.setattr(verify_ledger, "__kwdefaults__", {"workers": workers, "chunk": chunk})
    return int(workers), int(chunk)


# For a test that checks no entries itself: once, not once per way of checking them.
once = pytest.mark.parametrize("checked_on", [INLINE], indirect=True, ids=["once"])


@pytest.fixture(scope="module")
def original(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("damaged") / "ledger.db"
    ledger = EmbeddedLedger(f"sqlite:///{path}", workspace.consortium, workspace.log_signer())
    try:
        clients: dict[str, OrgClient] = {}
        for org, event in story():
            clients.setdefault(org, OrgClient(ledger, workspace.signer(org))).submit(event)
        for i in range(BATCHES):
            batch = [independent(28 * i + k) for k in range(28)]
            outcomes = clients["AGENCY-A" if i % 2 else "AGENCY-C"].submit_many(batch)
            assert all(o.error is None for o in outcomes)
        assert ledger.size() == SIZE
    finally:
        ledger.close()
    return path


@pytest.fixture(scope="module")
def pinned(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The consortium file, asking no witness quorum: the ledger was never shown one, so
    an undamaged copy verifies, and only the damage can fail it."""
    path = tmp_path_factory.mktemp("pinned") / "consortium.json"
    replace(workspace.consortium, witness_quorum=0).save(path)
    return path


@pytest.fixture(scope="module")
def referral(original: Path) -> str:
    """The story's first referral: its chain reads every entry of a ledger handed over."""
    with closing(sqlite3.connect(original)) as db:
        (entry,) = db.execute("SELECT entry FROM log WHERE seq = 1").fetchone()
    return str(json.loads(unpack(entry))["result"]["referral_id"])


@pytest.fixture
def copy(original: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.db"
    sqlite_copy(original, target)
    return target


@pytest.fixture
def db(copy: Path) -> Iterator[sqlite3.Connection]:
    """A raw connection to the copy, in autocommit: each change is on disk at once."""
    with closing(sqlite3.connect(copy, isolation_level=None)) as conn:
        yield conn


def _verdict(workspace: Workspace, copy: Path) -> LedgerError:
    """The error verify ends in, given the ledger's URL as the command gives it: one of
    the library's, never another exception."""
    with pytest.raises(LedgerError) as caught:
        verify_ledger(f"sqlite:///{copy}", workspace.consortium)
    return caught.value


def _fails_at(workspace: Workspace, copy: Path, position: int | None, said: str) -> None:
    failure = _verdict(workspace, copy)
    assert isinstance(failure, IntegrityError), failure
    assert failure.position == position, failure
    assert said in str(failure)


def _damaged(workspace: Workspace, copy: Path) -> None:
    """The damage is found before any row is judged: a storage error naming the file."""
    failure = _verdict(workspace, copy)
    assert isinstance(failure, UnavailableError), failure
    assert f"the database cannot be used: {copy}" in str(failure)


def _unconstrained(db: sqlite3.Connection) -> None:
    """The tables' NOT NULL dropped from the schema, as an operator could, so that a NULL
    can be written where the ledger never writes one (and SQLite's check sees none)."""
    db.execute("PRAGMA writable_schema = ON")
    tables = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
    for name, sql in tables:
        db.execute(
            "UPDATE sqlite_master SET sql = ? WHERE name = ?", (sql.replace(" NOT NULL", ""), name)
        )
    (version,) = _one(db, "PRAGMA schema_version")
    db.execute(f"PRAGMA schema_version = {version + 1}")  # this connection reads it again
    db.execute("PRAGMA writable_schema = OFF")


def _overwrite(path: Path, at: int, data: bytes) -> None:
    with path.open("r+b") as f:
        f.seek(at)
        f.write(data)


def _one(db: sqlite3.Connection, sql: str, *params: object) -> Any:
    row = db.execute(sql, params).fetchone()
    assert row is not None
    return row


def _change(db: sqlite3.Connection, sql: str, bomb: bytes = b"") -> None:
    """``sql`` run, its :at the damaged entry's position (:next the one after it), its
    :key the first state key that entry wrote."""
    (key,) = _one(db, "SELECT key FROM state WHERE seq = ? ORDER BY key LIMIT 1", AT)
    db.execute(sql, {"at": AT, "next": AT + 1, "key": key, "bomb": bomb})


def _verify_command(
    workspace: Workspace, copy: Path, pinned: Path, checked_on: tuple[int, int]
) -> list[str]:
    return [
        "verify",
        *("--dir", str(workspace.root), "--ledger", f"sqlite:///{copy}"),
        *("--consortium", str(pinned), "--workers", str(checked_on[0])),
    ]


def test_the_untouched_copy_verifies(
    workspace: Workspace, copy: Path, pinned: Path, checked_on: tuple[int, int]
) -> None:
    assert verify_url(f"sqlite:///{copy}", workspace.consortium).size == SIZE
    done = run_cli(*_verify_command(workspace, copy, pinned, checked_on))
    assert done.returncode == 0, done.stderr
    assert "ledger verifies" in done.stdout


# -- the file under the rows ---------------------------------------------------------------


_STORED = {
    "log": "SELECT entry FROM log WHERE seq = ?",
    "state": "SELECT value FROM state WHERE seq = ? ORDER BY length(value) DESC",
    "nodes": "SELECT hash FROM nodes WHERE level = 0 AND idx = ?",
}


@pytest.mark.parametrize("under", list(_STORED))
def test_torn_page(
    workspace: Workspace,
    copy: Path,
    db: sqlite3.Connection,
    pinned: Path,
    checked_on: tuple[int, int],
    under: str,
) -> None:
    """Half of the page that holds a row of entry AT never written, left zero: SQLite
    reads zeroed cells as rows of NULLs, which no ledger writes. Found as a damaged
    file, which the command names in one line."""
    (stored,) = _one(db, _STORED[under], AT)
    at = copy.read_bytes().find(stored)
    assert at > 0
    half = PAGE // 2
    _overwrite(copy, at - at % half, bytes(half))
    _damaged(workspace, copy)
    if under == "log":
        line = clean_failure(run_cli(*_verify_command(workspace, copy, pinned, checked_on)))
        assert line.startswith(f"error ledger_unavailable: the database cannot be used: {copy}")
        assert "is damaged" in line


def test_zeroed_page_of_an_index_no_row_read_reaches(
    workspace: Workspace, copy: Path, db: sqlite3.Connection
) -> None:
    """The log is read by position, never through its transaction IDs' index: only
    SQLite's own check reads that index's pages, which a ledger's writer relies on."""
    (page,) = _one(db, "SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_log_1'")
    _overwrite(copy, (page - 1) * PAGE, bytes(PAGE))
    _damaged(workspace, copy)


@pytest.mark.parametrize("page", [0, 1, 8], ids=["header", "schema", "middle"])
def test_zeroed_page(workspace: Workspace, copy: Path, page: int) -> None:
    _overwrite(copy, page * PAGE, bytes(PAGE))
    _damaged(workspace, copy)


@pytest.mark.parametrize("pages", [0, 1, 10, 10.5, 20.25], ids=str)
def test_truncated_file(workspace: Workspace, copy: Path, pages: float) -> None:
    """Cut at a page's boundary or in the middle of one; cut to nothing, it is an empty
    database, which holds none of the ledger's tables."""
    with copy.open("r+b") as f:
        f.truncate(int(pages * PAGE))
    _damaged(workspace, copy)


FLIPPED_FILES = 32


def test_seeded_byte_flips(workspace: Workspace, original: Path, tmp_path: Path) -> None:
    """A few bits flipped anywhere in the file: either nothing the ledger holds changed
    (free space in a page) and SQLite finds nothing wrong, or verify fails, cleanly."""
    rng = random.Random(20240607)
    with closing(sqlite3.connect(original)) as db:
        before = list(db.iterdump())
    failed = 0
    for n in range(FLIPPED_FILES):
        copy = tmp_path / f"flipped-{n}.db"
        sqlite_copy(original, copy)
        data = bytearray(copy.read_bytes())
        for at in rng.sample(range(len(data)), rng.choice([1, 2, 4, 8])):
            data[at] ^= 1 << rng.randrange(8)
        copy.write_bytes(data)
        with closing(sqlite3.connect(copy)) as db:
            try:
                unchanged = db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
                unchanged = unchanged and list(db.iterdump()) == before
            except sqlite3.DatabaseError:
                unchanged = False
        if unchanged:
            assert verify_url(f"sqlite:///{copy}", workspace.consortium).size == SIZE
        else:
            _verdict(workspace, copy)
            failed += 1
    assert failed >= FLIPPED_FILES // 4  # most flips land in what the ledger holds


# -- columns holding what no ledger writes there ----------------------------------------


@pytest.mark.parametrize(
    ("change", "position", "said"),
    [
        ("UPDATE log SET entry = NULL WHERE seq = :at", AT, "in no format"),
        ("UPDATE log SET tx_id = NULL WHERE seq = :at", AT, "transaction ID or time"),
        ("UPDATE state SET value = NULL WHERE key = :key", AT, "in no format"),
        ("UPDATE state SET seq = NULL WHERE key = :key", None, "state row differs"),
        ("UPDATE nodes SET hash = NULL WHERE level = 0 AND idx = :at", AT, "tree node"),
        ("UPDATE nodes SET hash = NULL WHERE level = 3 AND idx = 7", 63, "tree node"),
        ("UPDATE checkpoints SET note = NULL WHERE size = 107", 106, "checkpoint 107"),
        (
            "UPDATE certificates SET pem = NULL WHERE ref = (SELECT min(ref) FROM certificates)",
            None,
            "is not the one its reference names",
        ),
    ],
    ids=[
        "log.entry",
        "log.tx_id",
        "state.value",
        "state.seq",
        "nodes.hash",
        "nodes.hash-level-3",
        "checkpoints.note",
        "certificates.pem",
    ],
)
def test_null_in_a_not_null_column(
    workspace: Workspace,
    copy: Path,
    db: sqlite3.Connection,
    change: str,
    position: int | None,
    said: str,
) -> None:
    _unconstrained(db)
    _change(db, change)
    _fails_at(workspace, copy, position, said)


@pytest.mark.parametrize(
    ("change", "position", "said"),
    [
        ("UPDATE log SET entry = 'text' WHERE seq = :at", AT, "in no format"),
        ("UPDATE log SET entry = 7 WHERE seq = :at", AT, "in no format"),
        ("UPDATE log SET tx_id = hex(tx_id) WHERE seq = :at", AT, "transaction ID or time"),
        ("UPDATE state SET value = 'text' WHERE key = :key", AT, "in no format"),
        ("UPDATE state SET key = CAST(key AS TEXT) WHERE key = :key", AT, "differs"),
        # A position that is no integer names none, however close to one.
        ("UPDATE state SET seq = :at + 0.5 WHERE key = :key", None, "differs"),
        (
            "UPDATE state SET seq = CAST(CAST(:at AS TEXT) AS BLOB) WHERE key = :key",
            None,
            "differs",
        ),
        ("UPDATE nodes SET hash = hex(hash) WHERE level = 0 AND idx = :at", AT, "tree node"),
        ("UPDATE checkpoints SET note = CAST(note AS BLOB) WHERE size = 107", 106, "checkpoint"),
    ],
    ids=[
        "entry-text",
        "entry-integer",
        "tx_id-text",
        "value-text",
        "key-text",
        "seq-real",
        "seq-blob",
        "hash-text",
        "note-blob",
    ],
)
def test_column_of_the_wrong_type(
    workspace: Workspace,
    copy: Path,
    db: sqlite3.Connection,
    change: str,
    position: int | None,
    said: str,
) -> None:
    _change(db, change)
    _fails_at(workspace, copy, position, said)


def test_tree_node_at_a_position_that_is_no_integer(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, checked_on: tuple[int, int]
) -> None:
    """A node stored at index AT + 0.5 is no node AT: the tree lacks one."""
    db.execute("UPDATE nodes SET idx = ? WHERE level = 0 AND idx = ?", (AT + 0.5, AT))
    first = AT - AT % checked_on[1]  # a missing node is told at its chunk's first position
    _fails_at(workspace, copy, first, f"tree node NodeID(level=0, index={AT}) is missing")


def test_null_leaf_hash_before_an_entry_that_fails(
    workspace: Workspace, copy: Path, db: sqlite3.Connection
) -> None:
    """Once an entry fails, the leaves before it in its chunk are compared with the
    stored tree (entries moved within the log replay fine until a later one fails):
    one stored as NULL is the first bad position."""
    _unconstrained(db)
    db.execute("UPDATE nodes SET hash = NULL WHERE level = 0 AND idx = ?", (AT - 5,))
    db.execute("UPDATE log SET entry = x'00' WHERE seq = ?", (AT,))
    _fails_at(workspace, copy, AT - 5, "leaf hash differs")


# -- rows out of place -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "position", "said"),
    [
        (["DELETE FROM log WHERE seq = :at"], AT, "entry missing"),
        (
            [
                "UPDATE log SET seq = -1 WHERE seq = :at",
                "UPDATE log SET seq = :at WHERE seq = :next",
                "UPDATE log SET seq = :next WHERE seq = -1",
            ],
            AT,
            "differs",
        ),
        (["UPDATE state SET seq = 99999 WHERE key = :key"], 99999, "differs"),
        (["UPDATE state SET seq = -3 WHERE key = :key"], -3, "differs"),
        (
            [
                "UPDATE certificates SET pem = (SELECT pem FROM certificates ORDER BY ref DESC) "
                "WHERE ref = (SELECT min(ref) FROM certificates)"
            ],
            None,
            "is not the one its reference names",
        ),
        (["UPDATE checkpoints SET note = 'garbage' WHERE size = 107"], 106, "checkpoint 107"),
        (["UPDATE checkpoints SET note = randomblob(300) WHERE size = 107"], 106, "checkpoint"),
    ],
    ids=[
        "deleted",
        "swapped",
        "state-names-no-entry",
        "state-names-below-0",
        "another-certificate",
        "garbage-checkpoint",
        "random-checkpoint",
    ],
)
def test_rows_out_of_place(
    workspace: Workspace,
    copy: Path,
    db: sqlite3.Connection,
    changes: list[str],
    position: int | None,
    said: str,
) -> None:
    for change in changes:
        _change(db, change)
    _fails_at(workspace, copy, position, said)


def test_a_row_far_past_the_log_is_a_gap_not_a_hang(
    workspace: Workspace, copy: Path, db: sqlite3.Connection
) -> None:
    """The log's size is its highest position's: a row at 10**12 makes a trillion empty
    positions, which verify must not walk through chunk by chunk."""
    db.execute(
        "INSERT INTO log SELECT 1000000000000, randomblob(32), timestamp, entry FROM log "
        "WHERE seq = 5"
    )
    told: list[int] = []

    def progress(step: str, done: int, total: int) -> None:
        told.append(done)
        assert step != ENTRIES or len(told) < 100, f"verify walks empty chunks, at {done}"

    with pytest.raises(IntegrityError) as caught:
        verify_ledger(f"sqlite:///{copy}", workspace.consortium, progress)
    assert caught.value.position == SIZE
    assert "entry missing" in str(caught.value)


# -- stored forms that inflate past any entry --------------------------------------------


def _bomb(inflated: int) -> bytes:
    """A stored form (the packing's format 1) that inflates to ``inflated`` zero bytes,
    about a thousandth of that stored: a deflated MiB, repeated (each copy ends on a
    byte, after a full flush, and refers to nothing before it), then the final block."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = deflate.compress(bytes(1 << 20)) + deflate.flush(zlib.Z_FULL_FLUSH)
    return b"\x01" + piece * (inflated >> 20) + zlib.compressobj(9, zlib.DEFLATED, -15).flush()


GIB = 1 << 30


@once
def test_inflating_is_bounded() -> None:
    """A stored form is refused once more than the bound (16 MiB) is inflated, not
    inflated whole first: a gigabyte's bomb costs its reader tens of MB, not a GB."""
    bomb = _bomb(GIB)
    assert len(bomb) < 2 << 20
    tracemalloc.start()
    try:
        with pytest.raises(IntegrityError, match="inflates to over"):
            unpack(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE log SET entry = :bomb WHERE seq = :at",
        "UPDATE state SET value = :bomb WHERE key = :key",
    ],
    ids=["entry", "value"],
)
def test_zip_bomb(workspace: Workspace, copy: Path, db: sqlite3.Connection, change: str) -> None:
    _change(db, change, _bomb(GIB))
    _fails_at(workspace, copy, AT, "inflates to over")


# -- the audit commands on a ledger handed over ----------------------------------------------


@once
@pytest.mark.parametrize(
    "damage",
    [
        "UPDATE log SET entry = NULL WHERE seq = :at",
        "UPDATE log SET entry = 'text' WHERE seq = :at",
        "UPDATE log SET entry = :bomb WHERE seq = :at",
    ],
    ids=["null", "text", "zip-bomb"],
)
def test_audit_commands_on_a_damaged_entry(
    workspace: Workspace,
    copy: Path,
    db: sqlite3.Connection,
    pinned: Path,
    referral: str,
    damage: str,
) -> None:
    """`audit bundle` and `audit chain` read every entry of a ledger handed over up to
    their anchor: the damaged one is named, in one line."""
    _unconstrained(db)
    _change(db, damage, _bomb(GIB))
    for command in _audit_commands(workspace, copy, pinned, referral):
        line = clean_failure(run_cli(*command))
        assert f"log entry {AT}" in line, line
        assert not (copy.parent / "bundle.json").exists()


def _timestamp_of_no_form(stored: bytes) -> bytes:
    """The entry stored, in canonical form still, its proposal's time made no time."""
    entry = Entry.from_bytes(unpack(stored))
    proposal = json.loads(entry.proposal)
    proposal["timestamp"] = "not a time"
    return pack(replace(entry, proposal=canonical_json(proposal)).to_bytes())


@once
@pytest.mark.parametrize("form", ["no-entry", "no-time"])
def test_audit_commands_on_an_entry_that_inflates_to_no_transaction(
    workspace: Workspace,
    copy: Path,
    db: sqlite3.Connection,
    pinned: Path,
    referral: str,
    form: str,
) -> None:
    """Stored bytes that inflate, to no entry or to an entry whose proposal has no time:
    named in one line, not a traceback."""
    (stored,) = _one(db, "SELECT entry FROM log WHERE seq = ?", AT)
    written = pack(b"not an entry") if form == "no-entry" else _timestamp_of_no_form(stored)
    _change(db, "UPDATE log SET entry = :bomb WHERE seq = :at", written)
    for command in _audit_commands(workspace, copy, pinned, referral):
        line = clean_failure(run_cli(*command))
        assert f"log entry {AT}" in line, line
        assert not (copy.parent / "bundle.json").exists()


@once
def test_audit_commands_on_a_torn_page_of_certificates(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, pinned: Path, referral: str
) -> None:
    """The certificates the entries name, read from a torn page as rows of NULLs."""
    (pem,) = _one(db, "SELECT pem FROM certificates ORDER BY ref LIMIT 1")
    at = copy.read_bytes().find(pem.encode())
    assert at > 0
    _overwrite(copy, at - at % (PAGE // 2), bytes(PAGE // 2))
    for command in _audit_commands(workspace, copy, pinned, referral):
        assert "is not the one its reference names" in clean_failure(run_cli(*command))


@once
def test_a_reader_names_the_entry_it_holds_damaged(
    workspace: Workspace, copy: Path, db: sqlite3.Connection
) -> None:
    """An entry stored as NULL is there, damaged: not "no log entry at position"."""
    _unconstrained(db)
    _change(db, "UPDATE log SET entry = NULL WHERE seq = :at")
    engine = reading_engine(f"sqlite:///{copy}")
    try:
        with pytest.raises(IntegrityError, match=f"log entry {AT} is not stored as bytes"):
            LogReader(engine).entry(AT)
    finally:
        engine.dispose()


def _audit_commands(
    workspace: Workspace, copy: Path, pinned: Path, referral: str
) -> list[list[str]]:
    """`audit bundle` and `audit chain` of ``referral`` on the copy, as handed over."""
    args = ["--dir", str(workspace.root), "--ledger", f"sqlite:///{copy}"]
    out = copy.parent / "bundle.json"
    return [
        ["audit", "bundle", "--subject", referral, "--out", str(out), *args],
        ["audit", "chain", referral, "--consortium", str(pinned), *args],
    ]


@once
def test_a_file_sqlite_cannot_read_is_named(
    workspace: Workspace, copy: Path, pinned: Path, checked_on: tuple[int, int]
) -> None:
    """A file whose header is gone is a storage error, one line naming the file."""
    _overwrite(copy, 0, bytes(100))
    line = clean_failure(run_cli(*_verify_command(workspace, copy, pinned, checked_on)))
    assert line.startswith("error ledger_unavailable: the database cannot be used: ")
    assert line.endswith(f": {copy}: file is not a database")
    _damaged(workspace, copy)
