"""Attacks on what erasure and correction promise: nothing of her readable anywhere the
gateway keeps data once she is erased, her document salts gone (crypto-shredding),
erasure against what runs beside it, corrections into another registration, and a
backup restored from before her erasure.

Real gateway, real SQLite ledger, off-chain stores on SQLite files and on a real
PostgreSQL; a real `ledger-gw serve` where the files on disk are searched."""

from __future__ import annotations

import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text

from ledger_gw.bootstrap import open_gateway
from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import NotFoundError, RejectedError, UnavailableError
from ledger_gw.offchain.models import Person
from ledger_gw.offchain.store import MIGRATIONS, OffchainStore
from ledger_gw.remote.ledger import RemoteLedger
from ledger_gw.services import events, queries, registrations
from ledger_gw.services.access import Caller, Role, issue_token
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from ledger_gw.topology import processes
from ledger_gw.topology.layout import lay_out, pin_node_certificate
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.disk import sqlite_copy
from tests.support.gateways import gateway_on
from tests.support.gunicorn import gunicorn
from tests.support.witnesses import TestWitnesses

ORGS = ("AGENCY-A", "AGENCY-B")
A = Caller("t", "AGENCY-A", Role.AGENCY_WRITER)
LAYLA = {"given_name": "Layla", "family_name": "Qwertzuiop", "date_of_birth": "1990-02-11"}
OMAR = {"given_name": "Omar", "family_name": "Haddad", "date_of_birth": "1985-07-30"}


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("erasure-attacks") / "ws"
    Workspace.create(root, DEMO)
    return root


@pytest.fixture(params=["sqlite", "postgresql"])
def gateway(request: pytest.FixtureRequest, consortium: Path, tmp_path: Path) -> Iterator[Gateway]:
    with gateway_on(request, consortium, tmp_path, ORGS) as gw:
        yield gw


@pytest.fixture(params=["postgresql"])
def pg_gateway(
    request: pytest.FixtureRequest, consortium: Path, tmp_path: Path
) -> Iterator[Gateway]:
    with gateway_on(request, consortium, tmp_path, ORGS) as gw:
        yield gw


# -- nothing of her left readable ------------------------------------------------------


