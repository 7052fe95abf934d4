"""A witness's key and its memory are made together and kept together: a witness whose
state file is gone, or holds no memory made for its key, has cosigned checkpoints it no
longer remembers, and must not start again from nothing, where it would cosign a fork
of them. What it remembers is in witness.db itself once it stops, SIGTERM included, so
that the two files, copied or backed up, are the whole witness."""

from __future__ import annotations

import logging
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from ledger_gw.cli.witness import witness as witness_group
from ledger_gw.log.checkpoint import Checkpoint, sign_checkpoint
from ledger_gw.topology.processes import cli
from ledger_gw.witness import RefusedError, TrustedLog, WitnessHome
from ledger_gw.witness.home import KEY_FILE, STATE_FILE
from ledger_gw.witness.store import MemoryLostError, WitnessStore
from ledger_gw.workspace import Workspace
from tests.support.cli import clean_failure, run_cli

ORG = "AUDITOR-X"


@pytest.fixture
def log(workspace: Workspace) -> TrustedLog:
    return TrustedLog.from_vkey(workspace.consortium.origin, workspace.consortium.log_vkey)


def _add(workspace: Workspace, root: bytes, old: int = 0) -> bytes:
    """An add-checkpoint request for a tree of 3 with ``root``, signed by the log."""
    cp = Checkpoint(workspace.consortium.origin, 3, root * 32)
    return f"old {old}\n\n{sign_checkpoint(cp, workspace.log_signer())}".encode()


def _cosigned_then_forgotten(home: WitnessHome, log: TrustedLog, workspace: Workspace) -> None:
    """The witness cosigns a tree, then its state file (and WAL files) are lost."""
    witness = home.open([log])
    witness.add_checkpoint(_add(workspace, b"\x01"))
    witness.store.close()
    for suffix in ("", "-wal", "-shm"):
        home.root.joinpath(STATE_FILE + suffix).unlink(missing_ok=True)


def test_init_makes_the_memory_with_the_key(tmp_path: Path) -> None:
    made = CliRunner().invoke(witness_group, ["init", "--org", ORG, "--dir", str(tmp_path)])
    assert made.exit_code == 0, made.output
    assert (tmp_path / STATE_FILE).stat().st_mode & 0o777 == 0o600
    WitnessStore(f"sqlite:///{tmp_path / STATE_FILE}", create=False).close()


def test_a_witness_that_lost_its_memory_cosigns_no_fork(
    workspace: Workspace, log: TrustedLog, tmp_path: Path
) -> None:
    home = WitnessHome.create(tmp_path / "w", ORG)
    _cosigned_then_forgotten(home, log, workspace)
    with pytest.raises(MemoryLostError, match=r"lost its memory.*--new-memory"):
        home.open([log])
    assert not (home.root / STATE_FILE).exists()  # refusing made no empty memory
    (home.root / STATE_FILE).touch()  # an empty file is no memory either
    with pytest.raises(MemoryLostError, match="not a witness state file"):
        home.open([log])


def test_serve_refuses_to_start_without_its_memory(
    workspace: Workspace, log: TrustedLog, tmp_path: Path
) -> None:
    home = WitnessHome.create(tmp_path / "w", ORG)
    _cosigned_then_forgotten(home, log, workspace)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "ledger_gw.cli.witness", "serve"),
            *("--org", ORG, "--dir", str(home.root), "--port", "0"),
            *("--log-vkey", log.verifier.vkey, "--origin", log.origin),
        ],
        capture_output=True,
        text=True,
        timeout=30,  # a witness that started would serve until killed
        check=False,
    )
    assert "witness_memory_lost" in clean_failure(done)
    assert "--new-memory" in done.stderr


