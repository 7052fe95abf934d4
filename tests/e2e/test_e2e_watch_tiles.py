"""`ledger-gw audit watch --url` against a real gunicorn gateway: it follows the log from
its tiles, asks for witnesses, and fails loudly once the served log is swapped for a fork
(the database copied at an earlier size, then extended differently)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from ledger_gw.bootstrap import open_gateway
from ledger_gw.services.access import issue_token
from ledger_gw.services.config import GatewayConfig
from tests.support import events as ev
from tests.support.gunicorn import free_port, gunicorn
from tests.support.witnesses import TestWitnesses


@pytest.fixture
def root(witnessed: TestWitnesses) -> Path:
    return witnessed.workspace.root


def _tokens(root: Path) -> dict[str, str]:
    gw = open_gateway(GatewayConfig(directory=root))
    try:
        return {
            "writer": issue_token(gw.store("AGENCY-A"), "agency", "agency-writer")[1],
            "donor": issue_token(gw.store("DONOR-Y"), "donor", "donor")[1],
            "auditor": issue_token(gw.store("AUDITOR-X"), "auditor", "auditor")[1],
        }
    finally:
        gw.close()


def _write(url: str, token: str, first: int, count: int) -> None:
    for i in range(first, first + count):
        r = requests.post(
            f"{url}/v1/events",
            json=ev.independent(i),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert r.status_code == 201, r.text


def _watch(
    url: str, root: Path, state: Path, token: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    command = ["audit", "watch", "--url", url, "--state", str(state), "--count", "1"]
    pin = ["--consortium", str(root / "consortium.json")]
    return subprocess.run(
        [sys.executable, "-m", "ledger_gw.cli", *command, "--dir", str(root), *pin, *extra],
        env={**os.environ, "LEDGER_GW_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _snapshot(database: Path, to: Path) -> None:
    """A consistent copy of a live SQLite ledger (its WAL included)."""
    with sqlite3.connect(database) as src, sqlite3.connect(to) as dst:
        src.backup(dst)


def _witnessed(url: str, token: str, size: int) -> None:
    """The witness cosigns a moment after each commit: wait until the tiles serve ``size``."""
    deadline = time.monotonic() + 30
    while True:
        r = requests.get(
            f"{url}/v1/log/checkpoint", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert r.status_code == 200, r.text
        if int(r.text.split("\n")[1]) == size:
            return
        assert time.monotonic() < deadline, f"size {size} was never cosigned"
        time.sleep(0.2)


def test_watch_follows_the_tiles_and_catches_a_fork(
    root: Path, tmp_path: Path, witnessed: TestWitnesses
) -> None:
    tokens = _tokens(root)
    state = tmp_path / "watch.json"
    fork = tmp_path / "fork.db"
    for metrics in ("metrics-1", "metrics-2"):
        (tmp_path / metrics).mkdir()
    with gunicorn(root, tmp_path / "metrics-1") as url:
        _write(url, tokens["writer"], 0, 3)
        _witnessed(url, tokens["donor"], 3)
        seen = _watch(url, root, state, tokens["donor"])
        assert seen.returncode == 0, seen.stderr
        assert seen.stdout.startswith("first: size None -> 3 root ")
        _snapshot(root / "ledger.db", fork)  # the fork starts from size 3, cosigned

        _write(url, tokens["writer"], 3, 300)  # past a full tile: level-1 hashes
        _witnessed(url, tokens["donor"], 303)
        seen = _watch(url, root, state, tokens["donor"])
        assert seen.returncode == 0, seen.stderr
        assert seen.stdout.startswith("extended: size 3 -> 303 root ")
        assert "cosigned by witness.auditor-x" in seen.stdout

        witnessed.close()  # the witness goes away: what comes next is not cosigned
        _write(url, tokens["writer"], 303, 1)
        seen = _watch(url, root, state, tokens["donor"])  # served: the witnessed size
        assert seen.returncode == 0, seen.stderr
        assert seen.stdout.startswith("unchanged: size 303 -> 303 ")
        assert json.loads(state.read_text())["size"] == 303

    trusted = state.read_text()
    for suffix in ("", "-wal", "-shm"):
        (root / f"ledger.db{suffix}").unlink(missing_ok=True)
    fork.rename(root / "ledger.db")
    with gunicorn(root, tmp_path / "metrics-2") as url:
        _write(url, tokens["writer"], 1000, 302)  # size 305, another history, uncosigned
        seen = _watch(url, root, state, tokens["donor"])
        assert seen.returncode == 1
        assert "LOG ROLLED BACK" in seen.stderr
        assert "303" in seen.stderr
        assert state.read_text() == trusted  # the trusted head never moves on a failure

        # A watcher new to this log trusts what the witness cosigned, never the fork.
        fresh = _watch(url, root, tmp_path / "fresh.json", tokens["donor"])
        assert fresh.returncode == 0, fresh.stderr
        assert fresh.stdout.startswith("first: size None -> 3 root ")

        no_token = _watch(url, root, state, "")
        assert no_token.returncode == 1
        assert "401" in no_token.stderr


def _seen(path: Path, text: str, watcher: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while text not in path.read_text():
        assert watcher.poll() is None, f"the watch stopped: {path.read_text()}"
        assert time.monotonic() < deadline, f"never seen: {text!r} in {path.read_text()}"
        time.sleep(0.1)


def test_a_watch_that_runs_for_ever_outlives_an_outage_and_catches_the_fork_after_it(
    root: Path, tmp_path: Path, witnessed: TestWitnesses
) -> None:
    """An auditor's watch runs unattended: the gateway going down for a while is said
    and waited out, not the end of the watch, and the history served when it comes
    back is still held to the one trusted before."""
    tokens = _tokens(root)
    port = free_port()
    out, err = tmp_path / "watch.out", tmp_path / "watch.err"
    for metrics in ("metrics-1", "metrics-2"):
        (tmp_path / metrics).mkdir()
    pin = ["--consortium", str(root / "consortium.json"), "--dir", str(root)]
    command = ["audit", "watch", "--url", f"http://127.0.0.1:{port}", *pin]
    command += ["--state", str(tmp_path / "watch.json"), "--interval", "0.2"]
    watcher: subprocess.Popen[bytes] | None = None
    try:
        with gunicorn(root, tmp_path / "metrics-1", port=port) as url:
            _write(url, tokens["writer"], 0, 3)
            _witnessed(url, tokens["donor"], 3)
            _snapshot(root / "ledger.db", tmp_path / "fork.db")  # from size 3, cosigned
            with out.open("wb") as stdout, err.open("wb") as stderr:
                watcher = subprocess.Popen(
                    [sys.executable, "-m", "ledger_gw.cli", *command],
                    env={**os.environ, "LEDGER_GW_TOKEN": tokens["donor"]},
                    stdout=stdout,
                    stderr=stderr,
                )
            _seen(out, "first: size None -> 3 root", watcher)
            _write(url, tokens["writer"], 3, 2)
            _witnessed(url, tokens["donor"], 5)
            _seen(out, " -> 5 root", watcher)
        _seen(err, "unreachable: cannot reach", watcher)  # down: said, and waited out
        time.sleep(1)
        assert watcher.poll() is None
        assert "unreachable" not in out.read_text()

        witnessed.close()  # the fork's entries are cosigned by no one
        for suffix in ("", "-wal", "-shm"):
            (root / f"ledger.db{suffix}").unlink(missing_ok=True)
        (tmp_path / "fork.db").rename(root / "ledger.db")
        with gunicorn(root, tmp_path / "metrics-2", port=port) as url:
            _write(url, tokens["writer"], 1000, 4)  # another history from size 3
            assert watcher.wait(timeout=30) == 1
        assert "LOG ROLLED BACK" in err.read_text()
        assert json.loads((tmp_path / "watch.json").read_text())["size"] == 5
    finally:
        if watcher is not None:
            watcher.kill()
            watcher.wait()
