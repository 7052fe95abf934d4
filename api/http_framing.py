"""Where an HTTP/1.1 request ends in the bytes read so far: pure, for the buffering worker.

Only framing is judged here (RFC 9112 section 6): the head ends at an empty line, the body
is Content-Length bytes or chunks up to the last one. Anything malformed counts as ready,
so that gunicorn's own parser answers it with its usual error.
"""

from __future__ import annotations

from dataclasses import dataclass

#: A head longer than this is refused rather than buffered.
MAX_HEAD = 64 << 10
#: The largest request body the gateway accepts (Flask's MAX_CONTENT_LENGTH too).
MAX_BODY = 8 << 20


@dataclass(frozen=True)
class Framing:
    """What the bytes read so far say: whether to go on reading, and what to answer."""

    complete: bool
    head_too_large: bool = False
    body_too_large: bool = False
    expects_continue: bool = False


WAIT = Framing(complete=False)
READY = Framing(complete=True)


def framing(data: bytes | bytearray, max_body: int) -> Framing:
    """Whether `data` holds one whole request head and body, or can never be let through."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return Framing(False, head_too_large=len(data) > MAX_HEAD)
    head, body = data[:end], data[end + 4 :]
    fields = _fields(head)
    if "chunked" in fields.get("transfer-encoding", ""):
        if len(body) > max_body:
            return Framing(True, body_too_large=True)
        return READY if _chunks_end(body) else _waiting_for_body(fields, body)
    length = fields.get("content-length", "0").strip() or "0"
    if not length.isdigit():
        return READY
    if int(length) > max_body:
        return Framing(True, body_too_large=True)
    return READY if len(body) >= int(length) else _waiting_for_body(fields, body)


def _waiting_for_body(fields: dict[str, str], body: bytes | bytearray) -> Framing:
    expects = not body and fields.get("expect", "").strip().lower() == "100-continue"
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


def _chunks_end(body: bytes | bytearray) -> bool:
    """Whether the chunked body holds its last chunk and trailer section, or is malformed."""
    at = 0
    while True:
        line_end = body.find(b"\r\n", at)
        if line_end < 0:
            return False
        size_text = body[at:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return True  # malformed: the parser answers it
        if size == 0:
            trailers = body[line_end + 2 :]
            return trailers.startswith(b"\r\n") or b"\r\n\r\n" in trailers
        at = line_end + 2 + size + 2
        if at > len(body):
            return False
