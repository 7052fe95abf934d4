"""The off-chain store on SQLite and on a real PostgreSQL: migrations, isolation, erasure."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, create_engine, event, select, text

from ledger_gw.bootstrap import open_gateway
from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import RejectedError, UnavailableError
from ledger_gw.offchain.models import AuditRecord, Base, Person
from ledger_gw.offchain.store import MIGRATIONS, OffchainStore, org_url
from ledger_gw.services import registrations, request_log
from ledger_gw.services.access import (
    Caller,
    Role,
    authenticate,
    issue_token,
    list_tokens,
    revoke_token,
)
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import Workspace
from tests.support.gateways import gateway_on

ORGS = ("AGENCY-A", "AGENCY-B")


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("off") / "ws"
    Workspace.create(root, DEMO)
    return root


@pytest.fixture(params=["sqlite", "postgresql"])
def gateway(request: pytest.FixtureRequest, consortium: Path, tmp_path: Path) -> Iterator[Gateway]:
    with gateway_on(request, consortium, tmp_path, ORGS) as gw:
        yield gw


def test_migrations_are_idempotent(gateway: Gateway) -> None:
    for store in gateway.stores.values():
        store.migrate()
        store.ping()


def test_the_migrations_make_the_models_schema(gateway: Gateway) -> None:
    """What the code reads and writes is what the migrations made: no table, column,
    index, key or nullability of the models missing from a migrated store, or different."""
    for store in gateway.stores.values():
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn)
            assert compare_metadata(context, Base.metadata) == []


def test_registrations_page_in_order_reading_no_further_than_each_page(
    gateway: Gateway,
) -> None:
    """However many people an agency holds, a page of its list reads the rows it shows
    and one more; people registered in the same instant each appear once, in order."""
    a = Caller("t", "AGENCY-A", Role.AGENCY_WRITER)
    for i in range(25):
        family = "Nasser" if i % 3 == 0 else "Haddad"
        registrations.register(gateway, a, {"given_name": f"Person {i}", "family_name": family})
    with gateway.store("AGENCY-A").session() as s:  # ten of them in one instant
        people = list(s.scalars(select(Person)))
        for person in people[5:15]:
            person.created_at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        in_order = sorted(people, key=lambda p: (p.created_at, p.id))
        nassers = [p.id for p in in_order if p.attributes["family_name"] == "Nasser"]
        everyone = [p.id for p in in_order]
    loaded: list[str] = []

    def count(target: Person, context: object) -> None:
        loaded.append(target.id)

    def pages(q: str | None) -> tuple[list[str], list[int]]:
        ids: list[str] = []
        reads: list[int] = []
        cursor = None
        while True:
            loaded.clear()
            page = registrations.search(gateway, a, q, cursor, 4)
            reads.append(len(loaded))
            ids += [view["person_id"] for view in page.items]
            if page.next is None:
                return ids, reads
            cursor = page.next

    event.listen(Person, "load", count)
    try:
        listed, reads = pages(None)
        found, _ = pages("nASSER")
    finally:
        event.remove(Person, "load", count)
    assert listed == everyone
    assert max(reads) == 5  # four shown, one to know there is more
    assert found == nassers


def test_register_correct_erase_and_isolation(gateway: Gateway) -> None:
    a = Caller("t", "AGENCY-A", Role.AGENCY_WRITER)
    b = Caller("t", "AGENCY-B", Role.AGENCY_WRITER)
    person = registrations.register(gateway, a, {"given_name": "Fatima"})
    doc = registrations.add_document(gateway, a, person["person_id"], "referral", b"note")
    assert registrations.get(gateway, a, person["person_id"])["pid"] == person["pid"]
    with pytest.raises(RejectedError):  # B's database does not hold A's people
        registrations.get(gateway, b, person["person_id"])
    with pytest.raises(RejectedError):  # a rejected request changes nothing
        registrations.register(gateway, a, {"given_name": "Fatima"})
    registrations.correct(gateway, a, person["person_id"], {"given_name": "Fatma"})
    registrations.erase(gateway, a, person["person_id"])
    with pytest.raises(RejectedError):
        registrations.get_document(gateway, a, person["person_id"], doc["document_id"])
    with gateway.stores["AGENCY-A"].engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM documents")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM persons")).scalar() == 0


def test_tokens(gateway: Gateway) -> None:
    store = gateway.stores["AGENCY-A"]
    token_id, token = issue_token(store, "agency", "agency-reader")
    assert authenticate(store, token).role == Role.AGENCY_READER
    with gateway.stores["AGENCY-A"].engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM api_tokens")).scalar()
    assert stored != token
    assert token.split(".")[-1] not in str(stored)
    revoke_token(store, token_id)
    with pytest.raises(Exception, match="revoked"):
        authenticate(store, token)


def test_url_template_needs_an_org_placeholder() -> None:
    assert org_url("sqlite:///x-{org}.db", "AGENCY-A") == "sqlite:///x-AGENCY-A.db"
    assert org_url("postgresql://h/o_{org_slug}", "AGENCY-A") == "postgresql://h/o_agency_a"
    with pytest.raises(Exception, match="one DB per org"):
        org_url("sqlite:///shared.db", "AGENCY-A")
    assert OffchainStore  # imported for the type


@contextmanager
def _sqlite_gateway(tmp_path: Path) -> Iterator[tuple[Gateway, Callable[[], bytes]]]:
    """A gateway on SQLite files, and what AGENCY-A's off-chain database and its WAL
    hold on disk, bytes as written."""
    ws = tmp_path / "ws"
    Workspace.create(ws, DEMO)
    config = GatewayConfig(
        directory=ws,
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        offchain_url=f"sqlite:///{tmp_path}/offchain-{{org}}.db",
        orgs=ORGS,
    )
    gw = open_gateway(config)
    files = [tmp_path / "offchain-AGENCY-A.db", tmp_path / "offchain-AGENCY-A.db-wal"]

    def on_disk() -> bytes:
        return b"".join(f.read_bytes() for f in files if f.exists())

    try:
        yield gw, on_disk
    finally:
        gw.close()


def test_erasure_leaves_nothing_readable_in_the_sqlite_files(tmp_path: Path) -> None:
    """Crypto-shredding holds on disk: the record, the document and its salt are gone from
    the database file and its WAL, not merely unlinked from the tables."""
    with _sqlite_gateway(tmp_path) as (gw, on_disk):
        a = Caller("t", "AGENCY-A", Role.AGENCY_WRITER)
        person = registrations.register(gw, a, {"given_name": "Qwertzuiopa"})
        registrations.correct(gw, a, person["person_id"], {"given_name": "Asdfghjklo"})
        registrations.add_document(gw, a, person["person_id"], "referral", b"Yxcvbnmlkj")
        with gw.stores["AGENCY-A"].engine.connect() as conn:
            salt = conn.execute(text("SELECT salt FROM documents")).scalar()
        secrets = [b"Qwertzuiopa", b"Asdfghjklo", b"Yxcvbnmlkj", bytes(salt)]
        assert all(s in on_disk() for s in secrets[1:])  # the check can see them

        registrations.erase(gw, a, person["person_id"])
        data = on_disk()
        assert [s for s in secrets if s in data] == []


def test_a_correction_leaves_nothing_of_the_old_attributes_in_the_sqlite_files(
    tmp_path: Path,
) -> None:
    """What she corrected is as gone from the file and its WAL as what is erased: SQLite
    zeroes the replaced row version (`secure_delete`), and the WAL is emptied."""
    with _sqlite_gateway(tmp_path) as (gw, on_disk):
        a = Caller("t", "AGENCY-A", Role.AGENCY_WRITER)
        person = registrations.register(gw, a, {"given_name": "Plokijuhzgt"})
        assert b"Plokijuhzgt" in on_disk()  # the check can see it
        registrations.correct(gw, a, person["person_id"], {"given_name": "Mjunhzbgtv"})
        data = on_disk()
        assert b"Plokijuhzgt" not in data
        assert b"Mjunhzbgtv" in data


def _row_versions(conn: Connection, table: str) -> int:
    """The row versions, live or dead, that a PostgreSQL table's pages hold (its line
    pointers in use, LP_NORMAL), read from its file once a checkpoint has written it:
    the server is the test's own, on this machine."""
    conn.execute(text("CHECKPOINT"))
    home = Path(str(conn.execute(text("SHOW data_directory")).scalar()))
    path = home / str(conn.execute(text("SELECT pg_relation_filepath(:t)"), {"t": table}).scalar())
    page = int(str(conn.execute(text("SHOW block_size")).scalar()))
    data = path.read_bytes() if path.exists() else b""  # one segment: small tables
    found = 0
    for start in range(0, len(data), page):
        (lower,) = struct.unpack_from("<H", data, start + 12)  # pd_lower: end of the pointers
        for at in range(start + 24, start + lower, 4):  # after the 24-byte page header
            (pointer,) = struct.unpack_from("<I", data, at)
            found += (pointer >> 15) & 3 == 1  # lp_flags
    return found


