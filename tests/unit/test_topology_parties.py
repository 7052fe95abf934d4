"""A laid-out site as each party holds it: exactly its own files, whatever the operator's
directory held; a layout killed midway or beaten to its name leaving no key behind and
no witness listed; a reused site whose directories were redirected or loosened, a port
taken, a party's command given another's directory, refused."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ledger_gw.bootstrap import LedgerLostError, prepare_ledger
from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import ConfigError
from ledger_gw.topology import _prepared, prepare, running
from ledger_gw.topology.layout import discard, lay_out, laying_out
from ledger_gw.topology.processes import HOST, free_port
from ledger_gw.workspace import Workspace
from tests.support.cli import clean_failure, run_cli

AGENCIES = ("AGENCY-A", "AGENCY-B")
WITNESSES = {"AGENCY-A": "http://w-a:8070", "AUDITOR-X": "http://w-x:8070"}


def _agency_files(org: str) -> set[str]:
    own = f"orgs/{org}"
    return {
        "consortium.json", "pseudonym.key", "session.key", "node/tls.pem",
        f"{own}/ca.key", f"{own}/ca.pem", f"{own}/handover.key", f"{own}/signer.key",
        f"{own}/signer.pem", f"{own}/tls-client.key", f"{own}/tls-client.pem",
    }  # fmt: skip


#: Every file each party may hold, by its directory: anything else found fails.
EXPECTED = {
    ".": {"laid-out-by-ledger-gw"},
    "node": {
        "consortium.json", "node/log.key", "node/no-ledger-yet", "node/tls.key", "node/tls.pem",
    },
    **{org: _agency_files(org) for org in AGENCIES},
    **{f"witness-{org}": {"consortium.json", "witness.key", "witness.db"} for org in WITNESSES},
}  # fmt: skip


def _inventory(site: Path) -> dict[str, set[str]]:
    """Each party's files (paths within its directory), and the site's own."""
    found: dict[str, set[str]] = {".": set()}
    for path in site.rglob("*"):
        if path.is_dir():
            continue
        party, *rest = path.relative_to(site).parts
        if rest:
            found.setdefault(party, set()).add("/".join(rest))
        else:
            found["."].add(party)
    return found


def _served_as_a_gateway(ws: Workspace, org: str) -> None:
    """What a gateway of ``org`` on a log node leaves in the operator's directory: its
    receipts, outbox and claim index (personal data and this site's history among
    them), its TLS client key, a rotated-out certificate, its off-chain store."""
    ws.rotate_key(org)  # orgs/<ORG>/retired/, which is its own to keep
    own = ws.root / "orgs" / org
    for name in ("receipts.db", "outbox.db", "claims.db", "offchain-backup/people.db"):
        (own / name).parent.mkdir(exist_ok=True)
        with sqlite3.connect(own / name) as db:
            db.execute("CREATE TABLE kept (what TEXT)")
            db.execute("INSERT INTO kept VALUES ('Amal, born 1990-01-01')")
        db.close()
    (own / "claims.db-wal").write_bytes(b"uncheckpointed")
    for name in ("tls-client.key", "tls-client.pem"):
        (own / name).write_text("of the site this directory served")
    (ws.root / f"offchain-{org}.db").write_bytes(b"personal data")


def test_each_party_holds_exactly_its_own_files(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "operator", DEMO)
    prepare(ws.root, tmp_path / "site", AGENCIES, list(WITNESSES), WITNESSES)
    assert _inventory(tmp_path / "site") == EXPECTED


def test_an_operator_directory_that_served_gives_the_site_none_of_what_it_kept(
    tmp_path: Path,
) -> None:
    ws = Workspace.create(tmp_path / "operator", DEMO)
    _served_as_a_gateway(ws, "AGENCY-A")
    retired = [p.name for p in (ws.root / "orgs" / "AGENCY-A" / "retired").iterdir()]
    site = tmp_path / "site"
    prepare(ws.root, site, AGENCIES, list(WITNESSES), WITNESSES)

    retired_copied = {f"orgs/AGENCY-A/retired/{name}" for name in retired}
    assert _inventory(site) == {**EXPECTED, "AGENCY-A": _agency_files("AGENCY-A") | retired_copied}
    own = site / "AGENCY-A" / "orgs" / "AGENCY-A"
    assert (own / "signer.pem").read_bytes() == (
        ws.root / "orgs" / "AGENCY-A" / "signer.pem"
    ).read_bytes()  # the rotated key, in force
    assert "of the site" not in (own / "tls-client.key").read_text()  # issued afresh


def _site(tmp_path: Path) -> tuple[Workspace, Path]:
    ws = Workspace.create(tmp_path / "operator", DEMO)
    site = tmp_path / "site"
    prepare(ws.root, site, AGENCIES, list(WITNESSES), WITNESSES)
    return ws, site


def test_a_party_directory_swapped_for_a_symlink_is_refused_not_written_through(
    tmp_path: Path,
) -> None:
    """AGENCY-A's directory pointing at the operator's, which holds every member's keys:
    its gateway would be given them all, and its client certificate issued there."""
    ws, site = _site(tmp_path)
    (site / "AGENCY-A").rename(tmp_path / "moved")
    (site / "AGENCY-A").symlink_to(ws.root)
    with pytest.raises(ConfigError, match="symlink"):
        _prepared(ws.root, site, AGENCIES, list(WITNESSES))
    assert not (ws.root / "orgs" / "AGENCY-A" / "tls-client.key").exists()


def test_a_directory_within_a_party_swapped_for_a_symlink_is_refused(tmp_path: Path) -> None:
    """AGENCY-B's organisation directory pointing at a copy someone else keeps: the key
    of the client certificate issued would be theirs to read."""
    ws, site = _site(tmp_path)
    own = site / "AGENCY-B" / "orgs" / "AGENCY-B"
    elsewhere = tmp_path / "elsewhere"
    own.rename(elsewhere)
    own.symlink_to(elsewhere)
    before = (elsewhere / "tls-client.key").read_bytes()
    with pytest.raises(ConfigError, match="symlink"):
        _prepared(ws.root, site, AGENCIES, list(WITNESSES))
    assert (elsewhere / "tls-client.key").read_bytes() == before


@pytest.mark.parametrize("loosened", ["witness-AUDITOR-X", "AGENCY-A/orgs/AGENCY-A", "."])
def test_a_reused_site_with_a_directory_others_may_write_is_refused(
    tmp_path: Path, loosened: str
) -> None:
    """Whoever may write a party's directory swaps its keys, or the certificate it pins."""
    ws, site = _site(tmp_path)
    os.chmod(site / loosened, 0o777)  # noqa: S103 - the attack
    with pytest.raises(ConfigError, match="others may write"):
        _prepared(ws.root, site, AGENCIES, list(WITNESSES))


