"""Engines, sessions and migrations of the per-organisation off-chain databases.

SQLite (the default; see ledger_gw.sqlite) lets several gunicorn workers write the
same file. PostgreSQL gets one database per organisation from a URL template.
Migrations are Alembic revisions under `migrations/`, applied programmatically.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import sqlite3
import stat
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Connection,
    Engine,
    String,
    column,
    create_engine,
    delete,
    insert,
    inspect,
    make_url,
    select,
    table,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ledger_gw.errors import ConfigError, UnavailableError
from ledger_gw.files import SECRET, append_line
from ledger_gw.grouping import Grouped
from ledger_gw.offchain.models import (
    AuditRecord,
    Document,
    Person,
    PersonAlias,
    SealedHandover,
    StoreOwner,
)
from ledger_gw.sqlite import READ_ONLY, file_gone, sqlite_engine, sqlite_reader

_log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
_BUSY_TIMEOUT_MS = 30_000
PURGE_RETRY_S = 1.0  # between tries to empty the WAL after an erasure
#: How long a VACUUM after an erasure waits for a table another holds (a long autovacuum,
#: a migration) before it gives up, logged: the erasure does not wait on it unbounded.
VACUUM_LOCK_TIMEOUT_MS = 5_000
_MIGRATION_LOCK_ID = 0x4F464643  # "OFFC"
_ERASED_AT_ONCE = 500  # person IDs of the erasure journal a statement deletes at most
#: A person ID (a random UUID) in the erasure journal: read wherever it is in its line, so
#: that one appended after a line a crash cut short (or left as zeros) is read all the same.
_PERSON_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: Where Alembic keeps the schema's revision: the first migration makes it, so a database
#: without a row in it holds no off-chain store (a new one, or one lost and made again).
VERSION_TABLE = "alembic_version"
#: The tables where an erasure or a correction leaves her personal data in dead rows.
_PERSONAL = tuple(m.__tablename__ for m in (Person, PersonAlias, Document, SealedHandover))


def org_url(template: str, org_id: str) -> str:
    """`{org}` is the organisation ID as is; `{org_slug}` lower case with underscores."""
    if "{org}" not in template and "{org_slug}" not in template:
        raise ConfigError("the off-chain URL must contain {org} or {org_slug}: one DB per org")
    return template.replace("{org}", org_id).replace("{org_slug}", org_id.lower().replace("-", "_"))


def offchain_missing(url: str) -> str | None:
    """What is missing of the off-chain store at ``url``, None when it holds one: an
    SQLite file that is not there, or a database (an SQLite file, a PostgreSQL database)
    whose schema was never migrated. Reads only: creates no file, writes no byte. One in
    memory is never missing, nothing of it outlives its process."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ":memory:"
        if database == ":memory:" or database.startswith("file:"):
            return None
        if not Path(database).is_file():
            return f"{database} is missing"
        engine = sqlite_reader(url, _BUSY_TIMEOUT_MS, {})
    else:
        engine = create_engine(url, hide_parameters=True)
    try:
        with engine.connect() as conn:
            revision = select(column("version_num", String)).select_from(table(VERSION_TABLE))
            if inspect(conn).has_table(VERSION_TABLE) and conn.execute(revision).first():
                return None
    finally:
        engine.dispose()
    return f"{parsed.render_as_string(hide_password=True)} holds no off-chain store"


