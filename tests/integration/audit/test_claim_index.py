"""Bundles read a claim's records through the world state, and select what a scan would.

A log of a few thousand entries holds many people, each with an entitlement and a
referral chain (a root, an onward referral, their steps); more events about the same
claims are appended after a checkpoint, so an anchor at that checkpoint must leave
them out. Every bundle built from the index must equal the one built from a scan of
the whole log, at both anchors.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from ledger_gw.audit.bundle import build_bundle
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.packing import pack, unpack
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.errors import AuditError, IntegrityError
from ledger_gw.interfaces import Anchor, Record
from ledger_gw.transaction import SignedTransaction, sign_proposal
from ledger_gw.workspace import Workspace
from tests.support import events as ev

PEOPLE = 300  # about 3,500 entries with the noise between them


class ScanLog(EmbeddedLog):
    """The same log, selecting a claim's records by scanning every entry."""

    def claim_records(self, anchor: Anchor, kind: str, subject: str) -> list[Record]:
        return list(self.records(anchor))


@dataclass
class Claims:
    ledger: EmbeddedLedger
    log: EmbeddedLog
    scan: ScanLog
    early: int  # a checkpoint that later events about the same claims are not under
    referrals: list[str]
    entitlements: list[str]


def _person(ws: Workspace, i: int) -> tuple[list[SignedTransaction], list[Any], dict[str, str]]:
    """Her first events, her later ones, and her claims' subjects."""
    person = ev.pid()
    grant = ev.entitlement_granted(person)
    root = ev.referral_created(person)
    onward = ev.referral_created(person, to_org="AGENCY-C", parent_referral_id=root["referral_id"])
    first = [
        ("AGENCY-A", grant),
        ("AGENCY-A", ev.delivery(grant["entitlement_id"])),
        ("AGENCY-A", root),
        ("AGENCY-C", ev.independent(3 * i)),
        ("AGENCY-B", ev.referral_step("accepted", root["referral_id"])),
        ("AGENCY-B", onward),
        ("AGENCY-A", ev.independent(3 * i + 1)),
    ]
    later = [
        ("AGENCY-A", ev.delivery(grant["entitlement_id"])),
        ("AGENCY-C", ev.referral_step("accepted", onward["referral_id"])),
        ("AGENCY-C", ev.referral_step("completed", onward["referral_id"])),
        ("AGENCY-B", ev.referral_step("completed", root["referral_id"])),
        ("AGENCY-C", ev.independent(3 * i + 2)),
    ]
    signers = {o: ws.signer(o) for o in ("AGENCY-A", "AGENCY-B", "AGENCY-C")}
    sign = lambda steps: [sign_proposal(signers[o], "submit", [e]) for o, e in steps]  # noqa: E731
    subjects = {
        "root": root["referral_id"],
        "onward": onward["referral_id"],
        "ent": grant["entitlement_id"],
    }
    return sign(first), sign(later), subjects


def _append(ledger: EmbeddedLedger, txs: list[SignedTransaction]) -> None:
    for i in range(0, len(txs), 500):
        for outcome in ledger.submit_many(txs[i : i + 500]):
            outcome.unwrap()


@pytest.fixture(scope="module")
def claims(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Claims]:
    tmp: Path = tmp_path_factory.mktemp("claims")
    ws = Workspace.create(tmp / "ws", replace(DEMO, name="claims"))
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer())
    people = [_person(ws, i) for i in range(PEOPLE)]
    # A person's steps keep their order across batches: her first events, then all later.
    _append(ledger, [tx for first, _, _ in people for tx in first])
    early = ledger.size()
    _append(ledger, [tx for _, later, _ in people for tx in later])
    subjects = [s for _, _, s in people]
    picked = subjects[:: PEOPLE // 6]
    yield Claims(
        ledger,
        EmbeddedLog.of(ledger),
        ScanLog(ledger.log, ledger.consortium),
        early,
        [s[k] for s in picked for k in ("root", "onward")],
        [s["ent"] for s in picked],
    )
    ledger.close()


def _both(c: Claims, kind: str, subject: str, size: int | None) -> tuple[Any, Any]:
    def one(log: EmbeddedLog) -> Any:
        try:
            return build_bundle(log, c.ledger.consortium, kind=kind, subject=subject, size=size)
        except AuditError as exc:
            return ("refused", exc.code, str(exc))

    return one(c.log), one(c.scan)


def test_the_index_selects_what_the_scan_selects_at_every_anchor(claims: Claims) -> None:
    assert claims.ledger.size() > 3000
    for size in (claims.early, None):
        for kind, subjects in (
            ("referral_chain", claims.referrals),
            ("entitlement", claims.entitlements),
        ):
            for subject in subjects:
                indexed, scanned = _both(claims, kind, subject, size)
                assert indexed == scanned
                assert isinstance(indexed, dict)
    latest = build_bundle(
        claims.log, claims.ledger.consortium, kind="referral_chain", subject=claims.referrals[0]
    )
    early = build_bundle(
        claims.log,
        claims.ledger.consortium,
        kind="referral_chain",
        subject=claims.referrals[0],
        size=claims.early,
    )
    # the chain's root, its onward referral and their steps: later ones only at the latest
    assert len(early["claim"]["events"]) == 3
    assert len(latest["claim"]["events"]) == 6
    assert all(e["index"] < claims.early for e in early["evidence"]["entries"])


def test_unknown_and_not_yet_logged_subjects_are_refused_as_the_scan_refuses(
    claims: Claims,
) -> None:
    for kind, subject in (
        ("referral_chain", ev.uid()),
        ("entitlement", ev.uid()),
        ("referral_chain", "not\x00a key"),
        ("entitlement", claims.referrals[0]),  # a referral's ID as an entitlement
    ):
        indexed, scanned = _both(claims, kind, subject, None)
        assert indexed == scanned
        assert indexed[:2] == ("refused", "not_found")


def test_an_entry_changed_under_the_index_is_refused(claims: Claims) -> None:
    anchor = claims.log.anchor()
    records = claims.log.claim_records(anchor, "entitlement", claims.entitlements[0])
    target = records[0].position
    with claims.ledger.engine.begin() as conn:
        original = conn.execute(
            text("SELECT entry FROM log WHERE seq = :s"), {"s": target}
        ).scalar()
        conn.execute(
            text("UPDATE log SET entry = :e WHERE seq = :s"),
            {"e": pack(unpack(bytes(original)).replace(b"50", b"99", 1)), "s": target},
        )
    try:
        with pytest.raises(IntegrityError, match="not the anchor's"):
            claims.log.claim_records(anchor, "entitlement", claims.entitlements[0])
    finally:
        with claims.ledger.engine.begin() as conn:
            conn.execute(
                text("UPDATE log SET entry = :e WHERE seq = :s"), {"e": original, "s": target}
            )
