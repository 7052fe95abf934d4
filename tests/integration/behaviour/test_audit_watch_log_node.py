"""An auditor's `audit watch` on a log node: it follows the node's signed checkpoints with
consistency proofs, and a server that shows a forked history, signed with the very keys
of the log and of the witness quorum, is caught, the trusted head left where it was."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ledger_gw.bootstrap import verifiable_log
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.remote import tls
from ledger_gw.remote.client import NodeClient
from tests.integration.behaviour.conftest import LogNodeSite, cosigned
from tests.support import events as ev
from tests.support.cli import clean_failure, run_cli

AUDITOR = "AUDITOR-X"


class Forger:
    """Serves the node's own tiles (fetched as the auditor) under a checkpoint the test
    forges: another root, signed with the log's key and cosigned by every witness."""

    def __init__(self, site: LogNodeSite) -> None:
        root = site.roots[AUDITOR]
        org = root / "orgs" / AUDITOR
        context = tls.client_context(
            root / "node" / "tls.pem", org / "tls-client.pem", org / "tls-client.key"
        )
        self.node = NodeClient(site.url, context)
        self.site = site
        self.note = ""
        forger = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/v1/log/checkpoint":
                    body = forger.note.encode()
                else:
                    body = forger.node.get_bytes(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def forge(self, size: int) -> None:
        """A fully signed checkpoint of ``size`` entries whose root is no tree's."""
        operator = self.site.operator
        cp = ckpt.Checkpoint(operator.consortium.origin, size, os.urandom(32))
        note = ckpt.sign_checkpoint(cp, operator.log_signer())
        for home in self.site.witnesses.homes.values():
            note = ckpt.add_cosignature(note, home.signer(), 1_800_000_000)
        self.note = note

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.node.close()


@pytest.fixture
def forger(log_node: LogNodeSite) -> Iterator[Forger]:
    made = Forger(log_node)
    yield made
    made.close()


def _grow(site: LogNodeSite) -> None:
    backend = site.backend()
    try:
        backend.client("AGENCY-A").submit(ev.referral_created(ev.pid()))
        cosigned(verifiable_log(backend.ledger, reader="AGENCY-A"), site.operator.consortium)
    finally:
        backend.close()


def _watch(state: Path, *where: str) -> str:
    done = run_cli("audit", "watch", *where, "--state", str(state), "--quorum", "2", "--count", "1")
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_watch_follows_the_node_and_catches_a_fork(
    log_node: LogNodeSite, forger: Forger, tmp_path: Path
) -> None:
    state = tmp_path / "watch.json"
    consortium = str(log_node.roots[AUDITOR] / "consortium.json")
    node = ["--backend", "remote", "--dir", str(log_node.roots[AUDITOR])]
    node += ["--log-url", log_node.url, "--consortium", consortium]
    _grow(log_node)
    first = _watch(state, *node)
    assert first.startswith("first: size None -> ")
    size = int(first.split()[4])
    _grow(log_node)
    later = _watch(state, *node)
    assert later.startswith(f"extended: size {size} -> {size + 1} ")
    assert "cosigned by witness.agency-a, witness.auditor-x" in later
    trusted = state.read_text()

    forged = ["--url", forger.url, "--consortium", consortium]
    forger.forge(size + 1)  # the size trusted, another tree
    argv = ("audit", "watch", *forged, "--state", str(state), "--quorum", "2", "--count", "1")
    assert "LOG FORKED" in clean_failure(run_cli(*argv))
    assert state.read_text() == trusted

    _grow(log_node)  # the node's real tiles now reach size + 2
    forger.forge(size + 2)  # larger, but not an extension of what was trusted
    assert "LOG INCONSISTENT" in clean_failure(run_cli(*argv))
    assert state.read_text() == trusted

    caught_up = _watch(state, *node)  # the node itself still extends it
    assert caught_up.startswith(f"extended: size {size + 1} -> {size + 2} ")
