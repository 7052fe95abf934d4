"""Changes to the consortium file (`member add`, `key rotate`, `consortium add-witness`)
made at once by separate processes, or cut short: none is lost, none leaves a member
half made."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ledger_gw.bootstrap import embedded_ledger
from ledger_gw.consortium import Consortium, add_witness
from ledger_gw.identity import Profile, certificate_fingerprint, fingerprint
from ledger_gw.transaction import sign_proposal
from ledger_gw.witness import WitnessHome
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.cli import clean_failure, run_cli
from tests.support.disk import killed_at
from tests.support.east_basin import SMALL, init_east_basin

ADD = ("--org", "LAKE-AID", "--role", "agency", "--display-name", "Lake Aid")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return init_east_basin(tmp_path, SMALL)


def _at_once(root: Path, changes: list[Callable[[Workspace], Any]]) -> None:
    """Each change in a process of its own, all started from the workspace as loaded
    before any of them, released together."""
    fork = multiprocessing.get_context("fork")
    barrier = fork.Barrier(len(changes), timeout=60)

    def run(change: Callable[[Workspace], Any]) -> None:
        ws = Workspace.load(root)
        barrier.wait()
        change(ws)

    processes = [fork.Process(target=run, args=(change,)) for change in changes]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [p.exitcode for p in processes] == [0] * len(changes)


def _member_signs(root: Path, org: str, n: int = 0) -> bool:
    """Whether the ledger opened from the workspace admits what ``org`` signs now."""
    ws = Workspace.load(root)
    ledger = embedded_ledger(ws)
    try:
        (outcome,) = ledger.submit_many(
            [sign_proposal(ws.signer(org), "submit", [ev.independent(n)])]
        )
    finally:
        ledger.close()
    return outcome.error is None


def test_admin_commands_at_once_each_keep_the_others_change(root: Path, tmp_path: Path) -> None:
    vkey = WitnessHome.create(tmp_path / "witness", "LAKE-AUDIT").signer().verifier.vkey
    _at_once(
        root,
        [
            lambda ws: ws.add_member("LAKE-AID", "agency", Profile("Lake Aid")),
            lambda ws: ws.rotate_key("RIVER-AID"),
            lambda ws: add_witness(ws.consortium_file, "LAKE-AUDIT", vkey, "http://127.0.0.1:9"),
        ],
    )
    listed = Consortium.load(root / "consortium.json")
    assert "LAKE-AID" in listed.organisations
    assert listed.witness_keys() == {"LAKE-AUDIT": vkey}
    keys = listed.organisation("RIVER-AID").signing_keys
    assert len(keys) == 2
    # the certificate RIVER-AID's gateway signs with is the one the consortium lists
    signer_pem = (root / "orgs" / "RIVER-AID" / "signer.pem").read_text()
    assert fingerprint(signer_pem) == keys[-1].fingerprint
    assert _member_signs(root, "RIVER-AID", 0)
    assert _member_signs(root, "LAKE-AID", 1)


@pytest.mark.parametrize(
    "step",
    [
        "LAKE-AID.new",  # making its keys
        "consortium.json",  # listing it
        "LAKE-AID",  # putting its directory in place
    ],
)
def test_a_member_add_cut_short_is_finished_by_running_it_again(
    root: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    with monkeypatch.context() as m:
        killed_at(m, step)
        with pytest.raises(OSError, match="killed"):
            Workspace.load(root).add_member("LAKE-AID", "agency", Profile("Lake Aid"))
    done = run_cli("member", "add", "--dir", str(root), *ADD)
    assert done.returncode == 0, done.stderr
    listed = Consortium.load(root / "consortium.json").organisation("LAKE-AID")
    d = root / "orgs" / "LAKE-AID"
    assert fingerprint((d / "ca.pem").read_text()) == certificate_fingerprint(listed.ca_cert)
    assert fingerprint((d / "signer.pem").read_text()) == listed.signing_keys[-1].fingerprint
    assert sorted(p.name for p in (root / "orgs").iterdir()) == [
        "LAKE-AID",
        "LAKE-AUDIT",
        "RIVER-AID",
    ]
    assert _member_signs(root, "LAKE-AID")


def test_a_directory_of_a_non_member_is_not_taken_for_a_member(root: Path) -> None:
    """Keys someone left under orgs/ for an organisation the file does not list: the
    refusal says so, and deletes none of them."""
    leftover = root / "orgs" / "LAKE-AID"
    leftover.mkdir()
    (leftover / "signer.key").write_text("someone's key")
    line = clean_failure(run_cli("member", "add", "--dir", str(root), *ADD))
    assert "LAKE-AID is not a member" in line, line
    assert "already a member" not in line
    assert (leftover / "signer.key").read_text() == "someone's key"
