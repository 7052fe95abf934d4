"""The demo's witnesses: AGENCY-A's and the auditor's, each its own process with its own
directory beside the operator's (``var/demo-witnesses/<ORG>/`` for ``var/demo``),
never inside it, so that the demo's log operator holds no witness key.

A new demo consortium gets new witnesses (their keys made in their directories, their
keys and URLs listed in its consortium file, the quorum set to both); ``serve --demo``
runs them for as long as it serves.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ledger_gw.consortium import Consortium, add_witness
from ledger_gw.demo.made import mark_made, remove_made
from ledger_gw.errors import ConfigError
from ledger_gw.witness import WitnessHome

DEMO_WITNESSES = ("AGENCY-A", "AUDITOR-X")
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0


def witnesses_dir(directory: Path) -> Path:
    """Where the witnesses of the demo consortium in ``directory`` keep their own files."""
    directory = directory.resolve()
    return directory.parent / f"{directory.name}-witnesses"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def enlist(directory: Path) -> Consortium:
    """Give the new demo consortium in ``directory`` its witnesses: fresh keys in their
    own directories (an older demo's witnesses remember another log), listed in its
    consortium file with a URL each, and a quorum of all of them. An older demo's
    witnesses' directory is replaced; any other directory there is refused."""
    root = witnesses_dir(directory)
    remove_made(root, f"the demo in {directory} keeps its witnesses there; move it away")
    mark_made(root)
    consortium = Consortium.load(directory / "consortium.json")
    for n, org in enumerate(DEMO_WITNESSES, start=1):
        vkey = WitnessHome.create(root / org, org).signer().verifier.vkey
        url = f"http://{HOST}:{_free_port()}"
        consortium = add_witness(directory / "consortium.json", org, vkey, url, quorum=n)
    return consortium


def _wait_listening(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    parts = urllib.parse.urlsplit(url)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(f"the demo witness at {url} stopped: see {log}")
        try:
            socket.create_connection((parts.hostname, parts.port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise ConfigError(f"the demo witness at {url} did not start: see {log}")


@contextmanager
def running_witnesses(directory: Path) -> Iterator[dict[str, str]]:
    """The demo's witnesses, each a child process (``ledger-gw witness serve``) for as
    long as the block runs; yields organisation → URL."""
    consortium_file = directory / "consortium.json"
    listed = Consortium.load(consortium_file).witness_urls()
    if not listed:
        raise ConfigError(
            f"the consortium in {directory} lists no witness (it predates independent "
            "witnesses): remove the directory, or serve the demo from another --dir"
        )
    root = witnesses_dir(directory)
    started: list[subprocess.Popen[bytes]] = []
    try:
        for org, (url, _) in listed.items():
            home = root / org
            WitnessHome.load(home)  # a clear error when its directory is gone
            log = home / "witness.log"
            port = str(urllib.parse.urlsplit(url).port)
            command = [
                sys.executable,
                "-m",
                "ledger_gw.cli.witness",
                "serve",
                *("--org", org, "--dir", str(home), "--host", HOST, "--port", port),
                *("--consortium", str(consortium_file)),
            ]
            with log.open("ab") as out:
                process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
            started.append(process)
            _wait_listening(url, process, log)
        yield {org: url for org, (url, _) in listed.items()}
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
