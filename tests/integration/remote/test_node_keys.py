"""A log node (and the appending process) running across a member's key rotation: each
takes the consortium file it is handed, without a restart."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from chaincode.stub import Identity
from ledger_gw.bootstrap import open_node
from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.appender import AppenderProcess, RemoteAppender
from ledger_gw.embedded.consortium_file import CHECK_EVERY_S
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.identity import Signer
from ledger_gw.node.service import LogNode
from ledger_gw.remote.wire import batch_to_dict
from ledger_gw.transaction import sign_proposal
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.ledgers import verify_url


def _node_directory(operator: Workspace, node: Path) -> None:
    """What a node's operator holds: the consortium file and the log's key."""
    node.mkdir()
    shutil.copy(operator.consortium_file, node / "consortium.json")
    shutil.copytree(operator.root / "node", node / "node")


def _hand_over(operator: Workspace, node: Path) -> None:
    """The consortium file put in place as `key rotate` writes it: whole, by a rename."""
    shutil.copy(operator.consortium_file, node / "consortium.json.new")
    os.replace(node / "consortium.json.new", node / "consortium.json")


def _code(node: LogNode, signer: Signer, n: int) -> str | None:
    body = batch_to_dict([sign_proposal(signer, "submit", [ev.independent(n)])])
    caller = Identity("AGENCY-A", "agency")
    (outcome,) = node.submit(caller, body["transactions"], body.get("creators"))
    return None if outcome["error"] is None else str(outcome["error"]["code"])


def test_a_running_node_takes_a_rotation_from_the_file_it_is_handed(tmp_path: Path) -> None:
    operator = Workspace.create(tmp_path / "operator", DEMO)
    old = operator.signer("AGENCY-A")
    _node_directory(operator, tmp_path / "node")
    node = open_node(tmp_path / "node")
    try:
        assert _code(node, old, 0) is None
        operator = operator.rotate_key("AGENCY-A")
        _hand_over(operator, tmp_path / "node")
        assert _code(node, old, 3) == "retired_certificate"
        time.sleep(CHECK_EVERY_S)
        assert _code(node, operator.signer("AGENCY-A"), 6) is None
    finally:
        node.close()
    assert verify_url(f"sqlite:///{tmp_path / 'node' / 'ledger.db'}", operator.consortium).size == 2


def test_the_appending_process_takes_a_rotation_from_the_file(tmp_path: Path) -> None:
    """Whatever a serving process admitted by the keys it had, the process that appends
    judges each transaction by the file as it is then."""
    ws = Workspace.create(tmp_path / "ws", DEMO)
    old = ws.signer("AGENCY-A")
    process = AppenderProcess(ws.root, ws.ledger_url)
    process.start()
    try:
        serving = EmbeddedLedger(  # keeps the keys it started with
            ws.ledger_url,
            ws.consortium,
            ws.log_signer(),
            appender=RemoteAppender(process.socket, process.key),
        )
        try:
            agency = OrgClient(serving, old)
            assert agency.submit_many([ev.independent(0)])[0].error is None
            ws = ws.rotate_key("AGENCY-A")
            (refused,) = agency.submit_many([ev.independent(3)])
            assert refused.error is not None
            assert refused.error.code == "retired_certificate"
        finally:
            serving.close()
    finally:
        process.stop()
    assert verify_url(ws.ledger_url, ws.consortium).size == 1