@pytest.fixture(params=["postgresql"])
def pg_gateway(
    request: pytest.FixtureRequest, consortium: Path, tmp_path: Path
) -> Iterator[Gateway]:
    with gateway_on(request, consortium, tmp_path, ORGS) as gw:
        yield gw


def test_on_postgresql_no_row_version_of_what_was_erased_or_corrected_stays(
    pg_gateway: Gateway,
) -> None:
    """PostgreSQL keeps a deleted or replaced row version until VACUUM, which autovacuum
    does not run for a few: an erasure or a correction runs it."""
    gw = pg_gateway
    a = Caller("t", "AGENCY-A", Role.AGENCY_WRITER)
    kept = registrations.register(gw, a, {"given_name": "Qaywsxedcr"})
    gone = registrations.register(gw, a, {"given_name": "Rfvtgbzhnu"})
    registrations.add_document(gw, a, gone["person_id"], "referral", b"Ujmikolpqw")
    with gw.stores["AGENCY-A"].engine.begin() as conn:
        conn.execute(text("UPDATE persons SET updated_at = updated_at"))
    with gw.stores["AGENCY-A"].engine.connect() as conn:
        assert _row_versions(conn, "persons") == 4  # the check sees dead versions
    registrations.correct(gw, a, kept["person_id"], {"given_name": "Tgbzhnujmi"})
    with gw.stores["AGENCY-A"].engine.connect() as conn:
        assert _row_versions(conn, "persons") == 2  # each as it is now
    registrations.erase(gw, a, gone["person_id"])
    with gw.stores["AGENCY-A"].engine.connect() as conn:
        assert _row_versions(conn, "persons") == 1
        assert _row_versions(conn, "documents") == 0


