"""The gateway's running totals give every report exactly what a replay of the log
gives: donors' lattice slices (suppressed together), agencies' arbitrary periods, at
several checkpoints, with the totals carried forward from one checkpoint to the next
(only the new records folded in)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.errors import IntegrityError
from ledger_gw.interfaces import Anchor
from ledger_gw.reports import lattice
from ledger_gw.reports.accountability import (
    ReportQuery,
    build_cube,
    compute_report,
    month_bounds,
    report_of,
)
from ledger_gw.reports.aggregates import Aggregates
from ledger_gw.workspace import Workspace
from tests.support import events as ev

pytestmark = pytest.mark.slow

K = 5
ORGS = ("AGENCY-A", "AGENCY-B", "AGENCY-C")
PROGRAMMES = ("MPCA-2026", "HEALTH-ACCESS", "WASH-2026")
PLACES = (("LB11", "cash"), ("LB12", "voucher"), ("LB21", "cash"), ("LB81", "in_kind"))
DAYS = ("2026-09-03", "2026-09-28", "2026-10-01", "2026-10-17", "2026-11-09", "2026-11-30")
SECTORS = ("health", "shelter", "legal_aid")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, EmbeddedLedger]]:
    ws = Workspace.create(tmp_path_factory.mktemp("aggregates") / "ws", DEMO)
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer())
    yield ws, ledger
    ledger.close()


def _round(ws: Workspace, ledger: EmbeddedLedger, rng: random.Random) -> None:
    """Some hundreds of events of every kind a report reads."""
    clients = {org: OrgClient(ledger, ws.signer(org)) for org in ORGS}
    grants: dict[str, list[dict[str, object]]] = {org: [] for org in ORGS}
    people = [ev.pid() for _ in range(60)]
    for org in ORGS:
        for _ in range(rng.randint(70, 100)):
            location, modality = rng.choice(PLACES)
            grants[org].append(
                ev.entitlement_granted(
                    rng.choice(people),  # the same person twice: flagged duplicates
                    programme=rng.choice(PROGRAMMES),
                    modality=modality,
                    location=location,
                )
            )
    referrals: dict[str, list[dict[str, object]]] = {org: [] for org in ORGS}
    for org in ("AGENCY-A", "AGENCY-C"):
        for _ in range(rng.randint(15, 30)):
            referrals[org].append(
                ev.referral_created(rng.choice(people), "AGENCY-B", sector=rng.choice(SECTORS))
            )
    for org in ORGS:
        _submit(clients[org], grants[org] + referrals[org])
    for org in ORGS:
        later = []
        for g in grants[org]:
            for _ in range(rng.randint(0, 3)):
                extra = {"location": "LB31"} if rng.random() < 0.1 else {}
                later.append(
                    ev.delivery(
                        str(g["entitlement_id"]),
                        str(rng.randint(5, 45)),
                        date=rng.choice(DAYS),
                        **extra,
                    )
                )
            if rng.random() < 0.08:
                kind = rng.choice(("revoked", "closed", "suspended"))
                later.append(ev.entitlement_step(kind, str(g["entitlement_id"])))
        _submit(clients[org], later)
    answers = []
    for org in ("AGENCY-A", "AGENCY-C"):
        for r in referrals[org]:
            step = rng.choice(("accepted", "declined", None, "accepted"))
            if step:
                answers.append(ev.referral_step(step, str(r["referral_id"])))
    _submit(clients["AGENCY-B"], answers)
    outcomes = [
        ev.referral_step("completed", str(a["referral_id"]))
        for a in answers
        if a["type"] == "referral.accepted" and rng.random() < 0.6
    ]
    _submit(clients["AGENCY-B"], outcomes)


def _submit(client: OrgClient, events: list[dict[str, object]]) -> None:
    assert [o.error for o in client.submit_many(events) if o.error][:1] == []


def _queries() -> list[ReportQuery]:
    """Agencies' and auditors' periods: weeks, a month across two, all time; with k 5 and 9."""
    periods = [(None, None), ("2026-09-28", "2026-10-04"), ("2026-09-15", "2026-11-14")]
    periods += [("2026-11-02", "2026-11-08"), ("2026-10-01", "2026-10-01")]
    return [
        ReportQuery(org, programme, start, end, k)
        for org in (None, *ORGS)
        for programme in (None, "MPCA-2026")
        for start, end in periods
        for k in (K, 9)
    ]


def test_running_totals_report_what_the_replay_reports(
    world: tuple[Workspace, EmbeddedLedger],
) -> None:
    ws, ledger = world
    log = EmbeddedLog.of(ledger)
    rng = random.Random(11)
    aggregates = Aggregates()
    since: Anchor | None = None
    total = 0
    for _ in range(3):
        _round(ws, ledger, rng)
        anchor = log.anchor()
        aggregates.add(log.records(anchor, since=since))
        since = anchor
        records = list(log.records(anchor))
        total = len(records)
        cube = aggregates.cube(K)
        replayed = build_cube(records, K)
        assert cube.hidden == replayed.hidden
        assert cube.hidden  # the data do hide something
        slices = lattice.slices(aggregates.months, aggregates.orgs, aggregates.programmes)
        assert set(slices) == set(replayed.tallies)
        for s in slices:
            q = ReportQuery(s[1], s[2], *month_bounds(s[0]), k=K, on_lattice=True)
            fast = report_of(cube.tallies[s], anchor=anchor.summary, query=q, cube=cube)
            assert fast == compute_report(records, anchor=anchor.summary, query=q, cube=replayed)
        for q in _queries():
            fast = report_of(aggregates.tally(q), anchor=anchor.summary, query=q, cube=None)
            assert fast == compute_report(records, anchor=anchor.summary, query=q)
    assert total > 2000


def test_reading_on_from_an_anchor_checks_the_new_records_against_the_checkpoint(
    world: tuple[Workspace, EmbeddedLedger],
) -> None:
    ws, ledger = world
    log = EmbeddedLog.of(ledger)
    before = log.anchor()
    assert list(log.records(before, since=before)) == []
    _submit(OrgClient(ledger, ws.signer("AGENCY-A")), [ev.entitlement_granted(ev.pid())])
    after = log.anchor()
    fresh = EmbeddedLog.of(ledger)  # has read nothing: hashes the prefix again
    assert [r.position for r in fresh.records(after, since=before)] == [before.size]
    forged = Anchor(before.size, {**before.summary, "root": after.summary["root"]})
    with pytest.raises(IntegrityError):
        list(log.records(after, since=forged))
    with pytest.raises(IntegrityError):
        list(log.records(before, since=after))
