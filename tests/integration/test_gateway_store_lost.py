"""A gateway's own stores are kept, never silently made again: its off-chain store (the
people registered there, its API tokens), and on a log node its receipts (what the node
acknowledged, which the gateway holds it to) and its outbox (events callers were told
are queued). The gateway's first start makes each; afterwards one that is gone (a
restore that missed it, the wrong volume mounted, a database without its tables) refuses
the start, and only ``--new-stores`` makes it anew."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, inspect, text

from ledger_gw.bootstrap import open_gateway, open_log
from ledger_gw.demo.consortium import DEMO
from ledger_gw.gateway_stores import STORES_MADE, GatewayStoreLostError
from ledger_gw.offchain.store import OffchainStore, offchain_missing
from ledger_gw.services.config import GatewayConfig
from ledger_gw.topology import running
from ledger_gw.topology.processes import (
    HOST,
    Service,
    answers_ready,
    cli,
    free_port,
    start,
)
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.cli import clean_failure, refused_to_serve, run_cli
from tests.support.disk import digests, lose_sqlite

pytestmark = pytest.mark.slow

PASSWORD = "SECRETPW"


def _refused(*args: str, env: Mapping[str, str] | None = None) -> str:
    """The one line ``ledger-gw ARGS`` refuses with, before its banner."""
    done = refused_to_serve(*args, env=env)
    assert done.stdout == "", done.stdout
    return clean_failure(done)


def _serving(directory: Path, *flags: str, env: Mapping[str, str] | None = None) -> Service:
    port = free_port()
    url = f"http://{HOST}:{port}"
    command = cli("serve", "--dir", str(directory), "--host", HOST, "--port", str(port), *flags)
    log = directory.parent / f"{directory.name}-gateway.log"
    return start("gateway", url, [*command, "--workers", "1"], log, answers_ready(url), env)


def test_a_lost_offchain_store_is_refused_and_nothing_is_made(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws", DEMO)
    store = ws.root / "offchain-AGENCY-A.db"
    _serving(ws.root).stop()  # a new gateway: its first start makes its stores
    assert store.is_file()
    (record,) = (ws.root / STORES_MADE).glob("AGENCY-A.offchain.*")
    assert str(store) in record.read_text()  # where it was made
    token = run_cli(
        "token", "issue", "--dir", str(ws.root), "--org", "AGENCY-A", "--role", "agency-writer"
    )
    assert token.returncode == 0, token.stderr
    _serving(ws.root).stop()  # a store it made opens as before, no flag

    lose_sqlite(store)  # a restore that missed it
    before = digests(ws.root)
    line = _refused("serve", "--dir", str(ws.root), "--port", str(free_port()))
    assert line.startswith("error gateway_store_lost: "), line
    assert "AGENCY-A" in line
    assert "off-chain store" in line
    assert f"{store} is missing" in line
    assert "--new-stores" in line
    assert "backup" in line
    line = clean_failure(run_cli("token", "list", "--dir", str(ws.root), "--org", "AGENCY-A"))
    assert line.startswith("error gateway_store_lost: "), line  # nor made by another command
    assert digests(ws.root) == before  # no empty store made, nothing else written
    assert not store.exists()

    store.touch()  # an empty file is no store either
    line = _refused("serve", "--dir", str(ws.root), "--port", str(free_port()))
    assert line.startswith("error gateway_store_lost: "), line
    assert "holds no off-chain store" in line
    assert store.read_bytes() == b""

    told = _serving(ws.root, "--new-stores")  # told, it starts a new, empty one
    told.stop()
    assert offchain_missing(f"sqlite:///{store}") is None
    assert "starts a new, empty off-chain store" in told.log.read_text()
    tokens = run_cli("token", "list", "--dir", str(ws.root), "--org", "AGENCY-A")
    assert tokens.stdout.count("\n") == 1, tokens.stdout  # the token was in what was lost
    _serving(ws.root).stop()  # from then on, it opens as before


def test_a_store_from_before_its_gateway_kept_records_is_taken_as_made(tmp_path: Path) -> None:
    """A gateway that served before stores were recorded: its stores open, and are
    recorded then, so that their loss is refused from then on."""
    ws = Workspace.create(tmp_path / "ws", DEMO)
    url = f"sqlite:///{ws.root}/offchain-{{org}}.db"
    older = OffchainStore("AGENCY-A", url.format(org="AGENCY-A"))
    older.migrate()
    older.close()
    config = GatewayConfig(directory=ws.root, orgs=("AGENCY-A",), offchain_url=url)
    open_gateway(config).close()
    assert len(list((ws.root / STORES_MADE).glob("AGENCY-A.offchain.*"))) == 1
    lose_sqlite(ws.root / "offchain-AGENCY-A.db")
    with pytest.raises(GatewayStoreLostError, match=r"offchain-AGENCY-A\.db is missing"):
        open_gateway(config)
    assert not (ws.root / "offchain-AGENCY-A.db").exists()


def test_a_store_elsewhere_is_another_gateways_own(tmp_path: Path) -> None:
    """Gateways of one directory, each given a store of its own elsewhere: each is made
    on its own first start; the one lost is refused, the others open."""
    ws = Workspace.create(tmp_path / "ws", DEMO)
    configs = [
        GatewayConfig(
            directory=ws.root,
            orgs=("AGENCY-A",),
            offchain_url=f"sqlite:///{tmp_path}/{name}-{{org}}.db",
        )
        for name in ("first", "second")
    ]
    for config in configs:
        open_gateway(config).close()
    lose_sqlite(tmp_path / "first-AGENCY-A.db")
    with pytest.raises(GatewayStoreLostError, match=r"first-AGENCY-A\.db is missing"):
        open_gateway(configs[0])
    open_gateway(configs[1]).close()


def test_a_bad_offchain_url_is_refused_before_the_banner(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws", DEMO)
    url = f"postgresql://u:{PASSWORD}@h:notaport/db_{{org_slug}}"
    done = run_cli(
        "serve", "--dir", str(ws.root), "--port", "0", env={"LEDGER_GW_OFFCHAIN_URL": url}
    )
    line = clean_failure(done)
    assert line.startswith("error config_error: "), line
    assert "is not a database URL" in line
    assert done.stdout == ""  # no banner
    assert PASSWORD not in done.stdout + done.stderr


def test_a_postgresql_database_that_lost_its_tables_is_a_lost_store(
    tmp_path: Path, pg_database: Callable[..., str]
) -> None:
    ws = Workspace.create(tmp_path / "ws", DEMO)
    template = pg_database("AGENCY-A")  # a database that exists, with nothing in it
    env = {"LEDGER_GW_OFFCHAIN_URL": template, "LEDGER_GW_ORGS": "AGENCY-A"}
    database = template.replace("{org_slug}", "agency_a")
    _serving(ws.root, env=env).stop()  # a first start on an empty database makes the store
    assert offchain_missing(database) is None

    engine = create_engine(database)
    try:
        with engine.begin() as conn:  # its tables gone, the database still there
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        line = _refused("serve", "--dir", str(ws.root), "--port", str(free_port()), env=env)
        assert line.startswith("error gateway_store_lost: "), line
        assert "holds no off-chain store" in line
        assert inspect(engine).get_table_names() == []  # nothing made in it

        _serving(ws.root, "--new-stores", env=env).stop()
        assert "alembic_version" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_a_gateway_on_a_log_node_refuses_to_start_without_its_receipts_or_outbox(
    tmp_path: Path,
) -> None:
    operator = Workspace.create(tmp_path / "operator", DEMO)
    site = tmp_path / "site"
    with running(operator.root, site, ("AGENCY-A",), (), sync_interval_s=0.5) as up:
        url, token = up.gateways["AGENCY-A"].url, up.tokens["AGENCY-A"]
        auth = {"Authorization": f"Bearer {token}"}
        amal = {"attributes": {"given_name": "Amal"}}
        person = requests.post(f"{url}/v1/registrations", json=amal, headers=auth, timeout=60)
        assert person.status_code == 201, person.text
        event = ev.consent_granted(person.json()["pid"])
        logged = requests.post(f"{url}/v1/events", json=event, headers=auth, timeout=60)
        assert logged.status_code == 201, logged.text  # the node acknowledged it
    agency = site / "AGENCY-A"
    receipts, outbox = agency / "orgs/AGENCY-A/receipts.db", agency / "orgs/AGENCY-A/outbox.db"
    backup = shutil.copy(receipts, tmp_path / "receipts-backup.db")

    lose_sqlite(receipts)  # the node could now drop the append unnoticed, were the gateway to start
    env = {"LEDGER_GW_ORGS": "AGENCY-A"}
    port = str(free_port())
    node = "https://127.0.0.1:9"
    line = _refused("serve", "--dir", str(agency), "--port", port, "--log-url", node, env=env)
    assert line.startswith("error gateway_store_lost: "), line
    assert f"{receipts} is missing" in line
    assert "acknowledged" in line
    reading = open_log(agency, backend="remote", log_url=node, reader="AGENCY-A")
    with pytest.raises(GatewayStoreLostError, match="receipts"), reading:
        pass  # an auditor's read of the log through this directory makes none either
    assert not receipts.exists()

    shutil.copy(backup, receipts)  # restored from a backup
    lose_sqlite(outbox)
    lost = pytest.raises(GatewayStoreLostError, match=r"outbox .*outbox\.db is missing.*queued")
    with lost, running(operator.root, site, ("AGENCY-A",), ()):
        pytest.fail("the consortium started without the gateway's outbox")
    assert not outbox.exists()

    with running(operator.root, site, ("AGENCY-A",), (), new_stores=True) as up:
        ready = requests.get(f"{up.gateways['AGENCY-A'].url}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
    assert outbox.is_file()
