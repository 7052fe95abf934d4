"""`ledger-gw key rotate` cut short at each of its steps (the process killed there): the
files left are a usable workspace, or one that running the command again finishes, with
no key listed that never signed and every retired certificate kept. And each step is on
disk before the next relies on it, so a power loss leaves one of those states too."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from ledger_gw.bootstrap import embedded_ledger
from ledger_gw.consortium import Consortium
from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import ConfigError
from ledger_gw.identity import Signer, fingerprint
from ledger_gw.transaction import sign_proposal
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.cli import run_cli
from tests.support.disk import Journal, killed_at

ORG = "AGENCY-A"
# Where a rotation puts each file in place, in order.
STEPS = (
    "retired",
    "signer.key.new",
    "signer.pem.new",
    "consortium.json",
    "signer.key",
    "signer.pem",
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return Workspace.create(tmp_path / "ws", DEMO).root


def _logged(ws: Workspace, signer: Signer, n: int) -> bool:
    """Whether a ledger opened from the workspace logs what ``signer`` signs now."""
    ledger = embedded_ledger(ws)
    try:
        (outcome,) = ledger.submit_many([sign_proposal(signer, "submit", [ev.independent(n)])])
    finally:
        ledger.close()
    return outcome.error is None


def _finished(root: Path, n: int) -> None:
    """One rotation, whole: two keys listed, the old one's certificate kept, the new one
    in place and logged."""
    ws = Workspace.load(root)
    d = root / "orgs" / ORG
    first, current = ws.consortium.organisation(ORG).signing_keys
    assert first.valid_until == current.valid_from
    assert current.valid_until is None
    kept = d / "retired" / f"{first.fingerprint[:16]}.pem"
    assert fingerprint(kept.read_text()) == first.fingerprint
    assert fingerprint((d / "signer.pem").read_text()) == current.fingerprint
    assert _logged(ws, ws.signer(ORG), n)
    assert not list(d.glob("signer.*.new"))


@pytest.mark.parametrize("step", STEPS)
def test_a_rotation_killed_at_any_step_is_usable_or_finished_by_running_it_again(
    root: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    with monkeypatch.context() as m:
        killed_at(m, step)
        with pytest.raises(OSError, match="killed"):
            Workspace.load(root).rotate_key(ORG)
    ws = Workspace.load(root)
    if len(ws.consortium.organisation(ORG).signing_keys) == 1:  # the file never changed
        assert _logged(ws, ws.signer(ORG), 0)  # the old key still in force
    else:  # the old key retired, the new one not in place: no gateway signs with either
        with pytest.raises(ConfigError, match="again to finish it"):
            ws.signer(ORG)
    Workspace.load(root).rotate_key(ORG)
    _finished(root, 1)


def test_a_rotation_cut_short_is_finished_by_the_command_and_no_gateway_signs_meanwhile(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed with the new key in place but not its certificate: a gateway started then
    would sign with a key the two files do not share (or the old, retired one)."""
    with monkeypatch.context() as m:
        killed_at(m, "signer.pem")
        with pytest.raises(OSError, match="killed"):
            Workspace.load(root).rotate_key(ORG)
    listed = Consortium.load(root / "consortium.json").organisation(ORG).signing_keys[-1]
    again = f"run `ledger-gw key rotate --dir {root} --org {ORG}` again"
    with pytest.raises(ConfigError, match=re.escape(again)):
        Workspace.load(root).signer(ORG)
    done = run_cli("key", "rotate", "--dir", str(root), "--org", ORG)
    assert done.returncode == 0, done.stderr
    assert listed.fingerprint[:16] in done.stdout  # finished with that key, not another
    _finished(root, 0)


def test_each_step_of_a_rotation_is_on_disk_before_the_next_relies_on_it(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The consortium file lists the new key only once the key and its certificate are on
    disk (else a power loss could leave it listed and lost); the key is put in place only
    once that listing is on disk (else the old file could come back, the new key not
    listed in it)."""
    d = root / "orgs" / ORG
    journal = Journal.record(monkeypatch)
    Workspace.load(root).rotate_key(ORG)
    (retired,) = (d / "retired").iterdir()
    listed = journal.renamed(root / "consortium.json")
    for staged in (retired, d / "signer.key.new", d / "signer.pem.new"):
        assert journal.on_disk(staged) < listed, staged.name
    assert journal.on_disk(root / "consortium.json") < journal.renamed(d / "signer.key")
    assert journal.on_disk(d / "signer.key") < journal.renamed(d / "signer.pem")
    journal.on_disk(d / "signer.pem")


def test_the_consortium_file_is_on_disk_when_saved(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`member add` and `key rotate` write other files after it, on its word."""
    ws = Workspace.load(root)
    journal = Journal.record(monkeypatch)
    ws.consortium.save(ws.consortium_file)
    journal.on_disk(ws.consortium_file)
    assert Consortium.load(ws.consortium_file) == ws.consortium


def test_a_symlink_planted_where_a_rotation_stages_its_key_gets_nothing(
    root: Path, tmp_path: Path
) -> None:
    """Whoever may write the member's directory links ``signer.key.new`` to a file they
    can read: the new private key must not go there."""
    d = root / "orgs" / ORG
    trap = tmp_path / "trap"
    trap.write_text("")
    trap.chmod(0o644)
    (d / "signer.key.new").symlink_to(trap)
    Workspace.load(root).rotate_key(ORG)
    assert trap.read_text() == ""
    assert stat.S_IMODE(trap.stat().st_mode) == 0o644
    mode = (d / "signer.key").lstat().st_mode
    assert stat.S_ISREG(mode)
    assert stat.S_IMODE(mode) == 0o600
    _finished(root, 0)
