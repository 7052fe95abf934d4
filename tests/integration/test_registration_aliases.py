"""A corrected registration keeps the pseudonymous ID the ledger knows her by, and is
still found by her corrected attributes: registering her again with them is refused,
naming her, and the ID they are looked up under is hers. Correcting someone into
another registration's identity is refused, changing nothing. Erasing her deletes what
she is found by, a backup restored from before her erasure included.

Real gateway, real SQLite ledger, off-chain stores on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text

from ledger_gw.bootstrap import open_gateway
from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import RejectedError, ValidationError
from ledger_gw.offchain.store import MIGRATIONS
from ledger_gw.services import registrations
from ledger_gw.services.access import Caller, Role
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import Workspace
from tests.support.disk import sqlite_copy
from tests.support.gateways import gateway_on

ORGS = ("AGENCY-A", "AGENCY-B")
A = Caller("t", "AGENCY-A", Role.AGENCY_WRITER)
B = Caller("t", "AGENCY-B", Role.AGENCY_WRITER)
TYPED = {"given_name": "Fatima", "family_name": "Al-Hasan", "date_of_birth": "1987-04-12"}
CORRECTED = {**TYPED, "family_name": "Al-Hassan"}
OMAR = {"given_name": "Omar", "family_name": "Haddad", "date_of_birth": "1985-07-30"}


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("aliases") / "ws"
    Workspace.create(root, DEMO)
    return root


@pytest.fixture(params=["sqlite", "postgresql"])
def gateway(request: pytest.FixtureRequest, consortium: Path, tmp_path: Path) -> Iterator[Gateway]:
    with gateway_on(request, consortium, tmp_path, ORGS) as gw:
        yield gw


def _refused(call: Callable[..., object], *args: object) -> RejectedError:
    with pytest.raises(RejectedError) as info:
        call(*args)
    assert (info.value.kind, info.value.code) == ("conflict", "already_registered")
    return info.value


def _aliases(gateway: Gateway, org: str = "AGENCY-A") -> list[tuple[str, str]]:
    with gateway.stores[org].engine.connect() as conn:
        rows = conn.execute(text("SELECT pid, person_id FROM person_aliases ORDER BY pid"))
        return [(pid, person_id) for pid, person_id in rows]


def test_corrected_she_is_found_by_her_corrected_attributes(gateway: Gateway) -> None:
    her = registrations.register(gateway, A, TYPED)
    registrations.correct(gateway, A, her["person_id"], CORRECTED)

    refused = _refused(registrations.register, gateway, A, CORRECTED)
    assert refused.details == {"person_id": her["person_id"]}
    assert registrations.keyed_pid(gateway, A, CORRECTED) == her["pid"]
    _refused(registrations.register, gateway, A, TYPED)  # as she was typed: her pid
    assert [p["person_id"] for p in registrations.search(gateway, A).items] == [her["person_id"]]
    found = registrations.search(gateway, A, registrations.keyed_pid(gateway, A, CORRECTED))
    assert [p["person_id"] for p in found.items] == [her["person_id"]]
    # Her aliases are this agency's: another derives the corrected attributes' own ID.
    assert registrations.register(gateway, B, CORRECTED)["pid"] != her["pid"]


def test_a_lookup_by_attributes_is_one_query(gateway: Gateway) -> None:
    her = registrations.register(gateway, A, TYPED)
    registrations.correct(gateway, A, her["person_id"], CORRECTED)
    statements: list[str] = []

    def seen(conn: object, cursor: object, sql: str, *_: object) -> None:
        statements.append(sql)

    engine = gateway.stores["AGENCY-A"].engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert registrations.keyed_pid(gateway, A, {**CORRECTED, "given_name": "Fatima\u200f"})
        assert registrations.keyed_pid(gateway, A, OMAR)  # found by none
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len([s for s in statements if "persons" in s]) == 2


def test_correcting_her_into_another_registration_is_refused_and_changes_nothing(
    gateway: Gateway,
) -> None:
    fatima = registrations.register(gateway, A, CORRECTED)
    omar = registrations.register(gateway, A, OMAR)
    layla = registrations.register(gateway, A, {**OMAR, "given_name": "Layla"})
    registrations.correct(gateway, A, layla["person_id"], {**OMAR, "given_name": "Leila"})
    before = _aliases(gateway)

    refused = _refused(registrations.correct, gateway, A, omar["person_id"], CORRECTED)
    assert refused.details == {"person_id": fatima["person_id"]}
    typed = {**OMAR, "given_name": " LEILA"}  # what Layla is called now, as typed
    refused = _refused(registrations.correct, gateway, A, omar["person_id"], typed)
    assert refused.details == {"person_id": layla["person_id"]}
    assert registrations.get(gateway, A, omar["person_id"])["attributes"] == OMAR
    assert _aliases(gateway) == before
    assert registrations.keyed_pid(gateway, A, OMAR) == omar["pid"]
    # Her own ID and her own aliases are hers to keep: corrected again, as typed.
    registrations.correct(gateway, A, layla["person_id"], typed)
    registrations.correct(gateway, A, fatima["person_id"], {**CORRECTED, "sex": "F"})
    registrations.correct(gateway, A, fatima["person_id"], CORRECTED)
    assert _aliases(gateway) == before


def test_a_second_correction_replaces_what_the_first_derived(gateway: Gateway) -> None:
    her = registrations.register(gateway, A, TYPED)
    registrations.correct(gateway, A, her["person_id"], {**TYPED, "family_name": "Alhasan"})
    registrations.correct(gateway, A, her["person_id"], CORRECTED)
    assert {person_id for _, person_id in _aliases(gateway)} == {her["person_id"]}
    _refused(registrations.register, gateway, A, CORRECTED)
    # The name corrected away is no one's any more here: whoever bears it is another.
    assert registrations.keyed_pid(gateway, A, {**TYPED, "family_name": "Alhasan"}) != her["pid"]


def test_a_held_id_is_never_found_by_attributes(gateway: Gateway) -> None:
    held = registrations.register(gateway, A, {"given_name": "Amina"}, id_scheme="held")
    registrations.correct(gateway, A, held["person_id"], CORRECTED)
    assert _aliases(gateway) == []
    assert registrations.register(gateway, A, CORRECTED)["pid"] != held["pid"]


def test_attributes_that_tell_no_one_apart_find_no_one_by_a_correction(
    gateway: Gateway,
) -> None:
    """Two people of one name, born on a date registries record for an unknown one: a
    correction to those alone gives neither an ID that anyone of their name would find
    her by."""
    named = {"given_name": "Mohammad", "family_name": "Ahmadi", "date_of_birth": "1990-01-01"}
    first = registrations.register(gateway, A, {**named, "father_name": "Reza"})
    second = registrations.register(gateway, A, {**named, "father_name": "Ali"})
    registrations.correct(gateway, A, first["person_id"], named)
    registrations.correct(gateway, A, second["person_id"], named)
    assert _aliases(gateway) == []
    with pytest.raises(ValidationError) as refused:
        registrations.keyed_pid(gateway, A, named)
    assert refused.value.code == "ambiguous_identity"


def test_erasing_her_deletes_what_she_is_found_by(gateway: Gateway) -> None:
    her = registrations.register(gateway, A, TYPED)
    registrations.correct(gateway, A, her["person_id"], CORRECTED)
    assert len(_aliases(gateway)) >= 1
    registrations.erase(gateway, A, her["person_id"])
    assert _aliases(gateway) == []
    again = registrations.register(gateway, A, CORRECTED)  # she came back: a new registration
    assert again["person_id"] != her["person_id"]


@pytest.fixture
def sqlite_config(consortium: Path, tmp_path: Path) -> GatewayConfig:
    return GatewayConfig(
        directory=consortium,
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        offchain_url=f"sqlite:///{tmp_path}/offchain-{{org}}.db",
        orgs=("AGENCY-A",),
    )


def test_a_backup_from_before_her_erasure_restored_loses_her_aliases_too(
    sqlite_config: GatewayConfig, tmp_path: Path
) -> None:
    store_file, backup = tmp_path / "offchain-AGENCY-A.db", tmp_path / "backup.db"
    gw = open_gateway(sqlite_config)
    her = registrations.register(gw, A, TYPED)
    registrations.correct(gw, A, her["person_id"], CORRECTED)
    sqlite_copy(store_file, backup)
    registrations.erase(gw, A, her["person_id"])
    gw.close()

    sqlite_copy(backup, store_file)
    gw = open_gateway(sqlite_config)  # the next start erases her again
    try:
        assert _aliases(gw) == []
        assert registrations.register(gw, A, CORRECTED)["person_id"] != her["person_id"]
    finally:
        gw.close()


def test_a_store_of_the_previous_schema_migrated_up_finds_her_once_corrected(
    sqlite_config: GatewayConfig, tmp_path: Path
) -> None:
    """Registered before the store kept aliases; corrected after its migration."""
    gw = open_gateway(sqlite_config)
    her = registrations.register(gw, A, TYPED)
    gw.close()
    url = f"sqlite:///{tmp_path / 'offchain-AGENCY-A.db'}"
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:  # the store as the previous release left it
        config.attributes["connection"] = conn
        command.downgrade(config, "0006")
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0006"
    engine.dispose()

    gw = open_gateway(sqlite_config)  # migrates it
    try:
        _refused(registrations.register, gw, A, TYPED)
        registrations.correct(gw, A, her["person_id"], CORRECTED)
        refused = _refused(registrations.register, gw, A, CORRECTED)
        assert refused.details == {"person_id": her["person_id"]}
        registrations.erase(gw, A, her["person_id"])
        assert _aliases(gw) == []
    finally:
        gw.close()