def test_after_erasure_no_file_of_the_gateways_directory_holds_anything_of_her(
    tmp_path: Path,
) -> None:
    """A real `ledger-gw serve` (two workers, its log in its directory) registers her,
    refuses her registration again and attributes it does not take, corrects her, keeps
    a document, seals her hand-over, searches for her in the API and the dashboard (and
    by a URL, refused), and is refused her erasure by a reader and by another agency;
    then her agency erases her. No byte of any file under the gateway's directory (its
    stores and their WAL, the ledger, the journal, its log) holds her name, what she was
    corrected from, her document or her hand-over's note."""
    root = tmp_path / "ws"
    Workspace.create(root, DEMO)
    gw = open_gateway(GatewayConfig(directory=root))
    try:
        tokens = {
            (org, role): issue_token(gw.store(org), gw.org_role(org), role)[1]
            for org in ORGS
            for role in ("agency-writer", "agency-reader")
        }
    finally:
        gw.close()
    typed = {**LAYLA, "given_name": "Zyxwvutsr", "place_of_birth": "Plmoknijbu"}
    secrets = [b"Zyxwvutsr", b"Plmoknijbu", b"Qwertzuiop", b"Mnbvcxzlkj", b"Hgfedcbaxy"]

    with gunicorn(root, None, environ={"LEDGER_GW_COOKIE_SECURE": "0"}) as url:

        def call(org: str, method: str, path: str, role: str = "agency-writer", **kw: Any) -> Any:
            headers = {"Authorization": f"Bearer {tokens[org, role]}"}
            return requests.request(method, url + path, headers=headers, timeout=60, **kw)

        made = call("AGENCY-A", "POST", "/v1/registrations", json={"attributes": typed})
        assert made.status_code == 201, made.text
        person_id, pid = made.json()["person_id"], made.json()["pid"]
        here = f"/v1/registrations/{person_id}"
        again = call("AGENCY-A", "POST", "/v1/registrations", json={"attributes": typed})
        assert again.status_code == 409
        odd = {**typed, "nickname": "Zyxwvutsr"}
        assert call("AGENCY-A", "POST", "/v1/registrations", json={"attributes": odd}).ok is False
        assert call("AGENCY-A", "GET", "/v1/registrations?q=Zyxwvutsr").status_code == 400
        found = call("AGENCY-A", "POST", "/v1/registrations/search", json={"q": "Zyxwvutsr"})
        assert [p["person_id"] for p in found.json()["registrations"]] == [person_id]
        document = {"kind": "consent_form", "content": "Mnbvcxzlkj " * 200}
        assert call("AGENCY-A", "POST", f"{here}/documents", json=document).status_code == 201
        corrected = {**typed, "family_name": "Asdfghjklo"}
        assert call("AGENCY-A", "PATCH", here, json={"attributes": corrected}).status_code == 200
        consent = ev.consent_granted(
            pid, grantees=["AGENCY-B"], purposes=["referral"], categories=["referrals"]
        )
        referral = ev.referral_created(pid, consent_id=consent["consent_id"])
        for each in (consent, referral):
            assert call("AGENCY-A", "POST", "/v1/events", json=each).status_code == 201
        handover = {"referral_id": referral["referral_id"], "note": "Hgfedcbaxy"}
        assert call("AGENCY-A", "POST", "/v1/handovers", json=handover).status_code == 201
        dashboard = requests.Session()
        csrf = _csrf(dashboard.get(f"{url}/dashboard/login").text)
        token = tokens["AGENCY-A", "agency-writer"]
        dashboard.post(f"{url}/dashboard/login", data={"csrf": csrf, "token": token})
        csrf = _csrf(dashboard.get(f"{url}/dashboard/persons").text)
        shown = dashboard.post(f"{url}/dashboard/persons", data={"csrf": csrf, "q": "Zyxwvutsr"})
        assert "Zyxwvutsr" in shown.text  # the check can see her

        assert call("AGENCY-A", "DELETE", here, role="agency-reader").status_code == 403
        assert call("AGENCY-B", "DELETE", here).status_code == 404  # not B's to erase
        assert call("AGENCY-A", "GET", here).status_code == 200
        assert call("AGENCY-A", "DELETE", here).status_code == 204
        assert call("AGENCY-A", "DELETE", here).status_code == 404
        looked_up = call("AGENCY-A", "POST", "/v1/pseudonyms", json={"attributes": corrected})
        assert looked_up.json()["registered"] is False  # her aliases went with her

    files = [p for p in root.rglob("*") if p.is_file()]
    assert root / "gunicorn.log" in files
    held = {str(p.relative_to(root)): [s for s in secrets if s in p.read_bytes()] for p in files}
    assert {name: found for name, found in held.items() if found} == {}


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def _statistics(engine: Engine) -> str:
    """Every value PostgreSQL's planner statistics hold of the store's tables, as text."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT tablename, attname, most_common_vals::text, histogram_bounds::text "
                "FROM pg_stats WHERE schemaname = current_schema()"
            )
        )
        return "\n".join(" ".join(str(v) for v in row) for row in rows)


def _analyzed(engine: Engine) -> None:
    """ANALYZE, as autovacuum runs it on its own once enough rows have changed."""
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def test_on_postgresql_her_document_and_its_salt_outlive_her_in_no_planner_statistics(
    pg_gateway: Gateway,
) -> None:
    """ANALYZE copies sampled values of a column into pg_statistic, where they stay
    after her rows are deleted and vacuumed: her document, its salt (with which a copy
    of the document is linked to the ledger's hash again) and her aliases must never be
    sampled there."""
    gw = pg_gateway
    for n in range(5):
        other = registrations.register(gw, A, {**OMAR, "given_name": f"Omar{n}"})
        registrations.add_document(gw, A, other["person_id"], "other", f"note {n}".encode())
        registrations.correct(gw, A, other["person_id"], {**OMAR, "given_name": f"Umar{n}"})
    her = registrations.register(gw, A, LAYLA)
    document = b"consent form signed by Layla Qwertzuiop"
    made = registrations.add_document(gw, A, her["person_id"], "consent_form", document)
    registrations.correct(gw, A, her["person_id"], {**LAYLA, "family_name": "Asdfghjklo"})
    store = gw.store("AGENCY-A")
    with store.engine.connect() as conn:
        salt = bytes(
            conn.execute(text("SELECT salt FROM documents WHERE id = :document_id"), made).scalar()
        )
        aliases = conn.execute(
            text("SELECT pid FROM person_aliases WHERE person_id = :p"), {"p": her["person_id"]}
        ).scalars()
        traces = [document.hex(), salt.hex(), *aliases, "Qwertzuiop", "Asdfghjklo"]
    _analyzed(store.engine)
    assert her["pid"] in _statistics(store.engine)  # the check can see what is sampled

    registrations.erase(gw, A, her["person_id"])
    left = _statistics(store.engine)
    assert [each for each in traces if each in left] == []


def test_on_postgresql_a_store_migrated_drops_what_was_sampled_of_personal_data(
    pg_database: Callable[..., str],
) -> None:
    """A store whose statistics were gathered before this release: its next migration
    drops what they hold of documents, salts, packages and aliases, and they are not
    gathered again."""
    url = pg_database()
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    salt = uuid.uuid4().bytes
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0007")
            for n, content in enumerate([b"consent form of Layla Qwertzuiop", b"other note"]):
                person = {"id": str(uuid.uuid4()), "pid": f"k1.p{n}", "at": "2026-01-01"}
                conn.execute(
                    text(
                        "INSERT INTO persons (id, pid, attributes, created_at, updated_at) "
                        "VALUES (:id, :pid, '{}', :at, :at)"
                    ),
                    person,
                )
                conn.execute(
                    text(
                        "INSERT INTO documents (id, person_id, kind, salt, content, hash, "
                        "created_at) VALUES (:d, :id, 'other', :salt, :content, 'h', :at)"
                    ),
                    {
                        **person,
                        "d": str(uuid.uuid4()),
                        "salt": salt + bytes([n]),
                        "content": content,
                    },
                )
                conn.execute(
                    text("INSERT INTO person_aliases (pid, person_id) VALUES (:a, :id)"),
                    {**person, "a": f"k1.alias{n}"},
                )
        _analyzed(engine)
        before = _statistics(engine)
        traces = [b"Layla Qwertzuiop".hex(), salt.hex(), "k1.alias0"]
        assert all(each in before for each in traces)  # sampled before this release

        store = OffchainStore("AGENCY-A", url)
        try:
            store.migrate()
        finally:
            store.close()
        _analyzed(engine)
        after = _statistics(engine)
        assert [each for each in traces if each in after] == []
        assert "k1.p0" in after  # what is not personal data is still sampled
    finally:
        engine.dispose()


# -- erasure against what runs beside it ------------------------------------------------


def _beside_the_erasure(gateway: Gateway, other: Callable[[], Any]) -> Callable[[], Any]:
    """Hook: once the statement deleting her has run, and before the erasure commits,
    `other` starts in a thread of its own (another request) and is let run until it
    waits for her (PostgreSQL: a lock; SQLite: the store's write lock, a moment).
    Returns what gives its outcome (what it returned, or raised) once it has ended."""
    done: list[Any] = []
    engine = gateway.store("AGENCY-A").engine

    def run() -> None:
        try:
            done.append(other())
        except Exception as exc:  # reported to the test
            done.append(exc)

    thread = threading.Thread(target=run)

    def hook(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM PERSONS") and thread.ident is None:
            thread.start()
            _until_waiting(engine, thread)

    event.listen(engine, "after_cursor_execute", hook)

    def outcome() -> Any:
        thread.join(30)
        event.remove(engine, "after_cursor_execute", hook)
        assert done, "the other request never ended"
        return done[0]

    return outcome


def _until_waiting(engine: Engine, thread: threading.Thread) -> None:
    """Until the other request waits for a lock (or has ended)."""
    if engine.dialect.name != "postgresql":
        thread.join(0.5)
        return
    watcher = create_engine(engine.url)
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 10
    try:
        with watcher.connect() as conn:
            while thread.is_alive() and not conn.execute(waiting).scalar():
                assert time.monotonic() < deadline, "the other request never waited for her"
                conn.rollback()
                time.sleep(0.02)
    finally:
        watcher.dispose()


@pytest.mark.parametrize("change", ["correction", "document"])
def test_a_change_to_her_while_she_is_erased_finds_her_gone_and_keeps_nothing(
    gateway: Gateway, change: str
) -> None:
    """A correction, or a document added, that reaches her record while the erasure
    deletes it: it waits for the erasure and answers that she is not registered (404),
    as once she is erased, never that the store failed (503); nothing it brought is
    kept."""
    her = registrations.register(gateway, A, LAYLA)
    registrations.correct(gateway, A, her["person_id"], {**LAYLA, "family_name": "Qwertz"})

    def meanwhile() -> Any:
        if change == "correction":
            corrected = {**LAYLA, "family_name": "Asdfghjklo"}
            return registrations.correct(gateway, A, her["person_id"], corrected)
        return registrations.add_document(gateway, A, her["person_id"], "other", b"Asdfghjklo")

    outcome = _beside_the_erasure(gateway, meanwhile)
    assert registrations.erase(gateway, A, her["person_id"]) == her["pid"]

    refused = outcome()
    assert isinstance(refused, NotFoundError), refused
    assert refused.code == "registration_not_found"
    with gateway.store("AGENCY-A").engine.connect() as conn:
        for table in ("persons", "person_aliases", "documents"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0  # noqa: S608


@pytest.mark.slow
def test_a_consent_recorded_offline_and_not_yet_logged_is_not_left_active_after_her_erasure(
    tmp_path: Path,
) -> None:
    """An agency's gateway on a log node records a consent for her while the node is
    down (kept in its outbox, answered `queued`); the node is back and her erasure comes
    before the outbox is handed over. The node's answers do not show that consent, so no
    read of the erasure would withdraw it: the erasure is refused (503), nothing deleted,
    until the consent is logged; then it withdraws it with the others."""
    ws = Workspace.create(tmp_path / "operator", DEMO)
    witnesses = TestWitnesses(ws, tmp_path / "witnesses")
    layout = lay_out(tmp_path / "operator", tmp_path / "site", ("AGENCY-A",), (), {})
    port = processes.free_port()
    node = processes.start_node(layout.node, port)
    root = layout.agency("AGENCY-A")
    config = GatewayConfig(
        directory=root,
        orgs=("AGENCY-A",),
        backend="remote",
        log_url=f"https://127.0.0.1:{port}",
        sync_interval_s=3600,  # the outbox is handed over only when the test says so
    )
    try:
        pin_node_certificate(layout)
        issued = subprocess.run(
            processes.cli("log", "client-cert", "--dir", str(root), "--org", "AGENCY-A"),
            capture_output=True,
        )
        assert issued.returncode == 0, issued.stderr
        gateway = open_gateway(config)
        try:
            her = registrations.register(gateway, A, LAYLA)
            node.stop()
            offline = ev.consent_granted(her["pid"])
            assert events.submit(gateway, A, offline)[1] == "queued"
            node = processes.start_node(layout.node, port)

            with pytest.raises(UnavailableError) as refused:
                registrations.erase(gateway, A, her["person_id"])
            assert refused.value.code == "consent_queued"
            assert registrations.get(gateway, A, her["person_id"])["pid"] == her["pid"]

            assert isinstance(gateway.ledger, RemoteLedger)
            assert gateway.ledger.sync()  # the outbox's next round
            assert registrations.erase(gateway, A, her["person_id"]) == her["pid"]
            (consent,) = queries.consents(gateway, A, her["pid"])["consents"]
            assert consent["consent_id"] == offline["consent_id"]
            assert (consent["active"], consent["revoke_reason"]) == (False, "person_request")
        finally:
            gateway.close()
    finally:
        node.stop()
        witnesses.close()


# -- corrections -----------------------------------------------------------------------


AMBIGUOUS = {"given_name": "Amina", "family_name": "Yusuf", "date_of_birth": "1990-01-01"}


def test_correcting_into_the_attributes_of_one_registered_before_the_1_january_rule_is_refused(
    gateway: Gateway,
) -> None:
    """Amina was registered with a 1 January birth date alone before such attributes
    needed more: a lookup by them still finds her (409 when she is registered again).
    Correcting Omar into them is refused the same way, naming her, and changes nothing:
    else two registrations would hold one identity, the second found by no lookup."""
    amina = str(uuid.uuid4())
    with gateway.store("AGENCY-A").session() as s:  # registered before the rule
        s.add(
            Person(id=amina, pid=gateway.pseudonym_key.pseudonym(AMBIGUOUS), attributes=AMBIGUOUS)
        )
    with pytest.raises(RejectedError) as again:
        registrations.register(gateway, A, AMBIGUOUS)
    assert again.value.code == "already_registered"
    omar = registrations.register(gateway, A, OMAR)

    with pytest.raises(RejectedError) as refused:
        registrations.correct(gateway, A, omar["person_id"], AMBIGUOUS)
    assert (refused.value.code, refused.value.details) == (
        "already_registered",
        {"person_id": amina},
    )
    assert registrations.get(gateway, A, omar["person_id"])["attributes"] == OMAR
    assert registrations.keyed_pid(gateway, A, OMAR) == omar["pid"]
    # She may be corrected into them herself, and Omar into a day that tells him apart.
    registrations.correct(gateway, A, amina, {**AMBIGUOUS, "sex": "F"})
    registrations.correct(gateway, A, amina, AMBIGUOUS)
    registrations.correct(gateway, A, omar["person_id"], {**AMBIGUOUS, "father_name": "Ali"})


# -- a backup restored -----------------------------------------------------------------


def test_an_erasure_noted_after_a_line_a_crash_cut_short_is_done_again_on_restore(
    tmp_path: Path,
) -> None:
    """The journal's last line was cut short by a crash (an erasure whose noting never
    finished, so never committed): the next erasure's line is appended right after it.
    A backup from before that erasure, restored, must not serve her again."""
    root = tmp_path / "ws"
    Workspace.create(root, DEMO)
    config = GatewayConfig(
        directory=root,
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        offchain_url=f"sqlite:///{tmp_path}/offchain-{{org}}.db",
        orgs=("AGENCY-A",),
    )
    store_file, backup = tmp_path / "offchain-AGENCY-A.db", tmp_path / "backup.db"
    gateway = open_gateway(config)
    try:
        layla = registrations.register(gateway, A, LAYLA)
        omar = registrations.register(gateway, A, OMAR)
        sqlite_copy(store_file, backup)
        journal = root / "erased" / "AGENCY-A"
        journal.write_text(f"{uuid.uuid4()}\n{str(uuid.uuid4())[:13]}")  # cut short
        registrations.erase(gateway, A, layla["person_id"])
    finally:
        gateway.close()
    assert layla["person_id"] in journal.read_text()

    sqlite_copy(backup, store_file)
    gateway = open_gateway(config)
    try:
        left = {p["person_id"] for p in registrations.search(gateway, A).items}
        assert left == {omar["person_id"]}
    finally:
        gateway.close()
