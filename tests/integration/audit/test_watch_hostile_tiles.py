"""`audit watch --url` against a log server that answers with hostile bytes: one that
sends each answer a byte at a time, one whose checkpoint runs past the length a note may
have, and one whose refusal carries a terminal's control sequences. The watcher gives
up on each in bounded time, trusts nothing of it, and prints none of the server's
control characters."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from ledger_gw.audit.tile_client import TileClient
from ledger_gw.audit.watch import Monitor
from ledger_gw.errors import AuditError, UnavailableError
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.merkle import leaf_hash, root_of
from ledger_gw.workspace import Workspace
from tests.support.canned_http import serving_handler
from tests.support.cli import clean_failure, run_cli

MAX_NOTE = 64 * 1024  # the longest checkpoint note the watcher reads
Answer = Callable[[BaseHTTPRequestHandler], None]


def _trickle(length: int, for_s: float) -> Answer:
    """Announces ``length`` bytes, then sends one every 0.1 s for ``for_s`` seconds: each
    read the client makes ends well within any timeout, the answer never does."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(length))
        handler.end_headers()
        end = time.monotonic() + for_s
        while time.monotonic() < end:
            handler.wfile.write(b"\0")
            handler.wfile.flush()
            time.sleep(0.1)

    return answer


def _stalled_refusal(handler: BaseHTTPRequestHandler) -> None:
    """A 404 that announces a reason and sends none of it."""
    handler.send_response(404)
    handler.send_header("Content-Length", "100")
    handler.end_headers()
    handler.wfile.flush()
    time.sleep(3)


def _body(status: int, data: bytes) -> Answer:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return answer


@pytest.fixture
def hostile() -> Iterator[tuple[str, dict[str, Answer]]]:
    """A server that gives each path under /<site>/v1/log/ the answer the test sets."""
    answers: dict[str, Answer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answers[self.path](self)

        def log_message(self, *_: object) -> None:
            pass

    with serving_handler(Handler) as url:
        yield url, answers


@pytest.mark.parametrize(
    ("path", "ask"),
    [
        ("checkpoint", TileClient.latest_checkpoint),
        ("tile/0/001", lambda client: client.consistency_proof(300, 600)),  # needs that tile
    ],
)
def test_an_answer_sent_a_byte_at_a_time_is_given_up_on_in_time(
    hostile: tuple[str, dict[str, Answer]], path: str, ask: Callable[[TileClient], object]
) -> None:
    url, answers = hostile
    answers[f"/v1/log/{path}"] = _trickle(MAX_NOTE, for_s=4)
    began = time.monotonic()
    with pytest.raises(UnavailableError, match="not whole in time"):
        ask(TileClient(url, timeout=1.0))
    assert time.monotonic() - began < 2.5  # the timeout and one read at most


def test_a_refusal_whose_reason_never_comes_is_still_a_refusal_in_time(
    hostile: tuple[str, dict[str, Answer]],
) -> None:
    url, answers = hostile
    answers["/v1/log/checkpoint"] = _stalled_refusal
    began = time.monotonic()
    with pytest.raises(AuditError, match="answered 404") as caught:
        TileClient(url, timeout=1.0).latest_checkpoint()
    assert caught.value.code == "log_refused"
    assert time.monotonic() - began < 2.5


def _padded(note: str, length: int) -> str:
    """``note`` with signature lines of a key nobody knows, ``length`` bytes in all: a
    verifier ignores them, so the note still opens."""
    pads = 90
    blob = base64.b64encode(bytes(500)).decode()
    room = length - len(note.encode()) - pads * len(f"\u2014 k {blob}\n".encode())
    assert room >= 0
    lines = [f"\u2014 k{'x' * room if i == 0 else ''} {blob}\n" for i in range(pads)]
    padded = note + "".join(lines)
    assert len(padded.encode()) == length
    return padded


def test_a_checkpoint_longer_than_a_note_may_be_is_refused(
    audit_ws: Workspace, hostile: tuple[str, dict[str, Answer]], tmp_path: Path
) -> None:
    url, answers = hostile
    root = root_of([leaf_hash(b"entry")])
    cp = ckpt.Checkpoint(audit_ws.consortium.origin, 1, root)
    note = ckpt.sign_checkpoint(cp, audit_ws.log_signer())
    monitor = Monitor(tmp_path / "watch.json", audit_ws.consortium, quorum=0)

    answers["/v1/log/checkpoint"] = _body(200, _padded(note, MAX_NOTE + 1).encode())
    with pytest.raises(AuditError, match="longer than") as caught:
        monitor.poll(TileClient(url))
    assert caught.value.code == "bad_checkpoint"
    assert not monitor.state_path.exists()

    answers["/v1/log/checkpoint"] = _body(200, _padded(note, MAX_NOTE).encode())
    assert monitor.poll(TileClient(url)).status == "first"  # as long as may be: read


def test_a_refusals_control_characters_never_reach_the_terminal(
    audit_ws: Workspace, hostile: tuple[str, dict[str, Answer]], tmp_path: Path
) -> None:
    """A server that could clear the screen and move the cursor could make a failed
    watch look like one that saw the log extended."""
    url, answers = hostile
    rewrite = "\x1b[2J\x1b[H\x1b]0;ok\x1b\\extended: size 3 -> 4 " + "x" * 10_000
    problem = json.dumps({"code": "no", "detail": rewrite})
    answers["/v1/log/checkpoint"] = _body(404, problem.encode())
    consortium = audit_ws.root / "consortium.json"
    done = run_cli(
        "audit", "watch", "--url", url, "--consortium", str(consortium),
        "--state", str(tmp_path / "watch.json"), "--count", "1",
    )  # fmt: skip
    line = clean_failure(done)
    assert "404" in line
    assert "\x1b" not in done.stderr
    assert len(line) < 1000
