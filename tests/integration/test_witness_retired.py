"""A member that leaves the consortium (`ledger-gw consortium retire-member`) signs
nothing from then on: its witness, still running, may go on cosigning, but what it
cosigns after it left counts towards no quorum, or two members that left could make
up the quorum for whatever history the log's operator shows them. What it cosigned
while a member still counts: the members' past verifies as it did.

The consortium here lists three witnesses (AGENCY-A's, AUDITOR-X's and AGENCY-B's,
a quorum of two); AGENCY-A and AUDITOR-X leave.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest

from ledger_gw.client import OrgClient
from ledger_gw.consortium import Consortium, add_witness
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.note import NoteSigner
from ledger_gw.witness import AddCheckpoint, TrustedLog, Witness, WitnessHome, WitnessStore, attach
from ledger_gw.workspace import Workspace
from tests.support.cli import clean_failure, run_cli
from tests.support.events import independent
from tests.support.witnesses import TestWitnesses

LEFT = ("AGENCY-A", "AUDITOR-X")
SIZE = 3


@pytest.fixture
def site(workspace: Workspace, session_witnesses: TestWitnesses, tmp_path: Path) -> Workspace:
    """A copy of the session's consortium with AGENCY-B's witness listed too (quorum 2)."""
    root = tmp_path / "ws"
    shutil.copytree(workspace.root, root)
    home = WitnessHome.create(tmp_path / "witness-AGENCY-B", "AGENCY-B")
    vkey = home.signer().verifier.vkey
    add_witness(root / "consortium.json", "AGENCY-B", vkey, "http://127.0.0.1:9", quorum=2)
    return Workspace.load(root)


def _signers(session_witnesses: TestWitnesses) -> list[NoteSigner]:
    return [session_witnesses.homes[org].signer() for org in LEFT]


def _retire(site: Workspace) -> None:
    """AGENCY-A retired by `retire-member`, then AUDITOR-X as a release that did not
    check the quorum left the file: `retire-member` now refuses to leave AGENCY-B's
    witness alone short of the quorum, but such a file still reads."""
    done = run_cli("consortium", "retire-member", "--dir", str(site.root), "--org", LEFT[0])
    assert done.returncode == 0, done.stderr
    consortium = Consortium.load(site.consortium_file)
    member = consortium.organisation(LEFT[1])
    now = dt.datetime.now(dt.UTC)
    keys = tuple(replace(p, valid_until=p.valid_until or now) for p in member.signing_keys)
    members = {**consortium.organisations, LEFT[1]: replace(member, signing_keys=keys)}
    replace(consortium, organisations=members).save(site.consortium_file)


def _ledger(site: Workspace, path: Path) -> str:
    """SIZE events by AGENCY-C, a member that stays; the latest checkpoint's note."""
    url = f"sqlite:///{path}"
    ledger = EmbeddedLedger(url, site.consortium, site.log_signer())
    try:
        client = OrgClient(ledger, site.signer("AGENCY-C"))
        for i in range(SIZE):
            client.submit(independent(i))
        return ledger.log.checkpoint()
    finally:
        ledger.close()


def _cosigned(
    site: Workspace, note: str, signers: Sequence[NoteSigner], at: float, state: Path
) -> str:
    """``note`` cosigned by each of ``signers``' witnesses, running as they do (their
    own memory, their clock at ``at``)."""
    log = TrustedLog.from_vkey(site.consortium.origin, site.consortium.log_vkey)
    for n, signer in enumerate(signers):
        store = WitnessStore(f"sqlite:///{state / f'{n}.db'}")
        try:
            witness = Witness(signer, [log], store, clock=lambda: at)
            answer = witness.add_checkpoint(AddCheckpoint.build(0, (), note).body())
        finally:
            store.close()
        note = attach(note, answer.cosignature, log, signer.verifier)
    return note


def _store(path: Path, note: str) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE checkpoints SET note = ? WHERE size = ?", (note, SIZE))


def _verify(site: Workspace, path: Path) -> subprocess.CompletedProcess[str]:
    """`ledger-gw verify`, the site's consortium file pinned."""
    pin = ("--consortium", str(site.root / "consortium.json"))
    return run_cli("verify", "--dir", str(site.root), "--ledger", f"sqlite:///{path}", *pin)


def test_what_retired_members_witnesses_cosign_after_they_left_makes_no_quorum(
    site: Workspace, session_witnesses: TestWitnesses, tmp_path: Path
) -> None:
    """The operator's log, which AGENCY-B's witness never saw, cosigned by the witnesses
    of the two members that left, running on after they left."""
    _retire(site)
    path = tmp_path / "ledger.db"
    state = tmp_path / "state"
    state.mkdir()
    note = _cosigned(site, _ledger(site, path), _signers(session_witnesses), time.time(), state)
    _store(path, note)

    consortium = Workspace.load(site.root).consortium
    assert consortium.witnessed(note) is None
    with pytest.raises(ckpt.CheckpointError, match="quorum not met: 0 of 3"):
        consortium.open_witnessed(note)
    assert "not_witnessed" in clean_failure(_verify(site, path))


def test_what_they_cosigned_while_members_still_counts(
    site: Workspace, session_witnesses: TestWitnesses, tmp_path: Path
) -> None:
    path = tmp_path / "ledger.db"
    state = tmp_path / "state"
    state.mkdir()
    while_members = time.time() - 60
    note = _cosigned(site, _ledger(site, path), _signers(session_witnesses), while_members, state)
    _store(path, note)
    _retire(site)

    consortium = Workspace.load(site.root).consortium
    opened = consortium.open_witnessed(note)
    assert sorted(opened.witnesses) == ["witness.agency-a", "witness.auditor-x"]
    done = _verify(site, path)
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stdout.split())
    assert f"witnessed by the quorum (2) up to size {SIZE} of {SIZE}" in said


def test_a_retired_members_statement_of_validity_counts_only_from_before_it_left(
    site: Workspace, session_witnesses: TestWitnesses
) -> None:
    """A Fabric channel's validity log: the members sign its checkpoints with their
    witness keys, so the same holds of what they state."""
    _retire(site)
    consortium = Workspace.load(site.root).consortium
    origin = "validity.example/channel"
    cp = ckpt.Checkpoint(origin, 1, bytes(32))
    signers = _signers(session_witnesses)

    def stated(at: float) -> str:
        return ckpt.merge_statements([ckpt.cosign_statement(cp, s, int(at)) for s in signers])

    before = ckpt.open_statement(
        stated(time.time() - 60), consortium.witness_verifiers(), 2, origin=origin
    )
    assert len(before.cosignatures) == 2
    with pytest.raises(ckpt.CheckpointError, match="quorum not met"):
        ckpt.open_statement(stated(time.time()), consortium.witness_verifiers(), 2, origin=origin)
