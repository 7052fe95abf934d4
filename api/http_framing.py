"""Where an HTTP/1.1 request ends in the bytes read so far: pure, for the buffering worker.

Only framing is judged here (RFC 9112 section 6): the head ends at an empty line, the body
is Content-Length bytes or chunks up to the last one. Anything malformed counts as ready,
so that gunicorn's own parser answers it with its usual error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: A head longer than this is refused rather than buffered.
MAX_HEAD = 64 << 10
#: The largest request body the gateway accepts (Flask's MAX_CONTENT_LENGTH too).
MAX_BODY = 8 << 20
#: The log node's: a hand-over of its 1,000 transactions at most, each an event of the
#: contract's largest, signed and encoded for the wire, fits four times over.
MAX_NODE_BODY = 32 << 20
#: The WSGI environ's key by which the worker tells the app a body is past the limit.
BODY_TOO_LARGE_KEY = "ledger_gw.body_too_large"


@dataclass(frozen=True)
class Framing:
    """What the bytes read so far say: whether to go on reading, and what to answer."""

    complete: bool
    head_too_large: bool = False
    body_too_large: bool = False
    expects_continue: bool = False


READY = Framing(complete=True)


def framing(data: bytes | bytearray, max_body: int) -> Framing:
    """Whether `data` holds one whole request head and body, or can never be let through.

    The body is read by offsets, never copied: the worker asks again at every read, and a
    body grows to megabytes."""
    end = data.find(b"\r\n\r\n")
    if end < 0 or end > MAX_HEAD:
        return Framing(False, head_too_large=end > MAX_HEAD or len(data) > MAX_HEAD)
    fields = _fields(data[:end])
    start = end + 4
    if "chunked" in fields.get("transfer-encoding", ""):
        return _chunked(data, start, max_body, fields)
    length = fields.get("content-length", "0").strip() or "0"
    if not _DECIMAL.fullmatch(length):  # "²" is a digit to str.isdigit, not to int()
        return READY
    if int(length) > max_body:
        return Framing(True, body_too_large=True)
    received = len(data) - start
    return READY if received >= int(length) else _waiting_for_body(fields, received)


_DECIMAL = re.compile(r"[0-9]{1,19}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")  # int(x, 16) reads "-6" and "0x6" too
_MAX_SIZE_LINE = 4096  # a chunk's size and its extensions


def _waiting_for_body(fields: dict[str, str], received: int) -> Framing:
    expects = not received and fields.get("expect", "").strip().lower() == "100-continue"
    return Framing(False, expects_continue=expects)


def _fields(head: bytes | bytearray) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            key = name.strip().lower().decode("latin-1")
            text = value.strip().lower().decode("latin-1")
            out[key] = f"{out[key]},{text}" if key in out else text
    return out


def _chunked(data: bytes | bytearray, at: int, max_body: int, fields: dict[str, str]) -> Framing:
    """The chunks from `at` up to the last one and its trailer section; too large once
    more than `max_body` bytes of chunk data have arrived (all of them here to be read,
    so the app's refusal never waits for more); malformed is left to the parser."""
    start, received = at, 0
    while True:
        line_end = data.find(b"\r\n", at)
        if line_end < 0:
            return _waiting_for_body(fields, len(data) - start)
        if line_end - at > _MAX_SIZE_LINE:
            return READY  # malformed: the parser answers it
        size_text = bytes(data[at:line_end]).split(b";", 1)[0].strip()
        if not _HEX.fullmatch(size_text):
            return READY
        size = int(size_text, 16)
        if size == 0:
            trailers = line_end + 2
            done = data.startswith(b"\r\n", trailers) or data.find(b"\r\n\r\n", trailers) >= 0
            return READY if done else _waiting_for_body(fields, len(data) - start)
        received += min(size, len(data) - (line_end + 2))
        if received > max_body:
            return Framing(True, body_too_large=True)
        at = line_end + 2 + size + 2
        if at > len(data):
            return _waiting_for_body(fields, len(data) - start)
