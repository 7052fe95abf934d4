"""`prove inclusion --format tlog-proof` writes a C2SP tlog-proof; `audit verify` knows the
file by its first line and checks it against a pinned consortium, for the entry or only
its leaf hash, and refuses what does not hold."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ledger_gw.audit.validity_origin import ORIGIN_PREFIX
from ledger_gw.bootstrap import embedded_ledger
from ledger_gw.cli import cli
from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import AuditFailedError, EvidenceError, ValidationError
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.witnesses import TestWitnesses, settled


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    created = Workspace.create(tmp_path / "ws", DEMO)
    witnesses = TestWitnesses(created, tmp_path / "witnesses", ["AUDITOR-X"], quorum=1)
    ws = witnesses.workspace
    ledger = embedded_ledger(ws)
    try:
        client = OrgClient(ledger, ws.signer("AGENCY-A"))
        for i in range(5):
            client.submit(ev.independent(i))
        settled(ledger)
        (ws.root / "entry-3.bin").write_bytes(ledger.log.entry(3))
    finally:
        ledger.close()
    yield ws
    witnesses.close()


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_export_then_verify(ws: Workspace, tmp_path: Path) -> None:
    made = _run(
        "prove", "inclusion", "--dir", str(ws.root), "--index", "3", "--format", "tlog-proof"
    )
    assert made.exit_code == 0, made.output
    lines = made.output.split("\n")
    assert lines[:2] == ["c2sp.org/tlog-proof@v1", "index 3"]
    assert made.output.count("\n\n") == 2  # after the proof, and inside the checkpoint note
    assert lines[5] == ""  # an audit path of 3 hashes in a tree of 5
    proof = tmp_path / "entry-3.tlog-proof"
    proof.write_text(made.output)
    entry = ws.root / "entry-3.bin"
    consortium = str(ws.root / "consortium.json")

    good = _run("audit", "verify", str(proof), "--consortium", consortium, "--entry", str(entry))
    assert good.exit_code == 0, good.output
    report = json.loads(good.output)
    assert (report["ok"], report["index"], report["tree_size"]) == (True, 3, 5)
    assert report["checked"] == "entry"
    assert len(report["witnesses"]) == 1

    leaf = hashlib.sha256(b"\x00" + entry.read_bytes()).hexdigest()
    by_hash = _run("audit", "verify", str(proof), "--consortium", consortium, "--leaf-hash", leaf)
    assert by_hash.exit_code == 0, by_hash.output
    assert json.loads(by_hash.output)["checked"] == "leaf hash only"

    other = tmp_path / "other.bin"
    other.write_bytes(entry.read_bytes() + b" ")
    for args, error in (
        (["--entry", str(other)], AuditFailedError),  # another entry
        (["--entry", str(entry), "--quorum", "2"], AuditFailedError),  # one witness only
        (["--leaf-hash", "00" * 32], AuditFailedError),
        (["--leaf-hash", "zz"], ValidationError),
        ([], ValidationError),  # nothing to prove
    ):
        bad = _run("audit", "verify", str(proof), "--consortium", consortium, *args)
        assert bad.exit_code == 1, args
        assert isinstance(bad.exception, error), (args, bad.exception)

    unpinned = _run("audit", "verify", str(proof), "--entry", str(entry))
    assert isinstance(unpinned.exception, ValidationError)
    assert "--consortium" in str(unpinned.exception)

    tampered = tmp_path / "tampered.tlog-proof"
    tampered.write_text(made.output.replace("index 3", "index 2"))
    bad = _run("audit", "verify", str(tampered), "--consortium", consortium, "--entry", str(entry))
    assert isinstance(bad.exception, AuditFailedError)
    tampered.write_text(made.output.replace("index 3\n", "index 3\nnot base64!\n"))
    bad = _run("audit", "verify", str(tampered), "--consortium", consortium, "--entry", str(entry))
    assert isinstance(bad.exception, EvidenceError)


def test_a_validity_proof_carrying_no_statement_needs_the_entry(
    ws: Workspace, tmp_path: Path
) -> None:
    """A Fabric validity proof proves the statement it carries; one without it, and no
    entry given, is refused as having nothing to prove (not a crash)."""
    root, signature = base64.b64encode(bytes(32)).decode(), base64.b64encode(bytes(68)).decode()
    note = f"{ORIGIN_PREFIX}ch\n1\n{root}\n\n\u2014 member {signature}\n"
    proof = tmp_path / "validity.tlog-proof"
    proof.write_text(f"c2sp.org/tlog-proof@v1\nindex 0\n\n{note}")
    consortium = str(ws.root / "consortium.json")
    bad = _run(
        "audit", "verify", str(proof), "--consortium", consortium, "--genesis-hash", "00" * 32
    )
    assert bad.exit_code == 1
    assert isinstance(bad.exception, ValidationError), bad.exception
    assert bad.exception.field == "--entry"
