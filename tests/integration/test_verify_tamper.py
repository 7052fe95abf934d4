"""verify_ledger finds every kind of tampering with the stored ledger, and where it is.

One ledger of 40 mixed events is built per module; each test mutates a copy of its
SQLite file with raw sqlite3, as an operator with database access could. Every test
runs twice: with the entries checked in the verifying process, and on a pool of worker
processes in chunks of 8, so that the tampering lands in the middle of the pipeline.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chaincode.canonical import canonical_json
from ledger_gw.cli import cli
from ledger_gw.client import OrgClient
from ledger_gw.embedded.database import make_engine
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.packing import pack, unpack
from ledger_gw.embedded.verify import verify_ledger
from ledger_gw.errors import IntegrityError
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.note import Note, NoteSignature, NoteSigner, SigType
from ledger_gw.transaction import certificate_ref
from ledger_gw.witness import TrustedLog, Witness, WitnessStore
from ledger_gw.witness.home import STATE_FILE, WitnessHome
from ledger_gw.witness.store import witnessed_in
from ledger_gw.workspace import Workspace
from tests.support.events import independent, story
from tests.support.ledgers import verify_url
from tests.support.witnesses import TestWitnesses

SIZE = 40
STORY = len(story())  # submitted one at a time: a checkpoint at every size up to here
BATCHES = (5, 4, 4, 4)  # then submit_many batches: checkpoints at 28, 32, 36, 40


@pytest.fixture(autouse=True, params=[(1, 2000), (2, 8)], ids=["inline", "pool"])
def checked_on(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The defaults of every verify_ledger call made by the test, the CLI's included."""
    workers, chunk = request.param
    monkeypatch.setattr(verify_ledger, "__kwdefaults__", {"workers": workers, "chunk": chunk})


