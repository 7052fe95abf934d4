"""Member witnesses for a test consortium: real witness servers (HTTP, in threads), each
with its own key in its own directory, listed in the consortium file with their URLs.

A session's consortium serves many ledgers, and to a witness each new ledger of the
same origin is a fork of the last: `forget` gives the witnesses fresh memory (the same
keys and URLs) for the next test's ledger.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from werkzeug.serving import BaseWSGIServer

from ledger_gw.consortium import add_witness
from ledger_gw.witness import TrustedLog, Witness, WitnessHome, WitnessStore, create_app
from ledger_gw.witness.server import make_witness_server
from ledger_gw.workspace import Workspace

DEFAULT_WITNESSES = ("AGENCY-A", "AUDITOR-X")


class TestWitnesses:
    __test__ = False

    def __init__(
        self,
        ws: Workspace,
        root: Path,
        orgs: Sequence[str] = DEFAULT_WITNESSES,
        quorum: int | None = None,
    ) -> None:
        self.root = root
        self.log = TrustedLog.from_vkey(ws.consortium.origin, ws.consortium.log_vkey)
        self.homes = {org: WitnessHome.create(root / org, org) for org in orgs}
        self.servers: dict[str, BaseWSGIServer] = {}
        self.stores: list[WitnessStore] = []
        self._round = 0
        quorum = len(orgs) if quorum is None else quorum
        for n, (org, home) in enumerate(self.homes.items(), start=1):
            server = make_witness_server(self._witness(home, root / org), "127.0.0.1", 0)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers[org] = server
            url = f"http://127.0.0.1:{server.server_port}"
            vkey = home.signer().verifier.vkey
            add_witness(ws.root / "consortium.json", org, vkey, url, min(n, quorum))
        self.workspace = Workspace.load(ws.root)

    def _witness(self, home: WitnessHome, state: Path) -> Witness:
        store = WitnessStore(f"sqlite:///{state / f'state-{self._round}.db'}")
        self.stores.append(store)
        return Witness(home.signer(), [self.log], store)

    def forget(self) -> None:
        """Fresh memory for every witness: the next ledger is a new log to them."""
        self._round += 1
        for org, home in self.homes.items():
            self.servers[org].app = create_app(self._witness(home, self.root / org))

    def url(self, org: str) -> str:
        return f"http://127.0.0.1:{self.servers[org].server_port}"

    def close(self) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()
        for store in self.stores:
            store.close()


def settled(ledger: object, timeout: float = 15.0) -> None:
    """Wait until the embedded ledger's witnesses have cosigned its latest checkpoint."""
    from ledger_gw.embedded.ledger import EmbeddedLedger

    assert isinstance(ledger, EmbeddedLedger)
    assert ledger.settle_witnesses(timeout), "the witnesses did not cosign the latest checkpoint"


@contextmanager
def trickling(held: list[socket.socket], every: float) -> Iterator[None]:
    """A byte on each held connection every ``every`` seconds, until the block ends (the
    caller closes them): connections that never finish a request, yet never go quiet."""
    done = threading.Event()

    def trickle() -> None:
        while not done.wait(every):
            for conn in list(held):
                with contextlib.suppress(OSError):
                    conn.send(b"x")

    trickler = threading.Thread(target=trickle)
    trickler.start()
    try:
        yield
    finally:
        done.set()
        trickler.join()
