"""Retiring a member that runs a witness (`ledger-gw consortium retire-member`): what
its witness cosigns from then on counts towards no quorum, so the witnesses of the
members who stay must still be able to meet it, or no new checkpoint is ever witnessed
again. A retirement that would leave too few is refused, changing nothing, and so is a
quorum raised beyond them or a witness listed for a member that left; the log pushes to
a retired member's witness no more; a file already short (from before this was
refused) still reads, and a log started from it says loudly that nothing it appends
can be witnessed.

The consortium here is a copy of the session's (AGENCY-A's and AUDITOR-X's witnesses,
real servers, a quorum of two), with AGENCY-B's witness, a real server too, listed
where a test needs three.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ledger_gw.client import OrgClient
from ledger_gw.consortium import Consortium, add_witness
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.witnessing import endpoints
from ledger_gw.log.note import NoteVerifier, SigType, has_cosigned
from ledger_gw.witness import TrustedLog, Witness, WitnessHome, WitnessStore
from ledger_gw.witness.server import make_witness_server
from ledger_gw.workspace import Workspace
from tests.support.cli import clean_failure, run_cli
from tests.support.disk import digests
from tests.support.events import independent
from tests.support.witnesses import TestWitnesses

UNREACHABLE = "witness_quorum_unreachable"


def _copy(workspace: Workspace, root: Path) -> Workspace:
    shutil.copytree(workspace.root, root)
    return Workspace.load(root)


@pytest.fixture
def pair(workspace: Workspace, tmp_path: Path) -> Workspace:
    """The session's consortium as it is: two witnesses, a quorum of both."""
    return _copy(workspace, tmp_path / "ws")


@pytest.fixture
def agency_b(tmp_path: Path) -> WitnessHome:
    return WitnessHome.create(tmp_path / "witness-AGENCY-B", "AGENCY-B")