def test_new_memory_is_asked_for_and_says_what_it_means(
    workspace: Workspace, log: TrustedLog, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = WitnessHome.create(tmp_path / "w", ORG)
    with caplog.at_level(logging.WARNING):
        home.open([log]).store.close()
    assert not caplog.records  # its own memory, made by init: nothing to say
    _cosigned_then_forgotten(home, log, workspace)
    with caplog.at_level(logging.WARNING):
        afresh = home.open([log], new_memory=True)
    assert "will trust the next checkpoint" in caplog.text
    afresh.add_checkpoint(_add(workspace, b"\x02"))  # what it asked for: a fork, trusted
    with pytest.raises(RefusedError):
        afresh.add_checkpoint(_add(workspace, b"\x01", old=3))  # and held from then on
    afresh.store.close()


# -- a witness process stopped as services are, and its two files copied ----------------


class Served:
    """``ledger-gw witness serve`` on a free port, for the log, from ``home``."""

    def __init__(self, home: Path, log: TrustedLog, *extra: str) -> None:
        self.process = subprocess.Popen(
            cli(
                *("witness", "serve", "--org", ORG, "--dir", str(home), "--port", "0"),
                *("--log-vkey", log.verifier.vkey, "--origin", log.origin, *extra),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("witness "), self.process.communicate(timeout=30)
        self.url = line.split()[-1]

    def post(self, body: bytes) -> requests.Response:
        return requests.post(f"{self.url}/add-checkpoint", data=body, timeout=10)

    def terminate(self) -> int:
        """SIGTERM, as the topology, the demo and `docker stop` send it: the exit status."""
        self.process.send_signal(signal.SIGTERM)
        self.process.communicate(timeout=30)
        return self.process.returncode


@pytest.fixture
def serving() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
        served.process.communicate(timeout=30)


def _init(home: Path) -> None:
    made = run_cli("witness", "init", "--org", ORG, "--dir", str(home))
    assert made.returncode == 0, made.stderr


def _key_and_memory_only(home: Path, elsewhere: Path) -> Path:
    """What the README says to keep and back up: witness.key and witness.db, no more."""
    elsewhere.mkdir()
    for name in (KEY_FILE, STATE_FILE):
        shutil.copy2(home / name, elsewhere / name)
    return elsewhere


def test_a_terminated_witness_leaves_its_whole_memory_in_witness_db(
    workspace: Workspace, log: TrustedLog, tmp_path: Path, serving: list[Served]
) -> None:
    home = tmp_path / "w"
    _init(home)
    serving.append(witness := Served(home, log))
    assert witness.post(_add(workspace, b"\x01")).status_code == 200
    stopped = witness.terminate()

    restored = _key_and_memory_only(home, tmp_path / "restored")
    serving.append(again := Served(restored, log))
    fork = again.post(_add(workspace, b"\x02", old=3))  # tree 3 again, another root
    assert (fork.status_code, fork.text.split(":")[0]) == (409, "root_mismatch")
    stale = again.post(_add(workspace, b"\x01"))  # from 0: it knows it is at 3
    assert (stale.status_code, stale.text) == (409, "3\n")
    assert again.terminate() == 0
    assert stopped == 0  # a clean stop, not death by the signal


def _stale(home: Path, log: TrustedLog, workspace: Workspace) -> None:
    """witness.db as a copy taken before anything reached it, or as SQLite makes one
    where the file is gone: the table, no checkpoint, nothing saying whose it is."""
    (home / STATE_FILE).unlink()
    WitnessStore(f"sqlite:///{home / STATE_FILE}").close()


def _anothers(home: Path, log: TrustedLog, workspace: Workspace) -> None:
    """Another witness's witness.db, which has cosigned tree 3."""
    other = WitnessHome.create(home.parent / "other", "AGENCY-A").open([log])
    other.add_checkpoint(_add(workspace, b"\x01"))
    other.store.close()
    shutil.copy2(home.parent / "other" / STATE_FILE, home / STATE_FILE)


@pytest.mark.parametrize("replace", [_stale, _anothers])
def test_serve_refuses_a_memory_not_made_for_its_key(
    replace: Callable[[Path, TrustedLog, Workspace], None],
    workspace: Workspace,
    log: TrustedLog,
    tmp_path: Path,
) -> None:
    home = tmp_path / "w"
    _init(home)
    replace(home, log, workspace)
    before = (home / STATE_FILE).read_bytes()
    done = subprocess.run(
        cli(
            *("witness", "serve", "--org", ORG, "--dir", str(home), "--port", "0"),
            *("--log-vkey", log.verifier.vkey, "--origin", log.origin),
        ),
        capture_output=True,
        text=True,
        timeout=30,  # a witness that started would serve until killed
        check=False,
    )
    assert "witness_memory_lost" in clean_failure(done)
    assert (home / STATE_FILE).read_bytes() == before  # refusing changed nothing


def test_new_memory_replaces_a_stale_memory_never_anothers(
    workspace: Workspace, log: TrustedLog, tmp_path: Path
) -> None:
    home = WitnessHome.create(tmp_path / "w", ORG)
    _stale(home.root, log, workspace)
    afresh = home.open([log], new_memory=True)
    afresh.add_checkpoint(_add(workspace, b"\x02"))
    afresh.store.close()
    home.open([log]).store.close()  # its own memory from then on

    _anothers(home.root, log, workspace)
    with pytest.raises(MemoryLostError, match="memory of another witness"):
        home.open([log], new_memory=True)


def _unmarked(path: Path) -> None:
    """witness.db as `witness init` made it before it said whose memory it is."""
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DROP TABLE IF EXISTS memory")


def test_a_memory_made_before_it_said_whose_is_kept_if_it_holds_its_cosignatures(
    workspace: Workspace, log: TrustedLog, tmp_path: Path
) -> None:
    home = WitnessHome.create(tmp_path / "w", ORG)
    witness = home.open([log])
    witness.add_checkpoint(_add(workspace, b"\x01"))
    witness.store.close()
    _unmarked(home.root / STATE_FILE)
    upgraded = home.open([log])  # its cosignatures in it: its own memory, marked now
    latest = upgraded.latest(log.origin)
    assert latest is not None
    assert latest.size == 3
    upgraded.store.close()
    with closing(sqlite3.connect(home.root / STATE_FILE)) as conn:
        marks = conn.execute("SELECT witness FROM memory").fetchall()
    assert marks == [(home.signer().verifier.vkey,)]

    other = WitnessHome.create(tmp_path / "other", "AGENCY-A")
    shutil.copy2(home.root / STATE_FILE, other.root / STATE_FILE)
    _unmarked(other.root / STATE_FILE)  # checkpoints, but none cosigned by its key
    with pytest.raises(MemoryLostError, match="did not cosign"):
        other.open([log])
    _unmarked(home.root / STATE_FILE)
    with closing(sqlite3.connect(home.root / STATE_FILE)) as conn, conn:
        conn.execute("DELETE FROM witnessed")
    with pytest.raises(MemoryLostError, match="holds no memory"):
        home.open([log])