def test_a_key_planted_as_a_symlink_is_replaced_not_written_through(tmp_path: Path) -> None:
    ws, site = _site(tmp_path)
    key = site / "AGENCY-A" / "orgs" / "AGENCY-A" / "tls-client.key"
    target = tmp_path / "collected"
    target.write_text("")
    key.unlink()
    key.symlink_to(target)
    _prepared(ws.root, site, AGENCIES, list(WITNESSES))
    assert target.read_text() == ""
    assert not key.is_symlink()
    assert key.stat().st_mode & 0o777 == 0o600


def test_a_witness_port_someone_else_listens_on_stops_the_start(tmp_path: Path) -> None:
    """The witness's port is fixed by the consortium file; another process listening there
    answered for it, so the launcher went on as if it had started."""
    with socket.socket() as squatter:
        squatter.bind((HOST, 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        ws = Workspace.create(tmp_path / "operator", DEMO)
        site = tmp_path / "site"
        urls = {"AUDITOR-X": f"http://{HOST}:{port}"}
        prepare(ws.root, site, AGENCIES[:1], list(urls), urls)
        with (
            pytest.raises(ConfigError, match=f"{port} is in use"),
            running(ws.root, site, AGENCIES[:1], list(urls)),
        ):
            pass


@pytest.mark.parametrize("party", ["AGENCY-A", "witness-AUDITOR-X"])
def test_the_log_node_started_in_another_partys_directory_makes_nothing_there(
    tmp_path: Path, party: str
) -> None:
    """Given an agency's directory, the node made a ledger there and a certificate of
    its own over the one the agency's gateway pins, before it found no log key."""
    _, site = _site(tmp_path)
    before = _inventory(site)[party]
    pinned = (site / "AGENCY-A" / "node" / "tls.pem").read_bytes()
    port = str(free_port())
    args = ("log", "serve", "--dir", str(site / party), "--port", port, "--new-ledger")
    assert "not a log node's directory" in clean_failure(run_cli(*args))
    assert _inventory(site)[party] == before
    assert (site / "AGENCY-A" / "node" / "tls.pem").read_bytes() == pinned


_KILLED_WHILE_LAYING_OUT = """
import os, signal, sys
from pathlib import Path
from ledger_gw.topology.layout import laying_out
with laying_out(Path(sys.argv[1]), Path(sys.argv[2]), ["AGENCY-A", "AGENCY-B"], [], {}):
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_layout_killed_midway_leaves_no_copy_of_the_keys_once_laid_out_again(
    tmp_path: Path,
) -> None:
    """A run killed (no exception to clean up on) leaves its draft beside the site,
    every party's keys in one directory: the next run removes it, and nothing else."""
    ws = Workspace.create(tmp_path / "operator", DEMO)
    site = tmp_path / "site"
    command = [sys.executable, "-c", _KILLED_WHILE_LAYING_OUT, str(ws.root), str(site)]
    killed = subprocess.run(command, capture_output=True, check=False, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    drafts = [p for p in tmp_path.iterdir() if p.name.startswith(".site.")]
    assert len(drafts) == 1
    assert (drafts[0] / "node" / "node" / "log.key").is_file()
    own = tmp_path / ".site.12345678"  # named like a draft, but unmarked: kept
    own.mkdir()

    prepare(ws.root, site, AGENCIES, list(WITNESSES), WITNESSES)
    assert sorted(p.name for p in tmp_path.iterdir()) == [own.name, "operator", "site"]


def test_the_operator_lists_no_witness_of_a_site_that_was_not_made(tmp_path: Path) -> None:
    """The site's name taken while it was drafted: the draft is dropped, its witnesses'
    keys with it, so the operator's consortium file must not list them."""
    ws = Workspace.create(tmp_path / "operator", DEMO)
    before = (ws.root / "consortium.json").read_bytes()
    site = tmp_path / "site"
    with (
        pytest.raises(ConfigError, match="exists"),
        laying_out(ws.root, site, AGENCIES, list(WITNESSES), WITNESSES),
    ):
        (site / "someone-else").mkdir(parents=True)
    assert (ws.root / "consortium.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["operator", "site"]


def test_up_fresh_forks_no_ledger_the_operator_kept(tmp_path: Path) -> None:
    """The operator's directory has served the log itself: a fresh site's node, given its
    key without that ledger, is refused rather than start a new history under it."""
    ws = Workspace.create(tmp_path / "operator", DEMO)
    prepare_ledger(ws.root)  # its key's ledger, in the operator's directory
    with pytest.raises(LedgerLostError), running(ws.root, tmp_path / "site", (), [], fresh=True):
        pass


def test_a_second_site_of_one_log_key_starts_no_second_history(tmp_path: Path) -> None:
    """The log key's first ledger goes to the first site laid out from the operator's
    directory: a second site's node (another copy of the key) is refused rather than
    sign a history of its own, a fork under one key and origin."""
    ws = Workspace.create(tmp_path / "operator", DEMO)
    first = lay_out(ws.root, tmp_path / "first", (), (), {})
    second = lay_out(ws.root, tmp_path / "second", (), (), {})
    with pytest.raises(LedgerLostError):
        prepare_ledger(second.node)
    assert not (second.node / "ledger.db").exists()
    prepare_ledger(first.node)  # the first site's node makes the key's ledger
    assert (first.node / "ledger.db").exists()
    with pytest.raises(LedgerLostError):  # and the operator's own directory forks it no more
        prepare_ledger(ws.root)


def test_up_fresh_gives_back_a_first_ledger_never_made_and_forks_none_made(
    tmp_path: Path,
) -> None:
    ws = Workspace.create(tmp_path / "operator", DEMO)
    site = tmp_path / "site"
    lay_out(ws.root, site, (), (), {})
    discard(site, ws.root)  # its node never signed: the first ledger is the operator's again
    again = lay_out(ws.root, site, (), (), {})
    prepare_ledger(again.node)  # made, as a first ledger
    discard(site, ws.root)  # that ledger is gone with it: anything new under the key forks it
    third = lay_out(ws.root, site, (), (), {})
    with pytest.raises(LedgerLostError):
        prepare_ledger(third.node)
    prepare_ledger(third.node, new_ledger=True)  # only when told
