"""Where the embedded log anchors by default: its latest checkpoint that the witness
quorum cosigned. While the witnesses are down the log stores a checkpoint each commit
that none of them cosigned; finding the witnessed one must not mean reading all of
those again at every call (every tile, proof and bundle asks), and what the log
operator writes beside the checkpoints must not move the anchor to one that lacks the
quorum."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, insert

from ledger_gw.client import OrgClient
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.reader import LogReader
from ledger_gw.embedded.schema import witnessed
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.embedded.witnessing import Cosigner, endpoints
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.witnesses import TestWitnesses


class CountingReader(LogReader):
    """The ledger's own reader, counting the checkpoints it reads one by one."""

    read = 0

    def checkpoints_newest_first(
        self, above: int = 0, chunk: int = 500
    ) -> Iterator[tuple[int, str]]:
        for row in super().checkpoints_newest_first(above, chunk):
            self.read += 1
            yield row


class Site:
    def __init__(self, ws: Workspace, path: Path, witnesses: TestWitnesses) -> None:
        self.ws = ws
        self.ledger = EmbeddedLedger(
            f"sqlite:///{path / 'ledger.db'}", ws.consortium, ws.log_signer()
        )
        self.client = OrgClient(self.ledger, ws.signer("AGENCY-A"))
        self.asked = [w for w in endpoints(ws.consortium) if w.org_id in ("AGENCY-A", "AGENCY-B")]
        self.reader = CountingReader(self.ledger.engine)
        self.log = EmbeddedLog(self.reader, ws.consortium)
        witnesses.forget()  # a new log to them

    def commit(self, n: int) -> None:
        """`n` events, a commit each: `n` checkpoints no witness has seen (the ledger has
        no witness to push to, as when every one is down)."""
        for i in range(n):
            self.client.submit(ev.independent(i))

    def cosign(self, size: int | None = None) -> None:
        Cosigner(self.ledger.engine, self.ws.consortium).ask(self.asked, size)

    def anchored(self) -> tuple[int, int]:
        """The size the log anchors at, and how many checkpoints it read to find it."""
        before = self.reader.read
        return self.log.anchor().size, self.reader.read - before


@pytest.fixture
def site(audit_ws: Workspace, audit_witnesses: TestWitnesses, tmp_path: Path) -> Iterator[Site]:
    built = Site(audit_ws, tmp_path, audit_witnesses)
    yield built
    built.ledger.close()


def test_while_the_witnesses_are_down_each_call_reads_only_the_new_checkpoints(
    site: Site,
) -> None:
    site.commit(3)
    site.cosign()
    site.commit(200)
    assert site.anchored() == (3, 200)  # the first call reads what is new to it
    assert site.anchored() == (3, 0)
    site.commit(5)
    assert site.anchored() == (3, 5)
    assert site.anchored() == (3, 0)


def test_a_checkpoint_read_before_it_was_cosigned_is_anchored_once_it_is(site: Site) -> None:
    site.commit(3)
    site.cosign()
    site.commit(4)
    assert site.anchored() == (3, 4)
    site.cosign()  # the latest, read already: no newer one shows it
    assert site.log.anchor().size == 7
    site.commit(2)
    assert site.anchored()[0] == 7
    site.cosign(8)  # an older one than the latest, asked for by size
    assert site.anchored() == (8, 0)


def test_the_record_of_a_checkpoint_short_of_the_quorum_is_not_anchored(site: Site) -> None:
    site.commit(3)
    site.cosign()
    site.commit(4)
    with site.ledger.engine.begin() as conn:  # the operator points at an uncosigned one
        conn.execute(insert(witnessed).values(size=6))
    anchor = site.log.anchor()
    assert anchor.size == 3
    assert anchor.note is not None
    site.ws.consortium.open_witnessed(anchor.note)  # the quorum's cosignatures, verified


def test_a_ledger_whose_witnessed_checkpoints_were_never_recorded_still_anchors_at_them(
    site: Site,
) -> None:
    """As a ledger written before the record was kept: its cosignatures are only in the
    checkpoints' notes."""
    site.commit(3)
    site.cosign()
    site.commit(4)
    with site.ledger.engine.begin() as conn:
        conn.execute(delete(witnessed))
    assert site.anchored() == (3, 5)
    assert site.anchored() == (3, 0)
    site.commit(1)
    site.cosign()
    assert site.anchored() == (8, 0)  # recorded now


def test_before_any_checkpoint_is_witnessed_the_latest_is_the_anchor(site: Site) -> None:
    site.commit(3)
    assert site.anchored() == (3, 3)
    site.commit(2)
    assert site.anchored() == (5, 2)
