"""A rotated-out key's entry is never dated far before one logged earlier, nor dated
after its rotation once the member's next key has signed: the ledger refuses what verify
would, even when its own clock steps back, so that an honest ledger always verifies and
a retired key cannot date an entry back past later ones, nor forward past the rotation.
Current keys are not held to it: a clock stepped back costs them nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded import ledger as embedded
from ledger_gw.embedded.database import reading_engine
from ledger_gw.embedded.ledger import ORDER_SLACK, EmbeddedLedger
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.embedded.verify import verify_ledger
from ledger_gw.errors import IntegrityError
from ledger_gw.identity import Signer
from ledger_gw.log.entry import Entry
from ledger_gw.services.bundles import build, verify_bytes
from ledger_gw.transaction import SignedTransaction
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.ledgers import verify_url


def test_a_clock_stepped_back_lets_no_rotated_out_key_sign(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws", DEMO)
    old = ws.signer("AGENCY-A")
    rotation = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    ws = ws.rotate_key("AGENCY-A", at=rotation)
    now = [rotation + dt.timedelta(minutes=30)]
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer(), clock=lambda: now[0])
    try:
        new_a = OrgClient(ledger, ws.signer("AGENCY-A"), clock=lambda: now[0])
        assert new_a.submit_many([ev.independent(0)])[0].error is None
        now[0] = rotation - dt.timedelta(minutes=5)  # an NTP step back, past the slack
        assert now[0] < rotation + dt.timedelta(minutes=30) - ORDER_SLACK
        (refused,) = OrgClient(ledger, old, clock=lambda: now[0]).submit_many([ev.independent(1)])
        assert refused.error is not None
        assert refused.error.code == "retired_certificate"
        assert "before the log's latest entry" in str(refused.error)
        c = OrgClient(ledger, ws.signer("AGENCY-C"), clock=lambda: now[0])
        assert c.submit_many([ev.independent(2)])[0].error is None  # a current key: taken
    finally:
        ledger.close()
    assert verify_url(ws.ledger_url, ws.consortium).size == 2


def _at(moment: dt.datetime) -> Callable[[], dt.datetime]:
    return lambda: moment


def _submit(ledger: EmbeddedLedger, signer: Signer, n: int, at: dt.datetime) -> str | None:
    """The error code of one event signed at ``at``; None when it is logged."""
    (outcome,) = OrgClient(ledger, signer, clock=_at(at)).submit_many([ev.independent(n)])
    return None if outcome.error is None else str(outcome.error.code)


def test_an_entry_a_fast_clock_dated_past_the_rotation_still_verifies(tmp_path: Path) -> None:
    """A gateway whose clock runs three minutes fast (the ledger allows ten) signs just
    before its member's key is rotated: the entry states a time after the rotation. Its
    key was the key when the ledger took it, and no entry of the next one came before
    it: verify takes it, for good."""
    ws = Workspace.create(tmp_path / "ws", DEMO)
    fast = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3)
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer())
    try:
        assert _submit(ledger, ws.signer("AGENCY-A"), 0, fast) is None
    finally:
        ledger.close()
    ws = ws.rotate_key("AGENCY-A")
    rotated_at = ws.consortium.organisation("AGENCY-A").signing_keys[0].valid_until
    assert rotated_at is not None
    assert rotated_at < fast
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer())
    try:
        assert _submit(ledger, ws.signer("AGENCY-A"), 1, dt.datetime.now(dt.UTC)) is None
        # An auditor's bundle checks the entry alone, without the log's order: it takes
        # it as the ledger took it, rather than calling an honest log tampered with.
        tx_id = SignedTransaction.of_entry(
            Entry.from_bytes(ledger.log.entry(0)), ledger.log.certificates()
        ).tx_id
        bundle = build(EmbeddedLog.of(ledger), ws.consortium, kind="events", tx_ids=[tx_id])
    finally:
        ledger.close()
    assert verify_url(ws.ledger_url, ws.consortium).size == 2
    report = verify_bytes(bundle, ws.consortium, quorum=0)
    assert report.codes == set(), report.failures


def _rotated_ahead(tmp_path: Path) -> tuple[Workspace, Signer, dt.datetime]:
    """AGENCY-A's key rotated by a clock two minutes ahead of the ledger's: the ledger,
    at ``rotation - 2 min``, still takes the old key (its period has not ended by the
    ledger's clock) and already the new one (dated within the skew)."""
    ws = Workspace.create(tmp_path / "ws", DEMO)
    old = ws.signer("AGENCY-A")
    rotation = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    return ws.rotate_key("AGENCY-A", at=rotation), old, rotation


def test_a_rotated_out_key_dates_past_its_rotation_only_until_the_next_key_signs(
    tmp_path: Path,
) -> None:
    """The ledger's clock two minutes behind the one that rotated the key, a gateway's
    three ahead of the ledger's: the old key's entry dated a minute past the rotation is
    taken while the log holds no entry of the new key, and refused after its first, in
    the same batch or a later one. Within its period the old key still signs. Verify
    takes what the ledger took."""
    ws, old, rotation = _rotated_ahead(tmp_path)
    late = rotation + dt.timedelta(minutes=1)
    clock = _at(rotation - dt.timedelta(minutes=2))
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer(), clock=clock)
    old_a = OrgClient(ledger, old, clock=_at(late))
    new_a = OrgClient(ledger, ws.signer("AGENCY-A"), clock=_at(late))
    try:
        assert old_a.submit_many([ev.independent(0)])[0].error is None
        first, same_batch = ledger.submit_many(
            [new_a.sign("submit", ev.independent(1)), old_a.sign("submit", ev.independent(2))]
        )
        assert first.error is None
        (later,) = old_a.submit_many([ev.independent(3)])
        for refused in (same_batch, later):
            assert refused.error is not None
            assert refused.error.code == "retired_certificate"
            assert "next key has signed" in str(refused.error)
        within = OrgClient(ledger, old, clock=_at(rotation - dt.timedelta(minutes=1)))
        assert within.submit_many([ev.independent(4)])[0].error is None
    finally:
        ledger.close()
    assert verify_url(ws.ledger_url, ws.consortium).size == 3


def test_verify_refuses_a_rotated_out_keys_entry_dated_past_its_rotation_after_the_next_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever holds the rotated-out key (the reason to rotate, often) runs a ledger
    that does not look for the next key's entries: it logs an entry dated a minute after
    the rotation, after the new key's first. Valid signature, time within the slack; no
    ledger took it then, and verify says so."""
    ws, old, rotation = _rotated_ahead(tmp_path)
    now = rotation - dt.timedelta(minutes=2)
    late = rotation + dt.timedelta(minutes=1)
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer(), clock=_at(now))
    try:
        assert _submit(ledger, ws.signer("AGENCY-A"), 0, late) is None
        monkeypatch.setattr(embedded, "_succeeded", lambda *_: False)  # the thief's code
        assert _submit(ledger, old, 1, late) is None
    finally:
        ledger.close()
    with pytest.raises(IntegrityError, match="next key") as refused:
        verify_url(ws.ledger_url, ws.consortium)
    assert refused.value.position == 1
    engine = reading_engine(ws.ledger_url)
    try:  # the same verdict with the signatures checked on other processes
        with pytest.raises(IntegrityError, match="next key"):
            verify_ledger(engine, ws.consortium, workers=2, chunk=1)
    finally:
        engine.dispose()
