"""An auditor's gateway on a log node reads every member's entries from the node's entry
bundles, and hashes them to the root of a checkpoint signed with the log's key. A server
in front of the real node that serves bundles of genuine, member-signed entries, only
reordered, is refused: nothing from the forged bundles is yielded or put in evidence,
and the error says what did not hash."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3

from ledger_gw.bootstrap import open_log, verifiable_log
from ledger_gw.errors import IntegrityError
from ledger_gw.interfaces import Record
from ledger_gw.log import tiles
from ledger_gw.remote import tls
from tests.integration.behaviour.conftest import LogNodeSite, cosigned
from tests.support import events as ev

AUDITOR = "AUDITOR-X"


class Reorderer:
    """Passes every request on to the node (as the auditor, over mutual TLS) and, while
    ``forging``, swaps the last two entries of each entry bundle it hands back."""

    def __init__(self, site: LogNodeSite) -> None:
        org = site.roots[AUDITOR] / "orgs" / AUDITOR
        context = tls.client_context(
            site.roots[AUDITOR] / "node" / "tls.pem", org / "tls-client.pem", org / "tls-client.key"
        )
        self.http = urllib3.PoolManager(ssl_context=context, retries=False)
        self.forging = False
        self.forged: list[str] = []  # the bundles it served reordered
        forger = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._relay(None)

            def do_POST(self) -> None:
                self._relay(self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def _relay(self, body: bytes | None) -> None:
                headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
                answer = forger.http.request(
                    self.command, site.url + self.path, body=body, headers=headers
                )
                data = bytes(answer.data)
                if forger.forging and self.path.startswith("/v1/log/tile/entries/"):
                    entries = tiles.decode_bundle(data)
                    if len(entries) >= 2:
                        entries[-2], entries[-1] = entries[-1], entries[-2]
                        data = tiles.encode_bundle(entries)
                        forger.forged.append(self.path)
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.headers.get("Content-Type", ""))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.http.clear()


@pytest.fixture
def reorderer(log_node: LogNodeSite) -> Iterator[Reorderer]:
    made = Reorderer(log_node)
    yield made
    made.close()


def _logged(site: LogNodeSite, count: int) -> list[str]:
    """``count`` events logged by AGENCY-A, cosigned; their event IDs."""
    backend = site.backend()
    try:
        sent = [ev.independent(i) for i in range(count)]
        for event in sent:
            backend.client("AGENCY-A").submit(event)
        cosigned(verifiable_log(backend.ledger, reader="AGENCY-A"), site.operator.consortium)
    finally:
        backend.close()
    return [e["event_id"] for e in sent]


def _ours(records: list[Record], event_ids: list[str]) -> list[Record]:
    return [r for r in records if r.event.get("event_id") in event_ids]


def test_reordered_entry_bundles_are_refused(log_node: LogNodeSite, reorderer: Reorderer) -> None:
    event_ids = _logged(log_node, 3)
    root = log_node.roots[AUDITOR]
    with open_log(root, backend="remote", reader=AUDITOR, log_url=reorderer.url) as (_, log):
        anchor = log.anchor()
        honest = list(log.records(anchor))  # the relay alone changes nothing
        assert len(honest) == anchor.size
        mine = _ours(honest, event_ids)
        assert [r.event["event_id"] for r in mine] == event_ids
        assert [r.position for r in honest] == list(range(anchor.size))
        good = log.evidence(mine, anchor)
        assert [e["index"] for e in good["entries"]] == [r.position for r in mine]

        reorderer.forging = True
        yielded: list[Record] = []
        with pytest.raises(IntegrityError) as refused:
            yielded.extend(log.records(anchor))
        assert reorderer.forged  # the forged bundle was served, and read
        assert yielded == []  # not even the entries before the swapped ones
        assert refused.value.code == "log_node_entries_forged"
        assert f"do not hash to the root of its signed checkpoint of size {anchor.size}" in str(
            refused.value
        )
        since = log.anchor(anchor.size - 1)
        with pytest.raises(IntegrityError, match="do not hash"):
            next(log.records(anchor, since))  # reading only the newest entry checks all

        # the records were read honestly, the bundle for their evidence is forged
        last = [r for r in honest if r.position >= anchor.size - 2]
        with pytest.raises(IntegrityError) as unproven:
            log.evidence(last, anchor)
        assert unproven.value.code == "log_node_entries_forged"
        assert f"entry {anchor.size - 2} is not leaf {anchor.size - 2}" in str(unproven.value)
        assert f"signed checkpoint of size {anchor.size}" in str(unproven.value)

        reorderer.forging = False  # the same gateway reads the node honestly again
        assert list(log.records(anchor)) == honest