def make_engine(url: str, synchronous: str = "FULL") -> Engine:
    """An engine whose errors and logs show no bound parameter: those are her attributes,
    documents and salts, which a failing statement's message would otherwise carry into
    the logs and to whoever reads them."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, hide_parameters=True)
    # Erasure must leave nothing readable in the file: zero what is deleted, whatever
    # the platform's SQLite was built with.
    pragmas = {"synchronous": synchronous, "foreign_keys": "ON", "secure_delete": "ON"}
    engine = sqlite_engine(url, _BUSY_TIMEOUT_MS, pragmas)
    # Before any connection or derived engine copies it (Engine.execution_options).
    engine.hide_parameters = True
    return engine


class OffchainStore:
    """One organisation's database.

    `erased`: its erasure journal, a file kept apart from it (in the gateway's
    directory) that names the registration of each person erased here by its person
    ID, a random ID that identifies no one once she is gone. A backup of the store taken
    before an erasure still holds her: restored, she is erased again at every start
    (`migrate`, `erase_again`), rather than served again. `noting`: whether erasures
    are noted in it; a journal this process may not write (a read-only mount) is read
    all the same, so that the erasures it names stay erased."""

    def __init__(
        self, org_id: str, url: str, erased: Path | None = None, *, noting: bool = True
    ) -> None:
        self.org_id = org_id
        self.erased = erased
        self.noting = noting
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )
        # The audit log is written on every request. In WAL mode, synchronous=NORMAL
        # keeps a commit through a crash of the process but skips the fsync, so reads
        # do not wait for the disk; the next FULL commit makes those records durable.
        self._audit = make_engine(url, synchronous="NORMAL")
        self._audit_rows: Grouped[Mapping[str, Any], None] = Grouped(self._write_audit)
        self._purging = threading.Lock()
        self._purger: threading.Thread | None = None
        self._closed = threading.Event()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back (changing nothing) on error."""
        with self._unit(self._sessions) as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only unit of work: it takes no write lock."""
        with self._unit(self._readers) as session:
            yield session

    def audit(self, record: Mapping[str, Any]) -> None:
        """One row of the audit log, committed when this returns. Written on every
        request, so the rows of concurrent requests share one commit (ledger_gw.grouping)."""
        self._audit_rows([record])

    def _write_audit(self, records: list[Mapping[str, Any]]) -> list[None]:
        """A plain INSERT, where the ORM's unit of work costs more than the write."""
        try:
            with self._audit.begin() as conn:
                conn.execute(insert(AuditRecord), records)
        except SQLAlchemyError as exc:
            raise UnavailableError(
                f"off-chain store of {self.org_id} failed: {exc.__class__.__name__}",
                code="offchain_unavailable",
            ) from exc
        return [None] * len(records)

    @contextmanager
    def _unit(self, factory: sessionmaker[Session]) -> Iterator[Session]:
        try:
            with factory.begin() as session:
                yield session
        except SQLAlchemyError as exc:
            raise UnavailableError(
                f"off-chain store of {self.org_id} failed: {exc.__class__.__name__}",
                code="offchain_unavailable",
            ) from exc

    def purge_deleted(self) -> None:
        """After personal data is deleted or overwritten (an erasure, a correction, a
        hand-over package gone), leave no older copy of it where the database keeps one.

        SQLite (which zeroes what is deleted, `secure_delete`): move the WAL into the
        database and truncate it, so that no older copy of a page stays in the WAL file.
        A reader in the way makes the checkpoint give up: it is tried again in the
        background until it is done or the store is closed (and once more when the
        store is next migrated, as at every start, for an erasure a crash or a close
        interrupted).

        PostgreSQL: VACUUM the tables personal data lives in, so that no dead row version
        of it stays in them (autovacuum waits until there are many). A dead row that a
        transaction still open may read is left to the next VACUUM (the next purge's,
        or the next start's). VACUUM frees the rows' space for reuse but does not
        overwrite it, pg_wal keeps them until its segments are recycled, and WAL archives
        and backups as long as they are kept: protect that storage accordingly. A
        failure, or a table another holds past VACUUM_LOCK_TIMEOUT_MS, is logged, and
        what was deleted stays deleted."""
        if self.engine.dialect.name == "postgresql":
            self._vacuum()
            return
        if self.engine.dialect.name != "sqlite" or self._truncated():
            return
        _log.warning("off-chain store of %s: WAL not emptied yet after an erasure", self.org_id)
        with self._purging:
            if self._purger is not None and self._purger.is_alive():
                return
            self._purger = threading.Thread(
                target=self._purge_until_done, name="offchain-purge", daemon=True
            )
            self._purger.start()

    def _vacuum(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT")  # VACUUM takes no transaction
                conn.execute(text(f"SET lock_timeout = {int(VACUUM_LOCK_TIMEOUT_MS)}"))
                try:
                    conn.execute(text(f"VACUUM {', '.join(_PERSONAL)}"))
                finally:
                    conn.execute(text("RESET lock_timeout"))  # the pool's next user's own
        except SQLAlchemyError:
            _log.error(
                "off-chain store of %s: VACUUM failed, dead rows may still hold erased or "
                "corrected personal data (the next erasure or start vacuums them)",
                self.org_id,
                exc_info=True,
            )

    def _truncated(self) -> bool:
        raw = self.engine.raw_connection()  # outside any transaction, as checkpoints must be
        try:
            busy, _, _ = raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            raw.close()
        return not busy

    def _purge_until_done(self) -> None:
        try:
            while not self._truncated():
                if self._closed.wait(PURGE_RETRY_S):
                    _log.warning(
                        "off-chain store of %s: closed before its WAL was emptied "
                        "(it is at the next start)",
                        self.org_id,
                    )
                    return
        except (SQLAlchemyError, sqlite3.Error):
            _log.warning("off-chain store of %s: WAL purge given up", self.org_id, exc_info=True)
            return
        _log.info("off-chain store of %s: WAL emptied after an erasure", self.org_id)

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent, concurrency-safe,
        one transaction: a migration killed part-way leaves the old schema). Refused
        (ConfigError), changing nothing: a schema a newer release migrated, or a store
        another organisation's gateway migrated first."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        named = self._named()  # before the write lock: a journal refused changes nothing
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            self._refuse_newer(conn, ScriptDirectory.from_config(config))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            self._claim(conn)
            self._erase_again(conn, named)
        self.purge_deleted()

    def erase_again(self) -> None:
        """Whom the erasure journal names deleted again, as `migrate` does, for a start
        that does not migrate (LEDGER_GW_MIGRATE off): it changes no schema, and a backup
        restored from before an erasure is not served again by any start. Refused
        (ConfigError) as `migrate` is, when the journal cannot be read;
        UnavailableError when the store cannot be reached."""
        named = self._named()
        if not named:
            return
        try:
            with self.engine.begin() as conn:
                again = self._erase_again(conn, named)
        except SQLAlchemyError as exc:
            raise UnavailableError(
                f"off-chain store of {self.org_id}: cannot erase again whom its erasure "
                f"journal names ({exc.__class__.__name__})",
                code="offchain_unavailable",
            ) from exc
        if again:
            self.purge_deleted()

    def note_erased(self, person_id: str) -> None:
        """Her registration named in the erasure journal, on disk when this returns:
        called before her deletion commits, so that a commit a crash stopped is done at
        the next start too. Refused (UnavailableError) when it cannot be written: her
        deletion is then not committed either."""
        if self.erased is None or not self.noting:
            return
        try:
            append_line(self.erased, person_id, SECRET)
        except OSError as exc:
            raise UnavailableError(
                f"off-chain store of {self.org_id}: cannot note the erasure in "
                f"{self.erased} ({exc.strerror})",
                code="offchain_unavailable",
            ) from exc

    def _named(self) -> list[str]:
        """The person IDs the erasure journal names; none when there is no journal. One
        that is there but cannot be read (a directory, a FIFO, a file it may not read)
        refuses the start (ConfigError): started without it, the store would serve again
        whom a restored backup still holds. Opened without waiting for a writer (a FIFO)
        and read only if it is a regular file."""
        if self.erased is None:
            return []
        try:
            fd = os.open(self.erased, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):  # no journal, or none can be
                return []
            raise self._unreadable(exc.strerror or str(exc)) from exc
        try:
            with os.fdopen(fd, "rb") as journal:
                if not stat.S_ISREG(os.fstat(journal.fileno()).st_mode):
                    raise self._unreadable("not a regular file")
                text = journal.read().decode(errors="replace")
        except OSError as exc:
            raise self._unreadable(exc.strerror or str(exc)) from exc
        return sorted(set(_PERSON_ID.findall(text)))

    def _unreadable(self, why: str) -> ConfigError:
        return ConfigError(
            f"cannot read the erasure journal of {self.org_id}, {self.erased} ({why}): "
            "without it, a backup of the store from before an erasure would serve the "
            "erased person again. Put the journal back as a file this gateway may read",
            code="erasure_journal_unreadable",
        )

    def _erase_again(self, conn: Connection, named: list[str]) -> int:
        """Whom the erasure journal names and the store holds again (a backup from before
        her erasure restored) is deleted again, her documents and packages with her.
        Returns how many were."""
        again = 0
        for start in range(0, len(named), _ERASED_AT_ONCE):
            chunk = named[start : start + _ERASED_AT_ONCE]
            again += conn.execute(delete(Person).where(Person.id.in_(chunk))).rowcount
        if again:
            _log.warning(
                "off-chain store of %s held %d people erased since (a backup from before "
                "their erasure restored): erased again",
                self.org_id,
                again,
            )
        return again

    def _refuse_newer(self, conn: Connection, scripts: ScriptDirectory) -> None:
        """A schema a newer release migrated is one this release does not know: read as
        its own, columns it never fills would be misread or left empty."""
        current = MigrationContext.configure(conn).get_current_revision()
        if current is not None and current not in {s.revision for s in scripts.walk_revisions()}:
            raise ConfigError(
                f"the off-chain store of {self.org_id} "
                f"({self.engine.url.render_as_string(hide_password=True)}) was migrated by "
                f"a newer release (schema revision {current}): run that release, or "
                "restore a backup this release made",
                code="offchain_store_newer",
            )

    def _claim(self, conn: Connection) -> None:
        """Recorded as this organisation's on its first migration; another's refused, so
        that a gateway pointed at it by mistake neither reads its people nor writes its
        own among them."""
        owner = conn.execute(select(StoreOwner.org)).scalar()
        if owner is None:
            conn.execute(insert(StoreOwner).values(org=self.org_id))
        elif owner != self.org_id:
            raise ConfigError(
                f"the off-chain store at {self.engine.url.render_as_string(hide_password=True)}"
                f" is {owner}'s, not {self.org_id}'s: give each organisation its own "
                "(LEDGER_GW_OFFCHAIN_URL with {org})",
                code="offchain_store_of_another",
            )

    def ping(self) -> None:
        gone = file_gone(self.engine)
        if gone is not None:
            raise UnavailableError(
                f"off-chain store of {self.org_id}: {gone}", code="offchain_unavailable"
            )
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise UnavailableError(
                f"off-chain store of {self.org_id} unreachable", code="offchain_unavailable"
            ) from exc

    def close(self) -> None:
        self._closed.set()
        purger = self._purger
        if purger is not None:
            purger.join()  # at most one checkpoint's wait for a reader
        self.engine.dispose()
        self._audit.dispose()
