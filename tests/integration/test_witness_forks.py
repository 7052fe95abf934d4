"""Forks and look-alikes offered to a witness over HTTP, after it cosigned a real log at
size 8: each is refused with the status and code tlog-witness gives it, the witness's
memory on disk stays as it was, and the real log's next checkpoint is still cosigned
from size 8. Real signatures, real RFC 6962 proofs, a real server and state file."""

from __future__ import annotations

import base64
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ledger_gw.log.checkpoint import Checkpoint, sign_checkpoint
from ledger_gw.log.merkle import consistency_nodes, leaf_hash, root_of
from ledger_gw.log.note import Note, NoteSigner, generate_signer
from ledger_gw.witness import AddCheckpoint, TrustedLog, WitnessHome
from ledger_gw.witness.server import make_witness_server
from ledger_gw.witness.store import witnessed_in

ORIGIN = "example.org/ledger"
SIZE = 8


class Log:
    """A log whose leaves are kept in a list, signed with ``key``."""

    def __init__(self, key: NoteSigner, history: str, size: int, shared: int = 0) -> None:
        real = [leaf_hash(f"real-{i}".encode()) for i in range(shared)]
        self.key = key
        self.leaves = real + [leaf_hash(f"{history}-{i}".encode()) for i in range(shared, size)]

    def checkpoint(self, size: int, origin: str = ORIGIN) -> str:
        return sign_checkpoint(Checkpoint(origin, size, root_of(self.leaves[:size])), self.key)

    def proof(self, old: int, new: int) -> list[bytes]:
        if old in (0, new):
            return []
        plan = consistency_nodes(old, new)
        return plan.rehash([root_of(self.leaves[n.begin : n.end]) for n in plan.ids])

    def body(self, old: int, new: int, proof: list[bytes] | None = None, note: str = "") -> bytes:
        proof = self.proof(old, new) if proof is None else proof
        return AddCheckpoint.build(old, proof, note or self.checkpoint(new)).body()


class Served:
    def __init__(self, root: Path, log_key: NoteSigner) -> None:
        self.home = WitnessHome.create(root, "AGENCY-C")
        self.witness = self.home.open([TrustedLog(ORIGIN, log_key.verifier)])
        self.server = make_witness_server(self.witness, "127.0.0.1", 0, 2.0)
        self.thread = threading.Thread(target=self.server.serve_forever)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/add-checkpoint"

    def post(self, body: bytes) -> requests.Response:
        return requests.post(self.url, data=body, timeout=10)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
        self.witness.store.close()


@pytest.fixture(scope="module")
def log_key() -> NoteSigner:
    return generate_signer(ORIGIN)[0]


@pytest.fixture
def real(log_key: NoteSigner) -> Log:
    return Log(log_key, "real", 16, shared=16)


@pytest.fixture
def served(tmp_path: Path, log_key: NoteSigner, real: Log) -> Iterator[Served]:
    running = Served(tmp_path / "w", log_key)
    assert running.post(real.body(0, SIZE)).status_code == 200
    yield running
    running.close()


def _twice_signed(log: Log, size: int) -> str:
    note = Note.parse(log.checkpoint(size))
    return Note(note.text, (*note.signatures, *note.signatures)).format()


def _cases(log_key: NoteSigner, real: Log) -> dict[str, tuple[bytes, int, str]]:
    """name → (request body, status, code at the start of the answer)."""
    fork = Log(log_key, "fork", 16, shared=4)
    other_key = generate_signer(ORIGIN)[0]  # the log's name, another key
    good = real.proof(SIZE, 12)
    cyrillic_o = ORIGIN.replace("o", "\u043e", 1)
    decomposed = "exa\u0301mple.org/ledger"
    assert unicodedata.normalize("NFC", decomposed) != decomposed
    return {
        "same size, another root": (fork.body(SIZE, SIZE), 409, "root_mismatch"),
        "smaller size": (real.body(SIZE, 5, proof=[]), 400, "malformed_request"),
        "larger, proof from another old root": (fork.body(SIZE, 12), 422, "bad_consistency_proof"),
        "larger, proof with a hash too many": (
            real.body(SIZE, 12, proof=[*good, good[0]]),
            422,
            "bad_consistency_proof",
        ),
        "larger, proof a hash short": (
            real.body(SIZE, 12, proof=good[:-1]),
            422,
            "bad_consistency_proof",
        ),
        "larger, no proof": (real.body(SIZE, 12, proof=[]), 422, "bad_consistency_proof"),
        "signed by another log key": (
            Log(other_key, "real", 16, shared=16).body(SIZE, 12, proof=good),
            403,
            "bad_log_signature",
        ),
        "origin with a confusable letter": (
            real.body(SIZE, 12, note=real.checkpoint(12, cyrillic_o)),
            404,
            "unknown_log",
        ),
        "origin with a trailing space": (
            real.body(SIZE, 12, note=real.checkpoint(12, ORIGIN + " ")),
            404,
            "unknown_log",
        ),
        "origin with a zero-width space": (
            real.body(SIZE, 12, note=real.checkpoint(12, ORIGIN + "\u200b")),
            404,
            "unknown_log",
        ),
        "origin decomposed": (
            real.body(SIZE, 12, note=real.checkpoint(12, decomposed)),
            404,
            "unknown_log",
        ),
        "two log signatures": (
            real.body(SIZE, 12, note=_twice_signed(real, 12)),
            403,
            "bad_log_signature",
        ),
    }


CASES = [
    "same size, another root",
    "smaller size",
    "larger, proof from another old root",
    "larger, proof with a hash too many",
    "larger, proof a hash short",
    "larger, no proof",
    "signed by another log key",
    "origin with a confusable letter",
    "origin with a trailing space",
    "origin with a zero-width space",
    "origin decomposed",
    "two log signatures",
]


@pytest.mark.parametrize("case", CASES)
def test_a_fork_or_a_look_alike_is_refused_and_changes_nothing(
    served: Served, real: Log, log_key: NoteSigner, case: str
) -> None:
    state = served.home.root / "witness.db"
    before = witnessed_in(state, ORIGIN)
    assert before is not None
    assert before.size == SIZE
    body, status, code = _cases(log_key, real)[case]
    answer = served.post(body)
    assert (answer.status_code, answer.text.split(":")[0]) == (status, code), answer.text
    assert witnessed_in(state, ORIGIN) == before
    assert served.post(real.body(SIZE, 12)).status_code == 200  # from what it remembers


def test_a_stale_old_size_is_answered_with_the_size_it_remembers(served: Served, real: Log) -> None:
    answer = served.post(real.body(5, 12))
    assert (answer.status_code, answer.headers["Content-Type"]) == (409, "text/x.tlog.size")
    assert answer.content == f"{SIZE}\n".encode()


def test_a_proof_line_that_is_no_canonical_hash_is_malformed(served: Served, real: Log) -> None:
    good = real.body(SIZE, 12).decode()
    first = base64.b64encode(real.proof(SIZE, 12)[0]).decode()
    for bad in (first.rstrip("=") + "\n", first[:-2] + "==", first + " "):
        answer = served.post(good.replace(first, bad.rstrip("\n"), 1).encode())
        assert (answer.status_code, answer.text.split(":")[0]) == (400, "malformed_request")
