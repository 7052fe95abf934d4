"""What a log node answers is read within bounds: a node is checked by the gateways, not
trusted by them, and an answer must not exhaust the gateway that checks it."""

from __future__ import annotations

import gzip
import ssl
import time
from http.server import BaseHTTPRequestHandler
from typing import ClassVar

import pytest

from ledger_gw.errors import UnavailableError
from ledger_gw.remote import client
from ledger_gw.remote.client import MAX_ANSWER, NodeClient
from tests.support.canned_http import serving_handler

MANY = b"[" + b"0," * (32 << 20) + b"0]"  # 64 MiB of JSON a node could send


def _node(
    body: bytes, headers: dict[str, str], drip_s: float = 0.0
) -> type[BaseHTTPRequestHandler]:
    class Node(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            Node.asked.append(self.headers.get("Accept-Encoding", ""))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if not drip_s:
                self.wfile.write(body)
                return
            for i in range(len(body)):
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                time.sleep(drip_s)

        def log_message(self, *_: object) -> None:
            pass

        asked: ClassVar[list[str]] = []

    return Node


def _get(handler: type[BaseHTTPRequestHandler]) -> object:
    with serving_handler(handler) as url:
        return NodeClient(url, ssl.create_default_context()).get("/v1/node/size")


def test_an_honest_answer_is_read_and_asked_for_as_is() -> None:
    node = _node(b'{"size": 7}', {})
    assert _get(node) == {"size": 7}
    assert node.asked == ["identity"]  # type: ignore[attr-defined]


def test_a_compressed_answer_is_refused_uninflated() -> None:
    bomb = gzip.compress(MANY)  # 64 KiB that would inflate a thousandfold
    assert len(bomb) < 256 << 10
    with pytest.raises(UnavailableError) as refused:
        _get(_node(bomb, {"Content-Encoding": "gzip"}))
    assert refused.value.code == "bad_answer"


def test_an_answer_past_the_limit_is_refused_unread() -> None:
    assert len(MANY) > MAX_ANSWER
    with pytest.raises(UnavailableError) as refused:
        _get(_node(MANY, {}))
    assert refused.value.code == "bad_answer"


def test_an_answer_dripped_byte_by_byte_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "ANSWER_S", 1.0)
    started = time.monotonic()
    with pytest.raises(UnavailableError) as refused:
        _get(_node(b'{"size": 7' + b" " * 100 + b"}", {}, drip_s=0.1))
    assert refused.value.code == "log_node_unreachable"
    assert time.monotonic() - started < 5
