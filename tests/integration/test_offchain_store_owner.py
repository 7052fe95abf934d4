"""An off-chain store refuses a gateway it does not belong to: one of another
organisation pointed at it, or one of an older release after a newer one migrated it."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import make_url, select, text

from ledger_gw.errors import ConfigError
from ledger_gw.offchain.models import Person
from ledger_gw.offchain.store import OffchainStore
from tests.support.disk import umask


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'offchain.db'}"
    make: Callable[..., str] = request.getfixturevalue("pg_database")
    return make()


def _registered(url: str, org: str) -> None:
    store = OffchainStore(org, url)
    try:
        store.migrate()
        with store.session() as session:
            session.add(Person(id="p-1", pid="pid-1", attributes={"given_name": "Amina"}))
    finally:
        store.close()


def test_a_gateway_of_another_organisation_is_refused_its_store(url: str) -> None:
    _registered(url, "AGENCY-A")
    store = OffchainStore("AGENCY-B", url)
    try:
        with pytest.raises(ConfigError) as refused:
            store.migrate()
        assert refused.value.code == "offchain_store_of_another"
        assert "AGENCY-A" in str(refused.value)
        password = make_url(url).password
        assert not password or str(password) not in str(refused.value)
    finally:
        store.close()
    own = OffchainStore("AGENCY-A", url)
    try:
        own.migrate()  # its own organisation's gateway still opens it
        with own.reading() as session:
            assert session.scalars(select(Person.pid)).all() == ["pid-1"]
    finally:
        own.close()


def test_a_store_restored_in_another_organisations_place_is_refused(tmp_path: Path) -> None:
    _registered(f"sqlite:///{tmp_path / 'offchain-AGENCY-A.db'}", "AGENCY-A")
    shutil.copy(tmp_path / "offchain-AGENCY-A.db", tmp_path / "offchain-AGENCY-B.db")
    store = OffchainStore("AGENCY-B", f"sqlite:///{tmp_path / 'offchain-AGENCY-B.db'}")
    try:
        with pytest.raises(ConfigError, match="AGENCY-A's, not AGENCY-B's"):
            store.migrate()
    finally:
        store.close()


def test_a_store_a_newer_release_migrated_is_refused_and_left_as_it_is(url: str) -> None:
    _registered(url, "AGENCY-A")
    store = OffchainStore("AGENCY-A", url)
    try:
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(ConfigError) as refused:
            store.migrate()
        assert refused.value.code == "offchain_store_newer"
        assert "9999" in str(refused.value)
        with store.reading() as session:
            assert session.scalars(select(Person.pid)).all() == ["pid-1"]
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "9999"
    finally:
        store.close()


def test_a_new_sqlite_store_is_its_owners_alone_whatever_the_umask(tmp_path: Path) -> None:
    with umask(0):
        _registered(f"sqlite:///{tmp_path / 'offchain.db'}", "AGENCY-A")
    assert (tmp_path / "offchain.db").stat().st_mode & 0o777 == 0o600
    assert sqlite3.connect(tmp_path / "offchain.db").execute("PRAGMA integrity_check").fetchone()
