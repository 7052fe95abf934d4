"""A log's key and its ledger are kept together: a log whose ledger is gone (a restore
that missed it, the wrong volume mounted, an empty database) must not start again from
nothing, where its key would sign a new history, a fork of the one it signed before.
A new workspace's first start makes its ledger with no flag; after that, only
``--new-ledger`` does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from ledger_gw.bootstrap import embedded_ledger, open_node
from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.topology.layout import lay_out
from ledger_gw.topology.processes import (
    HOST,
    Service,
    answers_ready,
    cli,
    free_port,
    listening,
    start,
    start_node,
)
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.cli import clean_failure, refused_to_serve
from tests.support.disk import digests, lose_sqlite

pytestmark = pytest.mark.slow


def _refused(*args: str) -> str:
    """The one line ``ledger-gw ARGS`` refuses with."""
    return clean_failure(refused_to_serve(*args))


def _node_serving(node: Path, *flags: str) -> Service:
    port = free_port()
    command = cli("log", "serve", "--dir", str(node), "--host", HOST, "--port", str(port), *flags)
    return start("log node", f"https://{HOST}:{port}", command, node / "node.log", listening(port))


def _gateway_serving(directory: Path, *flags: str) -> Service:
    port = free_port()
    url = f"http://{HOST}:{port}"
    command = cli("serve", "--dir", str(directory), "--host", HOST, "--port", str(port), *flags)
    log = directory.parent / f"{directory.name}-gateway.log"
    return start("gateway", url, [*command, "--workers", "1"], log, answers_ready(url))


def _size(directory: Path, url: str | None = None) -> int:
    ledger = embedded_ledger(Workspace.load(directory), url)
    try:
        return ledger.size()
    finally:
        ledger.close()


def _append(ledger: EmbeddedLedger, operator: Workspace) -> None:
    """One member's event appended, then the ledger closed: its key signs a checkpoint."""
    try:
        agency = OrgClient(ledger, operator.signer("AGENCY-A"))
        (outcome,) = agency.submit_many([ev.independent(0)])
        assert outcome.error is None, outcome.error
    finally:
        ledger.close()


def test_a_node_that_lost_its_ledger_refuses_to_start_and_changes_nothing(
    tmp_path: Path,
) -> None:
    operator = Workspace.create(tmp_path / "operator", DEMO)
    node = lay_out(operator.root, tmp_path / "site", (), (), {}).node

    start_node(node, free_port()).stop()  # a new node: its first start makes the ledger
    assert (node / "ledger.db").is_file()
    _append(open_node(node).ledger, operator)  # the log signs a checkpoint of size 1
    _node_serving(node).stop()  # an existing ledger opens as before, no flag

    lose_sqlite(node / "ledger.db")  # a restore that missed it
    before = digests(node)
    line = _refused("log", "serve", "--dir", str(node), "--port", str(free_port()))
    assert line.startswith("error ledger_lost: "), line
    assert str(node / "ledger.db") in line
    assert "--new-ledger" in line
    assert "backup" in line
    assert digests(node) == before  # no empty ledger made, nothing else written
    assert not (node / "ledger.db").exists()

    (node / "ledger.db").touch()  # an empty file is no ledger either
    line = _refused("log", "serve", "--dir", str(node), "--port", str(free_port()))
    assert line.startswith("error ledger_lost: "), line
    assert "holds no ledger" in line
    assert (node / "ledger.db").read_bytes() == b""

    _node_serving(node, "--new-ledger").stop()  # told, it starts a new history
    assert _size(node) == 0
    assert "starts a new, empty ledger" in (node / "node.log").read_text()


def test_a_key_restored_without_its_ledger_is_refused(tmp_path: Path) -> None:
    """The operator's log has a ledger; a node given only its key and consortium file
    (a site split from it, a restore of the keys alone) would fork it."""
    operator = Workspace.create(tmp_path / "operator", DEMO)
    _append(embedded_ledger(operator), operator)
    node = lay_out(operator.root, tmp_path / "site", (), (), {}).node
    line = _refused("log", "serve", "--dir", str(node), "--port", str(free_port()))
    assert line.startswith("error ledger_lost: "), line
    assert "ledger.db is missing" in line
    assert not (node / "ledger.db").exists()


def test_a_gateway_that_lost_its_ledger_refuses_to_start_and_to_cosign(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws", DEMO)
    _append(embedded_ledger(ws), ws)
    lose_sqlite(ws.root / "ledger.db")  # the wrong volume mounted
    before = digests(ws.root)
    line = _refused("serve", "--dir", str(ws.root), "--port", str(free_port()))
    assert line.startswith("error ledger_lost: "), line
    line = _refused("checkpoint", "cosign", "--dir", str(ws.root))
    assert line.startswith("error ledger_lost: "), line
    assert digests(ws.root) == before

    _gateway_serving(ws.root, "--new-ledger").stop()
    assert (ws.root / "ledger.db").is_file()


def test_serve_demo_makes_its_ledger_and_refuses_once_it_is_lost(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    served = _gateway_serving(directory, "--demo")  # a fresh directory: no flag needed
    served.stop()
    assert (directory / "ledger.db").is_file()
    assert _size(directory) > 0

    lose_sqlite(directory / "ledger.db")
    before = digests(directory)
    line = _refused("serve", "--demo", "--dir", str(directory), "--port", str(free_port()))
    assert line.startswith("error ledger_lost: "), line
    assert digests(directory) == before


def test_a_postgresql_database_without_the_ledgers_tables_is_a_lost_ledger(
    tmp_path: Path, pg_database: Callable[..., str]
) -> None:
    ws = Workspace.create(tmp_path / "ws", DEMO)
    first = pg_database()
    _append(embedded_ledger(ws, first), ws)  # the log's ledger, on PostgreSQL
    empty = pg_database()  # a database that exists, with nothing in it
    line = _refused("log", "serve", "--dir", str(ws.root), "--ledger", empty, "--port", "0")
    assert line.startswith("error ledger_lost: "), line
    assert "holds no ledger" in line
    engine = create_engine(empty)
    try:
        assert inspect(engine).get_table_names() == []  # nothing made in it
    finally:
        engine.dispose()
    _node_serving(ws.root, "--ledger", empty, "--new-ledger").stop()
    assert _size(ws.root, empty) == 0
    _node_serving(ws.root, "--ledger", first).stop()  # the ledger it has opens as before
    assert _size(ws.root, first) == 1


def test_an_agencys_directory_serves_no_embedded_ledger_and_gets_none(tmp_path: Path) -> None:
    """An agency's directory of a site (no log key) given to `serve` by mistake, even
    with --new-ledger: no ledger is made there, and no ledger_lost is claimed."""
    operator = Workspace.create(tmp_path / "operator", DEMO)
    agency = lay_out(operator.root, tmp_path / "site", ("AGENCY-A",), (), {}).agency("AGENCY-A")
    for flags in ((), ("--new-ledger",)):
        line = _refused("serve", "--dir", str(agency), "--port", str(free_port()), *flags)
        assert line.startswith(f"error config_error: {agency} holds no node/log.key"), line
        assert not (agency / "ledger.db").exists()
