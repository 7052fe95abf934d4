"""What a log sends a witness: its checkpoint with a consistency proof from the size
the witness last cosigned; the answer is the witness's cosignature line(s).

A log that does not know the witness's size (a fresh start, or another node pushed)
sends its best guess; the witness answers 409 with its size, and the request is
sent once more from that size.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ledger_gw import outbound
from ledger_gw.witness.errors import (
    Reason,
    RefusedError,
    SizeConflictError,
    WitnessUnavailableError,
)
from ledger_gw.witness.protocol import SIZE_CONTENT_TYPE, AddCheckpoint, parse_size

#: prove(old_size, new_size): the log's RFC 6962 consistency proof (a LogReader's).
Prover = Callable[[int, int], Sequence[bytes]]

TIMEOUT_S = 10.0
_MAX_ANSWER = 64 * 1024

_REASONS = {
    400: Reason.MALFORMED,
    403: Reason.BAD_SIGNATURE,
    404: Reason.UNKNOWN_LOG,
    409: Reason.FORK,
    422: Reason.BAD_PROOF,
}


@dataclass(frozen=True, slots=True)
class Answer:
    """The witness's cosignature line(s), and the old size the request finally used."""

    cosignature: str
    old_size: int


def request_cosignature(
    url: str, note: str, old_size: int, prove: Prover, *, timeout: float = TIMEOUT_S
) -> Answer:
    """Push ``note`` (a signed checkpoint) to the witness at base ``url``.

    RefusedError when the witness refuses (SizeConflictError if it disagrees on the size twice);
    WitnessUnavailableError when it cannot be reached or does not speak the protocol.
    The lines are not verified here: see :func:`ledger_gw.witness.core.attach`.
    """
    size = AddCheckpoint.build(0, (), note).checkpoint.size
    try:
        return _send(url, note, size, old_size, prove, timeout)
    except SizeConflictError as conflict:
        if conflict.size > size:  # the witness has seen more: push a newer checkpoint
            raise
        return _send(url, note, size, conflict.size, prove, timeout)


def _send(url: str, note: str, size: int, old_size: int, prove: Prover, timeout: float) -> Answer:
    proof = () if old_size in (0, size) else tuple(prove(old_size, size))
    body = AddCheckpoint.build(old_size, proof, note).body()
    post = urllib.request.Request(  # noqa: S310 -- the URL is the operator's configuration
        url.rstrip("/") + "/add-checkpoint",
        data=body,
        method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    try:
        with outbound.urlopen(post, timeout=timeout) as reply:
            return Answer(reply.read(_MAX_ANSWER).decode("utf-8"), old_size)
    except urllib.error.HTTPError as error:
        with error:
            raise _refusal(error) from None
    except (OSError, UnicodeDecodeError, http.client.HTTPException) as exc:
        raise WitnessUnavailableError(f"witness {url}: {exc}") from exc


def _refusal(error: urllib.error.HTTPError) -> Exception:
    answer = error.read(_MAX_ANSWER)
    if error.code == 409 and error.headers.get_content_type() == SIZE_CONTENT_TYPE:
        try:
            return SizeConflictError(parse_size(answer))
        except RefusedError:
            malformed = f"the witness's size answer is malformed: {answer[:40]!r}"
            return WitnessUnavailableError(malformed)
    reason = _REASONS.get(error.code)
    message = answer.decode("utf-8", errors="replace").strip()
    if reason is None:
        return WitnessUnavailableError(f"the witness answered {error.code}: {message[:200]}")
    return RefusedError(reason, message)