@pytest.fixture(scope="module")
def original(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tamper") / "ledger.db"
    ledger = EmbeddedLedger(f"sqlite:///{path}", workspace.consortium, workspace.log_signer())
    try:
        clients: dict[str, OrgClient] = {}
        for org, event in story():
            if org not in clients:
                clients[org] = OrgClient(ledger, workspace.signer(org))
            clients[org].submit(event)
        n = 0
        for i, size in enumerate(BATCHES):
            batcher = clients["AGENCY-A" if i % 2 else "AGENCY-C"]
            outcomes = batcher.submit_many([independent(n + k) for k in range(size)])
            assert all(o.error is None for o in outcomes)
            n += size
        assert ledger.size() == SIZE
    finally:
        ledger.close()
    return path


@pytest.fixture
def copy(original: Path, tmp_path: Path) -> Path:
    """A private copy of the ledger file (SQLite's backup API: WAL content included)."""
    target = tmp_path / "copy.db"
    with closing(sqlite3.connect(original)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return target


@pytest.fixture
def db(copy: Path) -> Iterator[sqlite3.Connection]:
    """A raw connection to the copy; changes are committed before the test verifies."""
    with closing(sqlite3.connect(copy, isolation_level=None)) as conn:
        yield conn


def _verify(workspace: Workspace, copy: Path) -> Any:
    return verify_url(f"sqlite:///{copy}", workspace.consortium)


def _fails_at(workspace: Workspace, copy: Path, position: int | None) -> IntegrityError:
    with pytest.raises(IntegrityError) as caught:
        _verify(workspace, copy)
    if position is not None:
        assert caught.value.position == position, str(caught.value)
    return caught.value


def _one(db: sqlite3.Connection, sql: str, *params: object) -> Any:
    row = db.execute(sql, params).fetchone()
    assert row is not None
    return row


def test_untouched_copy_verifies(workspace: Workspace, copy: Path) -> None:
    report = _verify(workspace, copy)
    assert report.size == SIZE
    assert report.checkpoints == STORY + len(BATCHES)
    assert report.cosignatures == 0


# -- the log ----------------------------------------------------------------------------


@pytest.mark.parametrize("position", [0, 5, STORY - 1, STORY, SIZE - 1])
@pytest.mark.parametrize("where", [0.1, 0.5, 0.97])
def test_flipped_byte_in_entry(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, position: int, where: float
) -> None:
    (entry,) = _one(db, "SELECT entry FROM log WHERE seq = ?", position)
    data = bytearray(entry)
    data[int(len(data) * where)] ^= 0x01
    db.execute("UPDATE log SET entry = ? WHERE seq = ?", (bytes(data), position))
    _fails_at(workspace, copy, position)


@pytest.mark.parametrize("position", [0, STORY, SIZE - 1])
def test_flipped_byte_in_entry_as_written(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, position: int
) -> None:
    """Stored deflated: a change made before deflating inflates cleanly, and is caught."""
    (entry,) = _one(db, "SELECT entry FROM log WHERE seq = ?", position)
    data = bytearray(unpack(entry))
    data[len(data) // 2] ^= 0x01
    db.execute("UPDATE log SET entry = ? WHERE seq = ?", (pack(bytes(data)), position))
    _fails_at(workspace, copy, position)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda b: b"",
        lambda b: b"\x00" + b[1:],  # a format this ledger never wrote
        lambda b: b[:-3],  # deflate cut short
        lambda b: b + b"\x00",  # bytes after the end of the deflate stream
        lambda b: b"\x01" + b"{}",  # not deflate at all
    ],
    ids=["empty", "format", "truncated", "trailing", "raw"],
)
def test_entry_that_does_not_inflate(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, spoil: Any
) -> None:
    (entry,) = _one(db, "SELECT entry FROM log WHERE seq = 12")
    db.execute("UPDATE log SET entry = ? WHERE seq = 12", (spoil(entry),))
    _fails_at(workspace, copy, 12)


def test_deleted_last_entry(workspace: Workspace, copy: Path, db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM log WHERE seq = ?", (SIZE - 1,))
    _fails_at(workspace, copy, None)


def test_a_row_below_position_0(workspace: Workspace, copy: Path, db: sqlite3.Connection) -> None:
    """The log's size is its highest position's: a row written below 0 (a copy of an
    entry under another ID, say) is in no chunk a verifier reads, and would answer a
    retry of that ID from the log."""
    db.execute(
        "INSERT INTO log (seq, tx_id, timestamp, entry) "
        "SELECT -1, randomblob(32), timestamp, entry FROM log WHERE seq = 3"
    )
    assert _fails_at(workspace, copy, None).code == "log_rows_forged"


def test_deleted_middle_entry(workspace: Workspace, copy: Path, db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM log WHERE seq = 10")
    _fails_at(workspace, copy, 10)


@pytest.mark.parametrize("with_tx_ids", [False, True], ids=["entries", "rows"])
def test_swapped_entries(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, with_tx_ids: bool
) -> None:
    i, j = 3, STORY + 2
    tx_i, entry_i = _one(db, "SELECT tx_id, entry FROM log WHERE seq = ?", i)
    tx_j, entry_j = _one(db, "SELECT tx_id, entry FROM log WHERE seq = ?", j)
    db.execute("BEGIN")
    if with_tx_ids:  # reorder whole rows: each entry keeps its own transaction ID
        db.execute("UPDATE log SET tx_id = x'00' WHERE seq = ?", (i,))
        db.execute("UPDATE log SET tx_id = ?, entry = ? WHERE seq = ?", (tx_i, entry_i, j))
        db.execute("UPDATE log SET tx_id = ?, entry = ? WHERE seq = ?", (tx_j, entry_j, i))
    else:
        db.execute("UPDATE log SET entry = ? WHERE seq = ?", (entry_j, i))
        db.execute("UPDATE log SET entry = ? WHERE seq = ?", (entry_i, j))
    db.execute("COMMIT")
    _fails_at(workspace, copy, i)


# -- world state ------------------------------------------------------------


def _retouch(value: bytes) -> bytes:
    obj = json.loads(value)
    obj["tampered"] = True
    return canonical_json(obj)


_CURRENT = "SELECT s.seq, s.key, s.value FROM state s"


def _current(db: sqlite3.Connection, order: str) -> tuple[int, bytes, bytes]:
    """A key's current value as stored (without what it quotes) and the log position
    that wrote it."""
    seq, key, value = _one(db, f"{_CURRENT} ORDER BY s.key {order}")
    return seq, key, unpack(value)


def _spoil(value: bytes) -> bytes:
    """Retouched when it is JSON; a value that quotes its entry is only a part of some."""
    try:
        return _retouch(value)
    except ValueError:
        return value.replace(b'"', b'"x', 1)


@pytest.mark.parametrize("which", ["first", "last", "delivered"])
def test_changed_current_value(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, which: str
) -> None:
    if which == "delivered":  # the entitlement that received deliveries: lower the total
        rows = [(seq, key, unpack(value)) for seq, key, value in db.execute(_CURRENT)]
        (seq, key, value), *_ = [r for r in rows if b'"delivered":"85.5"' in r[2]]
        new = value.replace(b'"delivered":"85.5"', b'"delivered":"5.5"')
        assert new != value
    else:
        seq, key, value = _current(db, "ASC" if which == "first" else "DESC")
        new = _spoil(value)
    db.execute("UPDATE state SET value = ? WHERE key = ?", (pack(new), key))
    _fails_at(workspace, copy, seq)


def test_state_naming_another_writer(
    workspace: Workspace, copy: Path, db: sqlite3.Connection
) -> None:
    (key,) = _one(db, "SELECT key FROM state WHERE seq = 12 ORDER BY key LIMIT 1")
    db.execute("UPDATE state SET seq = 11 WHERE key = ?", (key,))
    _fails_at(workspace, copy, 11)


@pytest.mark.parametrize("change", ["retouched", "dropped"])
def test_changed_inline_value(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, change: str
) -> None:
    """Small values, which quote nothing of their entry, are checked as they are."""
    key, seq, value = _one(
        db, "SELECT key, seq, value FROM state WHERE quote_at IS NULL ORDER BY length(value)"
    )
    new = _retouch(unpack(value)) if change == "retouched" else b""
    db.execute("UPDATE state SET value = ? WHERE key = ?", (pack(new), key))
    _fails_at(workspace, copy, seq)


@pytest.mark.parametrize("quoting", [True, False], ids=["quoting", "inline"])
def test_value_that_does_not_inflate(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, quoting: bool
) -> None:
    where = "quote_at IS NOT NULL" if quoting else "quote_at IS NULL"
    key, seq, value = _one(db, f"SELECT key, seq, value FROM state WHERE {where} AND seq >= 12")  # noqa: S608
    db.execute("UPDATE state SET value = ? WHERE key = ?", (value[:-2], key))
    _fails_at(workspace, copy, seq)


def test_values_are_stored_deflated(db: sqlite3.Connection) -> None:
    """Every entry and value inflates, and most take fewer bytes stored than written."""
    for table, column in (("log", "entry"), ("state", "value")):
        rows = [bytes(r[0]) for r in db.execute(f"SELECT {column} FROM {table}")]  # noqa: S608
        written = [unpack(r) for r in rows]
        assert sum(map(len, rows)) < 0.8 * sum(map(len, written)), table


@pytest.mark.parametrize("order", ["ASC", "DESC"])
def test_deleted_state_row(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, order: str
) -> None:
    (key,) = _one(db, f"SELECT key FROM state ORDER BY key {order}")  # noqa: S608
    db.execute("DELETE FROM state WHERE key = ?", (key,))
    _fails_at(workspace, copy, None)


@pytest.mark.parametrize("key", [b"\x00first", b"\xffzzz"], ids=["sorts-first", "sorts-last"])
def test_added_state_row(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, key: bytes
) -> None:
    db.execute("INSERT INTO state (key, seq, value) VALUES (?, ?, ?)", (key, 3, b"{}"))
    _fails_at(workspace, copy, None)


def test_altered_value_in_the_middle(
    workspace: Workspace, copy: Path, db: sqlite3.Connection
) -> None:
    seq, key, value = _one(db, f"{_CURRENT} WHERE s.seq = 12 LIMIT 1")
    db.execute("UPDATE state SET value = ? WHERE key = ?", (pack(_spoil(unpack(value))), key))
    _fails_at(workspace, copy, seq)


@pytest.mark.parametrize(
    "change",
    [
        "quote_at = quote_at + 1",
        "quote_from = quote_from - 1",
        "quote_len = quote_len - 1",
        "quote_at = NULL, quote_from = NULL, quote_len = NULL",
    ],
    ids=["moved-in-value", "moved-in-entry", "shortened", "dropped"],
)
def test_altered_quote_of_the_entry(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, change: str
) -> None:
    """What a value quotes of its entry is checked as its own bytes are."""
    key, seq = _one(db, "SELECT key, seq FROM state WHERE quote_at > 0 AND seq >= 12 LIMIT 1")
    db.execute(f"UPDATE state SET {change} WHERE key = ?", (key,))  # noqa: S608
    _fails_at(workspace, copy, seq)


def test_values_quote_what_their_entries_hold(db: sqlite3.Connection) -> None:
    """Every event's history record and receipt quote its entry instead of copying it."""
    (quoting,) = _one(db, "SELECT count(*) FROM state WHERE quote_at IS NOT NULL")
    assert quoting >= 2 * SIZE


@pytest.mark.parametrize("column", ["tx_id", "timestamp"])
def test_altered_log_column(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, column: str
) -> None:
    (timestamp,) = _one(db, "SELECT timestamp FROM log WHERE seq = 12")
    new = {"tx_id": bytes(32), "timestamp": timestamp.replace("2", "1", 1)}[column]
    db.execute(f"UPDATE log SET {column} = ? WHERE seq = 12", (new,))  # noqa: S608
    _fails_at(workspace, copy, 12)


# -- the certificates, stored once and named by hash in the entries ------------------------


def _first_signed_by(db: sqlite3.Connection, ref: str) -> int:
    for seq, entry in db.execute("SELECT seq, entry FROM log ORDER BY seq"):
        if json.loads(unpack(entry))["tx"]["proposal"]["creator"] == ref:
            return int(seq)
    raise AssertionError(f"no entry names {ref}")


def _some_certificate(db: sqlite3.Connection) -> tuple[str, str]:
    ref, pem = _one(db, "SELECT ref, pem FROM certificates ORDER BY ref LIMIT 1")
    return str(ref), str(pem)


def test_every_signer_certificate_is_stored_once(db: sqlite3.Connection) -> None:
    (count,) = _one(db, "SELECT count(*) FROM certificates")
    named = {
        json.loads(unpack(entry))["tx"]["proposal"]["creator"]
        for (entry,) in db.execute("SELECT entry FROM log")
    }
    assert count == len(named) == len({org for org, _ in story()})


def test_deleted_certificate(workspace: Workspace, copy: Path, db: sqlite3.Connection) -> None:
    ref, _ = _some_certificate(db)
    db.execute("DELETE FROM certificates WHERE ref = ?", (ref,))
    _fails_at(workspace, copy, _first_signed_by(db, ref))


@pytest.mark.parametrize("rekeyed", [False, True], ids=["same-reference", "its-own-reference"])
def test_certificate_swapped_for_another_members(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, rekeyed: bool
) -> None:
    """Another valid certificate of the consortium, under the old reference or its own."""
    ref, pem = _some_certificate(db)
    other = next(
        s.cert_pem
        for s in map(workspace.signer, ("AGENCY-A", "AGENCY-B", "AGENCY-C"))
        if s.cert_pem != pem
    )
    new_ref = certificate_ref(other) if rekeyed else ref
    db.execute("DELETE FROM certificates WHERE ref = ?", (new_ref,))
    db.execute("UPDATE certificates SET ref = ?, pem = ? WHERE ref = ?", (new_ref, other, ref))
    if rekeyed:  # the other member's entries still find theirs
        _fails_at(workspace, copy, _first_signed_by(db, ref))
    else:
        with pytest.raises(IntegrityError, match="certificate"):
            _verify(workspace, copy)


def test_flipped_byte_in_certificate(
    workspace: Workspace, copy: Path, db: sqlite3.Connection
) -> None:
    ref, pem = _some_certificate(db)
    data = bytearray(pem.encode())
    data[len(data) // 2] ^= 0x01
    db.execute("UPDATE certificates SET pem = ? WHERE ref = ?", (data.decode(), ref))
    with pytest.raises(IntegrityError, match="certificate"):
        _verify(workspace, copy)


def test_added_certificate(workspace: Workspace, copy: Path, db: sqlite3.Connection) -> None:
    """A certificate no entry names: a row the log does not explain."""
    pem = workspace.signer("AUDITOR-X").cert_pem
    db.execute("INSERT INTO certificates VALUES (?, ?)", (certificate_ref(pem), pem))
    with pytest.raises(IntegrityError, match="certificates that sign no entry"):
        _verify(workspace, copy)


# -- the Merkle tree ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "index"), [(0, 0), (0, 7), (0, SIZE - 1), (1, 4), (2, 1), (3, 2), (5, 0)]
)
def test_flipped_byte_in_tree_node(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, level: int, index: int
) -> None:
    (h,) = _one(db, "SELECT hash FROM nodes WHERE level = ? AND idx = ?", level, index)
    data = bytearray(h)
    data[17] ^= 0x80
    db.execute("UPDATE nodes SET hash = ? WHERE level = ? AND idx = ?", (bytes(data), level, index))
    # A node is recomputed when the last leaf under it is appended.
    _fails_at(workspace, copy, (index + 1) * 2**level - 1)


@pytest.mark.parametrize(("level", "index"), [(0, 3), (1, 4), (2, 1), (0, SIZE - 1)])
def test_deleted_tree_node(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, level: int, index: int
) -> None:
    """Nodes are read a range per level: one missing inside the range is still found."""
    db.execute("DELETE FROM nodes WHERE level = ? AND idx = ?", (level, index))
    failure = _fails_at(workspace, copy, None)
    assert f"tree node NodeID(level={level}, index={index}) is missing" in str(failure)


def test_extra_tree_node(workspace: Workspace, copy: Path, db: sqlite3.Connection) -> None:
    db.execute("INSERT INTO nodes (level, idx, hash) VALUES (6, 0, ?)", (bytes(32),))
    _fails_at(workspace, copy, None)


# -- checkpoints --------------------------------------------------------------------------


def _note(db: sqlite3.Connection, size: int) -> str:
    (note,) = _one(db, "SELECT note FROM checkpoints WHERE size = ?", size)
    return str(note)


def _store_note(db: sqlite3.Connection, size: int, note: str) -> None:
    db.execute("UPDATE checkpoints SET note = ? WHERE size = ?", (note, size))


@pytest.mark.parametrize("size", [1, 10, SIZE])
def test_changed_checkpoint_root(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, size: int
) -> None:
    note = _note(db, size)
    root = ckpt.Checkpoint.parse(Note.parse(note).text).root_hash
    forged = base64.b64encode(bytes(b ^ 0xFF for b in root)).decode()
    _store_note(db, size, note.replace(base64.b64encode(root).decode(), forged))
    _fails_at(workspace, copy, size - 1)


def test_checkpoint_resigned_by_log_key_with_wrong_root(
    workspace: Workspace, copy: Path, db: sqlite3.Connection
) -> None:
    """Even the log's own key cannot vouch for a root the log does not have."""
    cp = ckpt.Checkpoint(workspace.consortium.origin, 10, bytes(32))
    _store_note(db, 10, ckpt.sign_checkpoint(cp, workspace.log_signer()))
    _fails_at(workspace, copy, 9)


def test_changed_checkpoint_signature(
    workspace: Workspace, copy: Path, db: sqlite3.Connection
) -> None:
    parsed = Note.parse(_note(db, 20))
    (sig,) = parsed.signatures
    bad = NoteSignature(sig.name, sig.key_id, bytes([sig.signature[0] ^ 1]) + sig.signature[1:])
    _store_note(db, 20, Note(parsed.text, (bad,)).format())
    _fails_at(workspace, copy, 19)


def test_cosignature_by_unknown_key_is_ignored(
    workspace: Workspace, copy: Path, db: sqlite3.Connection
) -> None:
    stranger, _ = ckpt.generate_signer("witness.stranger")
    note = ckpt.add_cosignature(_note(db, SIZE), stranger, 1_700_000_000)
    parsed = Note.parse(note)
    junk = NoteSignature("random.name", os.urandom(4), os.urandom(72))
    _store_note(db, SIZE, Note(parsed.text, (*parsed.signatures, junk)).format())
    report = _verify(workspace, copy)
    assert report.size == SIZE
    assert report.cosignatures == 0


@pytest.mark.parametrize("size", [10, SIZE])
@pytest.mark.parametrize("org_id", ["AGENCY-A", "AUDITOR-X"])
def test_forged_cosignature_by_known_witness_fails(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, org_id: str, size: int
) -> None:
    witness = ckpt.NoteVerifier.from_vkey(workspace.consortium.organisation(org_id).witness_vkey)
    cosigner = witness.as_type(SigType.COSIGNATURE_V1)
    parsed = Note.parse(_note(db, size))
    forged = NoteSignature(cosigner.name, cosigner.key_id, os.urandom(72))
    _store_note(db, size, Note(parsed.text, (*parsed.signatures, forged)).format())
    _fails_at(workspace, copy, size - 1)


def test_deleted_checkpoint_still_verifies_the_rest(
    workspace: Workspace, copy: Path, db: sqlite3.Connection
) -> None:
    """Checkpoints are attestations, not data: dropping one loses nothing verifiable."""
    db.execute("DELETE FROM checkpoints WHERE size = 5")
    assert _verify(workspace, copy).checkpoints == STORY + len(BATCHES) - 1


# -- checkpoints that must be there: the newest, and what witnesses cosigned -------------

WITNESSED = 32  # a checkpoint of the batches, cosigned by an independent witness


@pytest.fixture
def listed(session_witnesses: TestWitnesses) -> NoteSigner:
    """AUDITOR-X's witness key, as the consortium lists it."""
    return session_witnesses.homes["AUDITOR-X"].signer()


def _witness(tmp_path: Path, workspace: Workspace, note: str, key: NoteSigner) -> Path:
    """A real witness with ``key`` and a SQLite state of its own that has cosigned ``note``."""
    state = tmp_path / "witness" / STATE_FILE
    state.parent.mkdir()
    log = TrustedLog.from_vkey(workspace.consortium.origin, workspace.consortium.log_vkey)
    witness = Witness(key, [log], WitnessStore(f"sqlite:///{state}"))
    try:
        witness.add_checkpoint(f"old 0\n\n{note}".encode())
    finally:
        witness.store.close()
    return state


def _note_at(original: Path, size: int) -> str:
    with closing(sqlite3.connect(original)) as conn:
        (note,) = _one(conn, "SELECT note FROM checkpoints WHERE size = ?", size)
    return str(note)


@pytest.fixture
def witness_state(original: Path, workspace: Workspace, tmp_path: Path, listed: NoteSigner) -> Path:
    return _witness(tmp_path, workspace, _note_at(original, WITNESSED), listed)


def _refused(workspace: Workspace, copy: Path, *states: Path) -> IntegrityError:
    engine = make_engine(f"sqlite:///{copy}")
    notes = {
        f"witness {i}": seen.note
        for i, path in enumerate(states)
        if (seen := witnessed_in(path, workspace.consortium.origin)) is not None
    }
    assert len(notes) == len(states)
    try:
        with pytest.raises(IntegrityError) as caught:
            verify_ledger(engine, workspace.consortium, witnessed=notes)
    finally:
        engine.dispose()
    return caught.value


def test_the_copy_agrees_with_the_witness(
    workspace: Workspace, copy: Path, witness_state: Path
) -> None:
    engine = make_engine(f"sqlite:///{copy}")
    try:
        seen = witnessed_in(witness_state, workspace.consortium.origin)
        assert seen is not None
        notes = {"witness": seen.note}
        assert verify_ledger(engine, workspace.consortium, witnessed=notes).size == SIZE
    finally:
        engine.dispose()


def test_deleted_latest_checkpoint(
    workspace: Workspace, copy: Path, db: sqlite3.Connection
) -> None:
    db.execute("DELETE FROM checkpoints WHERE size = ?", (SIZE,))
    exc = _fails_at(workspace, copy, SIZE - 1)
    assert exc.code == "missing_checkpoint"
    assert f"no checkpoint covers the log's {SIZE} entries" in str(exc)


def test_deleted_cosigned_checkpoint(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, witness_state: Path
) -> None:
    db.execute("DELETE FROM checkpoints WHERE size = ?", (WITNESSED,))
    exc = _refused(workspace, copy, witness_state)
    assert exc.code == "missing_checkpoint"
    assert f"size {WITNESSED} that witness.auditor-x (witness 0) cosigned is missing" in str(exc)


def test_log_rolled_back_behind_the_witness(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, witness_state: Path
) -> None:
    db.execute("DELETE FROM log WHERE seq >= 30")
    db.execute("DELETE FROM checkpoints WHERE size > 30")
    exc = _refused(workspace, copy, witness_state)
    assert exc.code == "log_behind_witness"
    assert f"size {WITNESSED} that witness.auditor-x (witness 0) cosigned" in str(exc)


def test_log_forked_from_what_the_witness_cosigned(
    workspace: Workspace, copy: Path, original: Path, tmp_path: Path, listed: NoteSigner
) -> None:
    """The log's key signed another tree of the same size, and a witness cosigned it."""
    real = ckpt.open_checkpoint(
        _note_at(original, WITNESSED),
        ckpt.NoteVerifier.from_vkey(workspace.consortium.log_vkey),
    ).checkpoint
    other = ckpt.Checkpoint(real.origin, real.size, bytes(32))
    forked = ckpt.sign_checkpoint(other, workspace.log_signer())
    state = _witness(tmp_path, workspace, forked, listed)
    exc = _refused(workspace, copy, state)
    assert exc.code == "log_inconsistent"
    assert f"size {WITNESSED} does not hash to the root witness.auditor-x (witness 0)" in str(exc)


def test_cli_verifies_against_a_witness_state(
    workspace: Workspace, copy: Path, db: sqlite3.Connection, witness_state: Path, tmp_path: Path
) -> None:
    pinned = tmp_path / "consortium.json"  # asks no quorum: the ledger was never shown one
    replace(workspace.consortium, witness_quorum=0).save(pinned)
    args = ["verify", "--dir", str(workspace.root), "--ledger", f"sqlite:///{copy}"]
    args += ["--consortium", str(pinned)]
    runner = CliRunner()
    good = runner.invoke(cli, [*args, "--witness-state", str(witness_state)])
    assert good.exit_code == 0, good.output
    assert "agrees with 1 witness" in good.output
    db.execute("DELETE FROM checkpoints WHERE size = ?", (WITNESSED,))
    assert runner.invoke(cli, args).exit_code == 0  # nothing says it was ever there
    bad = runner.invoke(cli, [*args, "--witness-state", str(witness_state)])
    assert bad.exit_code == 1
    assert isinstance(bad.exception, IntegrityError)
    assert bad.exception.code == "missing_checkpoint"


def test_a_witness_state_no_listed_witness_cosigned_is_refused(
    workspace: Workspace, copy: Path, original: Path, tmp_path: Path
) -> None:
    """The log's signature alone is the operator's word: a state file whose note a witness
    of the consortium did not cosign (the log's note as it stands, or one a key the
    consortium does not list cosigned) says nothing of what the witnesses saw."""
    note = _note_at(original, WITNESSED)  # the log's signature, no cosignature
    log_only = tmp_path / "log-only.db"
    WitnessStore(f"sqlite:///{log_only}").close()
    cp = ckpt.Checkpoint.parse(Note.parse(note).text)
    with closing(sqlite3.connect(log_only)) as conn, conn:
        conn.execute(
            "INSERT INTO witnessed VALUES (?, ?, ?, ?)", (cp.origin, cp.size, cp.root_hash, note)
        )
    stranger = WitnessHome.create(tmp_path / "stranger", "AUDITOR-X").signer()
    unlisted = _witness(tmp_path, workspace, note, stranger)
    args = ["verify", "--dir", str(workspace.root), "--ledger", f"sqlite:///{copy}"]
    args += ["--consortium", str(workspace.root / "consortium.json")]
    for state in (log_only, unlisted):
        done = CliRunner().invoke(cli, [*args, "--witness-state", str(state)])
        assert done.exit_code == 1, done.output
        assert isinstance(done.exception, IntegrityError)
        assert done.exception.code == "bad_witness_checkpoint"
        assert str(state) in str(done.exception)