@pytest.fixture
def trio(
    workspace: Workspace, witnesses: TestWitnesses, agency_b: WitnessHome, tmp_path: Path
) -> Iterator[Workspace]:
    """The session's consortium with AGENCY-B's witness, serving on a port of its own,
    listed too (three witnesses, a quorum of two); every witness with fresh memory."""
    site = _copy(workspace, tmp_path / "ws")
    log = TrustedLog.from_vkey(site.consortium.origin, site.consortium.log_vkey)
    store = WitnessStore(f"sqlite:///{tmp_path / 'witness-AGENCY-B.db'}")
    server = make_witness_server(Witness(agency_b.signer(), [log], store), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        vkey = agency_b.signer().verifier.vkey
        add_witness(site.consortium_file, "AGENCY-B", vkey, url, quorum=2)
        yield Workspace.load(site.root)
    finally:
        server.shutdown()
        server.server_close()
        store.close()


def _retire(site: Workspace, org: str) -> str:
    done = run_cli("consortium", "retire-member", "--dir", str(site.root), "--org", org)
    assert done.returncode == 0, done.stderr
    return " ".join(done.stdout.split())


def _refused_retiring(site: Workspace, org: str) -> str:
    """The one line `retire-member` refuses with; the directory checked unchanged."""
    before = digests(site.root)
    line = clean_failure(
        run_cli("consortium", "retire-member", "--dir", str(site.root), "--org", org)
    )
    assert digests(site.root) == before
    return line


def _in_force(site: Workspace, org: str) -> bool:
    keys = Consortium.load(site.consortium_file).organisation(org).signing_keys
    return keys[-1].valid_until is None


def _cosigner(vkey: str) -> NoteVerifier:
    return NoteVerifier.from_vkey(vkey).as_type(SigType.COSIGNATURE_V1)


def _closed_by_hand(site: Workspace, org: str) -> None:
    """``org`` retired as a release that did not check the quorum left the file."""
    consortium = Consortium.load(site.consortium_file)
    member = consortium.organisation(org)
    now = dt.datetime.now(dt.UTC)
    keys = tuple(replace(p, valid_until=p.valid_until or now) for p in member.signing_keys)
    members = {**consortium.organisations, org: replace(member, signing_keys=keys)}
    replace(consortium, organisations=members).save(site.consortium_file)


def test_retiring_the_member_whose_witness_the_quorum_needs_is_refused_changing_nothing(
    pair: Workspace,
) -> None:
    """Two witnesses, a quorum of two: with AGENCY-A gone, AUDITOR-X's witness alone
    could never make up the quorum, and every new checkpoint would go unwitnessed."""
    line = _refused_retiring(pair, "AGENCY-A")
    assert line.startswith(f"error {UNREACHABLE}: retiring AGENCY-A leaves 1 witness(es)")
    assert "list another member's witness (`ledger-gw consortium add-witness`)" in line
    assert "a lower quorum will not do" in line  # one of two is no majority of the listed
    assert _in_force(pair, "AGENCY-A")


def test_a_member_leaves_while_the_witnesses_who_stay_meet_the_quorum_and_no_further(
    trio: Workspace,
) -> None:
    said = _retire(trio, "AGENCY-A")
    assert "2 witnesses of members in force (and 1 of members that left), quorum 2" in said
    line = _refused_retiring(trio, "AUDITOR-X")
    assert line.startswith(f"error {UNREACHABLE}: retiring AUDITOR-X leaves 1 witness(es)")
    assert _in_force(trio, "AUDITOR-X")
    _retire(trio, "AGENCY-C")  # a member that runs no witness may still leave


def test_a_quorum_raised_beyond_the_witnesses_of_members_in_force_is_refused(
    trio: Workspace,
) -> None:
    """Three witnesses listed, one of a member that left: a quorum of three is within
    what the file lists, but no new checkpoint could meet it."""
    _retire(trio, "AGENCY-A")
    vkey, url = trio.consortium.witness_keys()["AGENCY-B"], trio.consortium.witness_urls()
    before = digests(trio.root)
    line = clean_failure(
        run_cli(
            "consortium",
            "add-witness",
            *("--dir", str(trio.root), "--org", "AGENCY-B", "--vkey", vkey),
            *("--url", url["AGENCY-B"][0], "--quorum", "3"),
        )
    )
    assert line.startswith(f"error {UNREACHABLE}: listing AGENCY-B's witness with quorum 3")
    assert digests(trio.root) == before


def test_no_witness_is_listed_for_a_member_that_left(trio: Workspace, tmp_path: Path) -> None:
    """Its cosignatures would count for no one, and its new key would leave what its
    old one cosigned while it was a member unverified."""
    _retire(trio, "AGENCY-A")
    vkey = WitnessHome.create(tmp_path / "again", "AGENCY-A").signer().verifier.vkey
    before = digests(trio.root)
    line = clean_failure(
        run_cli(
            "consortium",
            "add-witness",
            *("--dir", str(trio.root), "--org", "AGENCY-A", "--vkey", vkey),
            "--url",
            "http://127.0.0.1:9",
        )
    )
    assert line.startswith("error member_retired: AGENCY-A has left the consortium")
    assert digests(trio.root) == before


def test_the_log_pushes_no_checkpoint_to_a_retired_members_witness(
    trio: Workspace, witnesses: TestWitnesses, agency_b: WitnessHome, tmp_path: Path
) -> None:
    """AGENCY-A's witness runs on after AGENCY-A left, and would cosign what it is
    shown; a log started since shows it nothing, and the two that stay witness it."""
    _retire(trio, "AGENCY-A")
    consortium = Workspace.load(trio.root).consortium
    ledger = EmbeddedLedger(
        f"sqlite:///{tmp_path / 'ledger.db'}",
        consortium,
        trio.log_signer(),
        witnesses=endpoints(consortium),
    )
    try:
        OrgClient(ledger, trio.signer("AGENCY-C")).submit(independent(0))
        assert ledger.settle_witnesses(15)
        note = ledger.log.checkpoint()
    finally:
        ledger.close()
    keys = consortium.witness_keys()
    assert not has_cosigned(note, _cosigner(keys["AGENCY-A"]))
    assert has_cosigned(note, _cosigner(keys["AUDITOR-X"]))
    assert has_cosigned(note, agency_b.signer().verifier.as_type(SigType.COSIGNATURE_V1))
    assert consortium.witnessed(note) is not None


def test_a_file_already_short_of_the_quorum_reads_and_a_log_started_from_it_says_so(
    pair: Workspace,
    witnesses: TestWitnesses,
    agency_b: WitnessHome,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """A file a release that did not check this left with AGENCY-A retired and a quorum
    of two: refused on reading, it would keep auditors from the history its witnesses
    cosigned and the operator from `add-witness`, the repair. It reads; the log says,
    at its first append, that no checkpoint from now on can be witnessed; another
    member's witness listed mends it."""
    _closed_by_hand(pair, "AGENCY-A")
    consortium = Consortium.load(pair.consortium_file)
    ledger = EmbeddedLedger(
        f"sqlite:///{tmp_path / 'ledger.db'}",
        consortium,
        pair.log_signer(),
        witnesses=endpoints(consortium),
    )
    try:
        with caplog.at_level(logging.ERROR, logger="ledger_gw.embedded.witnessing"):
            OrgClient(ledger, pair.signer("AGENCY-C")).submit(independent(0))
            ledger.settle_witnesses(15)
    finally:
        ledger.close()
    said = [r.getMessage() for r in caplog.records if r.name == "ledger_gw.embedded.witnessing"]
    assert any(
        "quorum is 2, but only 1 witness(es) of members in force" in m
        and "no checkpoint from now on can be witnessed" in m
        for m in said
    ), said
    vkey = agency_b.signer().verifier.vkey
    listed = run_cli(
        "consortium",
        "add-witness",
        *("--dir", str(pair.root), "--org", "AGENCY-B", "--vkey", vkey),
        "--url",
        "http://127.0.0.1:9",
    )
    assert listed.returncode == 0, listed.stderr
    mended = Consortium.load(pair.consortium_file)
    assert mended.witness_quorum == 2
    assert sorted(mended.witnesses_in_force()) == ["AGENCY-B", "AUDITOR-X"]