def test_on_postgresql_a_vacuum_that_cannot_run_is_logged_and_the_erasure_stands(
    pg_gateway: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A table another holds (here a lock VACUUM waits for, and a deletion does not):
    the VACUUM gives up after its timeout, logged, and the erasure has happened."""
    monkeypatch.setattr("ledger_gw.offchain.store.VACUUM_LOCK_TIMEOUT_MS", 200)
    gw = pg_gateway
    a = Caller("t", "AGENCY-A", Role.AGENCY_WRITER)
    person = registrations.register(gw, a, {"given_name": "Wsxedcrfvt"})
    store = gw.stores["AGENCY-A"]
    with store.engine.connect() as holder:
        holder.execute(text("LOCK TABLE persons IN SHARE UPDATE EXCLUSIVE MODE"))
        with caplog.at_level(logging.ERROR, "ledger_gw.offchain.store"):
            assert registrations.erase(gw, a, person["person_id"]) == person["pid"]
        holder.rollback()
    assert "VACUUM failed" in caplog.text
    with pytest.raises(RejectedError):
        registrations.get(gw, a, person["person_id"])
    with store.engine.connect() as conn:
        assert _row_versions(conn, "persons") == 1  # dead, left to the next VACUUM
    other = registrations.register(gw, a, {"given_name": "Edcrfvtgbz"})
    registrations.correct(gw, a, other["person_id"], {"given_name": "Rfvtgbzhnm"})
    with store.engine.connect() as conn:
        assert _row_versions(conn, "persons") == 1  # the next one vacuums it


def _stored(name: bytes, where: Path) -> bool:
    files = [where / "o.db", where / "o.db-wal"]
    return any(name in f.read_bytes() for f in files if f.exists())


def _erased_in_wal(tmp_path: Path, name: bytes) -> OffchainStore:
    """A store whose last erasure is committed and still in the WAL (the purge after it
    not yet done)."""
    store = OffchainStore("AGENCY-A", f"sqlite:///{tmp_path / 'o.db'}")
    store.migrate()
    with store.session() as s:
        s.add(Person(id="p1", pid="k1.x", attributes={"given_name": name.decode()}))
    with store.session() as s:
        s.delete(s.get(Person, "p1"))
    assert _stored(name, tmp_path)  # the check can see it
    return store


def test_an_erasure_a_reader_held_up_leaves_the_wal_once_the_reader_is_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoint that empties the WAL gives up while a reader holds an older
    snapshot: the erasure stands, and the purge is tried again until it is done."""
    monkeypatch.setattr("ledger_gw.offchain.store._BUSY_TIMEOUT_MS", 200)
    monkeypatch.setattr("ledger_gw.offchain.store.PURGE_RETRY_S", 0.1)
    store = _erased_in_wal(tmp_path, b"Mnbvcxylkj")
    reader = sqlite3.connect(tmp_path / "o.db")
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM persons").fetchone()  # an older snapshot
        store.purge_deleted()
        assert _stored(b"Mnbvcxylkj", tmp_path)  # held up
    finally:
        reader.close()
    deadline = time.monotonic() + 10
    while _stored(b"Mnbvcxylkj", tmp_path):
        assert time.monotonic() < deadline, "the WAL still holds an erased record"
        time.sleep(0.05)


def test_closing_the_store_ends_a_purge_a_reader_holds_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ledger_gw.offchain.store._BUSY_TIMEOUT_MS", 200)
    store = _erased_in_wal(tmp_path, b"Lkjhgfdsaq")
    reader = sqlite3.connect(tmp_path / "o.db")
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM persons").fetchone()
        store.purge_deleted()
        assert any(t.name == "offchain-purge" for t in threading.enumerate())
        store.close()
        assert not any(t.name == "offchain-purge" for t in threading.enumerate())
    finally:
        reader.close()


CRASHES_AFTER_ERASING = """
import os, sys
from pathlib import Path
from ledger_gw.offchain.models import Person
from ledger_gw.offchain.store import OffchainStore
store = OffchainStore("AGENCY-A", f"sqlite:///{Path(sys.argv[1]) / 'o.db'}")
store.migrate()
with store.session() as s:
    s.add(Person(id="p1", pid="k1.x", attributes={"given_name": "Poiuztrewq"}))
with store.session() as s:
    s.delete(s.get(Person, "p1"))
os._exit(137)  # killed between the erasure's commit and its purge
"""


def test_an_erasure_a_crash_interrupted_leaves_the_wal_at_the_next_start(
    tmp_path: Path,
) -> None:
    crashed = subprocess.run([sys.executable, "-c", CRASHES_AFTER_ERASING, str(tmp_path)])
    assert crashed.returncode == 137
    assert _stored(b"Poiuztrewq", tmp_path)
    restarted = OffchainStore("AGENCY-A", f"sqlite:///{tmp_path / 'o.db'}")
    restarted.migrate()  # as every start does
    assert not _stored(b"Poiuztrewq", tmp_path)


def test_a_database_from_before_token_expiry_migrates_with_its_tokens(tmp_path: Path) -> None:
    """Tokens issued before expiry existed keep working, now with the default lifetime."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(
            text(
                "INSERT INTO api_tokens (id, token_hash, org, role, label, created_at) "
                "VALUES ('00000000000000aa', 'h', 'AGENCY-A', 'agency-reader', '', "
                "'2026-01-01 00:00:00')"
            )
        )
    engine.dispose()
    store = OffchainStore("AGENCY-A", url)
    store.migrate()
    (info,) = list_tokens(store)
    assert info.expires_at is not None
    store.close()


def _audited_routes(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT route FROM audit_log")).scalars())
    finally:
        engine.dispose()


def test_an_audit_record_is_stored_as_the_orm_stores_it(gateway: Gateway) -> None:
    """Its values pass through the column types: the time stored in UTC, as the ORM's."""
    store = gateway.store("AGENCY-A")
    at = dt.datetime(2026, 3, 1, 14, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    fields = {
        "token_id": "tok", "role": "auditor", "method": "GET",
        "route": "/v1/persons/<pid>/history", "pid": "h.1", "status": 404, "code": "not_found",
    }  # fmt: skip
    store.audit({"at": at, **fields})
    with store.session() as session:
        session.add(AuditRecord(at=at, **{**fields, "token_id": "orm"}))
    with store.reading() as session:
        stored = dict(
            session.execute(
                text("SELECT token_id, at FROM audit_log WHERE token_id IN ('tok', 'orm')")
            ).all()
        )
        (row,) = session.scalars(select(AuditRecord).where(AuditRecord.token_id == "tok"))
    assert stored["tok"] == stored["orm"]
    assert row.at == at
    assert row.at.utcoffset() == dt.timedelta(0)
    assert {k: getattr(row, k) for k in fields} == fields


def test_audit_records_of_concurrent_requests_are_each_committed_on_return(
    gateway: Gateway,
) -> None:
    store = gateway.store("AGENCY-A")
    url = store.engine.url.render_as_string(hide_password=False)

    def one(n: int) -> bool:
        route = f"/v1/test/{n}"
        store.audit(request_log.row(
            token_id="t", role="agency-writer", method="POST", route=route,
            pid=None, status=201, code=None,
        ))  # fmt: skip
        return route in _audited_routes(url)  # another connection sees it at once

    with ThreadPoolExecutor(16) as pool:
        seen = list(pool.map(one, range(64)))
    assert all(seen)
    assert _audited_routes(url) >= {f"/v1/test/{n}" for n in range(64)}


def test_audit_records_arriving_during_a_commit_share_the_next_one(gateway: Gateway) -> None:
    store = gateway.store("AGENCY-B")
    url = store.engine.url.render_as_string(hide_password=False)
    commits: list[int] = []
    first, release = threading.Event(), threading.Event()

    def committing(_conn: object) -> None:
        commits.append(len(commits))
        if len(commits) == 1:  # hold the first commit while eight more requests arrive
            first.set()
            assert release.wait(10)

    def one(n: int) -> None:
        store.audit(request_log.row(
            token_id="t", role="agency-writer", method="POST", route=f"/v1/group/{n}",
            pid=None, status=201, code=None,
        ))  # fmt: skip

    event.listen(store._audit, "commit", committing)
    try:
        with ThreadPoolExecutor(9) as pool:
            held = pool.submit(one, 0)
            assert first.wait(10)
            later = [pool.submit(one, n) for n in range(1, 9)]
            for _ in range(1000):
                if len(store._audit_rows._waiting) == 8:
                    break
                time.sleep(0.005)
            release.set()
            for f in [held, *later]:
                f.result()
    finally:
        event.remove(store._audit, "commit", committing)
    assert len(commits) == 2  # the held one, then the eight that waited for it
    assert _audited_routes(url) >= {f"/v1/group/{n}" for n in range(9)}


def test_an_audit_record_that_cannot_be_written_is_reported_and_writes_nothing(
    gateway: Gateway,
) -> None:
    store = gateway.store("AGENCY-A")
    url = store.engine.url.render_as_string(hide_password=False)
    before = _audited_routes(url)
    with pytest.raises(UnavailableError) as caught:
        store.audit({"method": "POST", "route": "/v1/refused", "status": None})
    assert caught.value.code == "offchain_unavailable"
    assert _audited_routes(url) == before
    store.audit(request_log.row(
        token_id=None, role=None, method="GET", route="/v1/after",
        pid=None, status=200, code=None,
    ))  # fmt: skip
    assert _audited_routes(url) == before | {"/v1/after"}
