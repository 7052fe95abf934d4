"""The gateway's running totals give every report exactly what a replay of the log
gives: donors' closed months (each its own lattice, suppressed together, frozen at its
closing), agencies' arbitrary periods, at several checkpoints, with the totals carried
forward from one checkpoint to the next (only the new records folded in).

The events are logged month by month on the ledger's own (test) clock, and each turn
of a month brings what a fold could get wrong: records logged after the month's end
but dated before it, records dated in the next month before the closing record (a
step of a month's referral, the revocation of its flagged grant), and, once the month
is closed, records backdated into it."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import update

from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.schema import nodes
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.errors import IntegrityError
from ledger_gw.interfaces import Anchor, Record
from ledger_gw.reports.accountability import (
    Cube,
    PeriodNotClosedError,
    ReportQuery,
    build_cube,
    compute_report,
    month_bounds,
    report_of,
)
from ledger_gw.reports.aggregates import Aggregates
from ledger_gw.reports.release import DONOR_K, GRACE, month_end
from ledger_gw.transaction import parse_time
from ledger_gw.workspace import Workspace
from tests.support import events as ev

pytestmark = pytest.mark.slow

K = DONOR_K


def _month(offset: int) -> str:
    """The calendar month ``offset`` months from this one (within the members'
    certificates' validity, which starts today)."""
    today = dt.datetime.now(dt.UTC)
    n = today.year * 12 + today.month - 1 + offset
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


BEFORE = _month(0)  # closed, empty, by the log's first record
MONTHS = tuple(_month(i) for i in range(1, 5))  # three rounds; the last month stays empty
PERIOD = {"start": f"{MONTHS[0]}-01", "end": f"{MONTHS[-1]}-28"}
DAYS = tuple(f"{m}-{d:02d}" for m in MONTHS[:3] for d in (1, 3, 17, 28))
ORGS = ("AGENCY-A", "AGENCY-B", "AGENCY-C")
PROGRAMMES = ("MPCA-2026", "HEALTH-ACCESS", "WASH-2026")
PLACES = (("LB11", "cash"), ("LB12", "voucher"), ("LB21", "cash"), ("LB81", "in_kind"))
SECTORS = ("health", "shelter", "legal_aid")


@dataclass
class World:
    ws: Workspace
    ledger: EmbeddedLedger
    now: list[dt.datetime]  # the ledger's clock
    stamp: list[dt.datetime | None] = field(default_factory=lambda: [None])  # the clients'

    def submit(self, org: str, events: list[dict[str, object]]) -> None:
        client = OrgClient(self.ledger, self.ws.signer(org), clock=self._clock)
        assert [o.error for o in client.submit_many(events) if o.error][:1] == []

    def _clock(self) -> dt.datetime:
        return self.stamp[0] or self.now[0]

    def at(self, moment: dt.datetime, stamp: dt.datetime | None = None) -> None:
        self.now[0], self.stamp[0] = moment, stamp


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    ws = Workspace.create(tmp_path_factory.mktemp("aggregates") / "ws", DEMO)
    now = [dt.datetime.fromisoformat(f"{MONTHS[0]}-10T12:00:00+00:00")]
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer(), clock=lambda: now[0])
    yield World(ws, ledger, now)
    ledger.close()


def _mid(month: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{month}-10T12:00:00+00:00")


def _round(w: World, rng: random.Random) -> tuple[list[dict[str, object]], list[str]]:
    """Some hundreds of events of every kind a report reads; AGENCY-A's grants still
    active, with the people granted twice first, and the referrals left unanswered."""
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
                    **PERIOD,
                )
            )
    referrals: dict[str, list[dict[str, object]]] = {org: [] for org in ORGS}
    for org in ("AGENCY-A", "AGENCY-C"):
        for _ in range(rng.randint(15, 30)):
            referrals[org].append(
                ev.referral_created(rng.choice(people), "AGENCY-B", sector=rng.choice(SECTORS))
            )
    for org in ORGS:
        w.submit(org, grants[org] + referrals[org])
    stepped = set()
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
                stepped.add(g["entitlement_id"])
        w.submit(org, later)
    answers = []
    for org in ("AGENCY-A", "AGENCY-C"):
        for r in referrals[org]:
            step = rng.choice(("accepted", "declined", None, "accepted"))
            if step:
                answers.append(ev.referral_step(step, str(r["referral_id"])))
    w.submit("AGENCY-B", answers)
    outcomes = [
        ev.referral_step("completed", str(a["referral_id"]))
        for a in answers
        if a["type"] == "referral.accepted" and rng.random() < 0.6
    ]
    w.submit("AGENCY-B", outcomes)
    made = [str(r["referral_id"]) for org in ("AGENCY-A", "AGENCY-C") for r in referrals[org]]
    answered = {str(a["referral_id"]) for a in answers}
    people = [g["pid"] for org in ORGS for g in grants[org]]
    active = [g for g in grants["AGENCY-A"] if g["entitlement_id"] not in stepped]
    active.sort(key=lambda g: people.count(g["pid"]) < 2)  # granted twice: flagged
    return active, [r for r in made if r not in answered]


def _turn(w: World, month: str, active: list[dict[str, object]], open_refs: list[str]) -> None:
    """The end of ``month``: events just before it; dated after it, before the month
    closes (closing flagged grants, answering a referral, a grant); then logged after
    those but dated before the end (a delivery on that later grant among them)."""
    end = month_end(month)
    ents = [str(g["entitlement_id"]) for g in active]
    last = (end.date() - dt.timedelta(days=1)).isoformat()
    w.at(end - dt.timedelta(minutes=3))
    w.submit("AGENCY-A", [ev.delivery(ents[-1], "7", date=last)])
    w.submit("AGENCY-B", [ev.referral_step("accepted", open_refs[0])])
    w.at(end + dt.timedelta(minutes=5))  # the next month, before the closing record
    w.submit("AGENCY-A", [ev.entitlement_step("closed", eid) for eid in ents[:3]])
    w.submit("AGENCY-A", [ev.delivery(ents[-2], "9", date=last)])
    w.submit("AGENCY-B", [ev.referral_step("accepted", open_refs[1])])
    fresh = ev.entitlement_granted(ev.pid(), modality="cash", location="LB11", **PERIOD)
    w.submit("AGENCY-A", [fresh])  # granted after the end: the month holds no delivery on it
    w.at(end + dt.timedelta(minutes=7), stamp=end - dt.timedelta(minutes=2))  # logged late
    w.submit("AGENCY-A", [ev.delivery(ents[-3], "8", date=last)])
    w.submit("AGENCY-A", [ev.delivery(str(fresh["entitlement_id"]), "6", date=last)])
    w.submit("AGENCY-A", [ev.entitlement_step("revoked", ents[-4])])
    w.submit("AGENCY-B", [ev.referral_step("declined", open_refs[2])])


def _backdate(w: World, month: str, open_refs: list[str]) -> None:
    """Events dated inside ``month`` after it closed (a Fabric member dates its own)."""
    w.at(_mid(month) + dt.timedelta(days=5))
    late = ev.entitlement_granted(ev.pid(), modality="cash", location="LB11", **PERIOD)
    w.submit("AGENCY-C", [late])
    w.submit("AGENCY-C", [ev.delivery(str(late["entitlement_id"]), "10", date=f"{month}-15")])
    w.submit("AGENCY-B", [ev.referral_step("accepted", open_refs[3])])


def _queries() -> list[ReportQuery]:
    """Agencies' and auditors' periods: weeks, a month across two, all time; with k 5 and 9."""
    m0, m1 = MONTHS[0], MONTHS[1]
    periods = [(None, None), (f"{m0}-27", f"{m1}-04"), (f"{m0}-15", f"{m1}-14")]
    periods += [(f"{m1}-02", f"{m1}-08"), (f"{m1}-01", f"{m1}-01")]
    return [
        ReportQuery(org, programme, start, end, k)
        for org in (None, *ORGS)
        for programme in (None, "MPCA-2026")
        for start, end in periods
        for k in (K, 9)
    ]


def _same_month(
    aggregates: Aggregates, records: list[Record], anchor: Anchor, month: str
) -> Cube | None:
    """The month's release from the running totals is the replay's (None: still open)."""
    try:
        replayed = build_cube(records, K, month)
    except PeriodNotClosedError:
        with pytest.raises(PeriodNotClosedError):
            aggregates.cube(month, K)
        return None
    cube = aggregates.cube(month, K)
    assert cube.hidden == replayed.hidden
    assert set(cube.tallies) == set(replayed.tallies)
    # ... and slices the lattice lacks: a programme never granted, an unknown organisation
    odd = [(month, org, "FOOD-2026") for org in (None, "AGENCY-A")] + [(month, "AGENCY-Z", None)]
    for s in [*cube.tallies, *odd]:
        q = ReportQuery(s[1], s[2], *month_bounds(s[0]), k=K, on_lattice=True)
        fast = report_of(
            aggregates.monthly.tally(q, cube), anchor=anchor.summary, query=q, cube=cube
        )
        assert fast == compute_report(records, anchor=anchor.summary, query=q, cube=replayed), s
    return cube


def test_running_totals_report_what_the_replay_reports(world: World) -> None:
    log = EmbeddedLog.of(world.ledger)
    rng = random.Random(11)
    aggregates = Aggregates()
    since: Anchor | None = None
    frozen: dict[str, Cube] = {}
    open_refs: list[str] = []
    for i in range(3):
        month = MONTHS[i]
        world.at(_mid(month))
        active, unanswered = _round(world, rng)
        if i:
            _backdate(world, MONTHS[i - 1], open_refs)
        open_refs = unanswered
        _turn(world, month, active, open_refs)
        anchor = log.anchor()
        aggregates.add(log.records(anchor, since=since))
        since = anchor
        records = list(log.records(anchor))
        for m in (BEFORE, *MONTHS):
            cube = _same_month(aggregates, records, anchor, m)
            assert (cube is not None) == (m < month)
            if cube is not None:
                assert frozen.setdefault(m, cube) is cube  # computed once, at its closing
        for q in _queries():
            fast = report_of(aggregates.tally(q), anchor=anchor.summary, query=q, cube=None)
            assert fast == compute_report(records, anchor=anchor.summary, query=q)
    assert set(frozen) == {BEFORE, *MONTHS[:2]}
    assert all(c.hidden for m, c in frozen.items() if m != BEFORE)  # the data hide something
    assert len(records) > 2000
    # the turns did log what the fold must leave out of a month, and what it must keep
    logged = [(r.position, parse_time(r.timestamp)) for r in records]
    for m in MONTHS[:2]:
        end = month_end(m)
        after = next(p for p, t in logged if t >= end)
        closing = next(p for p, t in logged if t >= end + GRACE)
        assert after < closing  # dated after the end, before the closing: not the month's
        assert any(after < p < closing and t < end for p, t in logged)  # the month's, late
        assert any(p > closing and t < end for p, t in logged)  # backdated after closing


def test_reading_on_from_an_anchor_checks_the_new_records_against_the_checkpoint(
    world: World,
) -> None:
    ledger = world.ledger
    log = EmbeddedLog.of(ledger)
    before = log.anchor()
    assert list(log.records(before, since=before)) == []
    world.submit("AGENCY-A", [ev.entitlement_granted(ev.pid())])
    after = log.anchor()
    fresh = EmbeddedLog.of(ledger)  # has read nothing: starts from the stored border
    assert [r.position for r in fresh.records(after, since=before)] == [before.size]
    forged = Anchor(before.size, {**before.summary, "root": after.summary["root"]})
    with pytest.raises(IntegrityError):
        list(log.records(after, since=forged))
    with pytest.raises(IntegrityError):
        list(log.records(before, since=after))


def _reads_from(log: EmbeddedLog, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Where each read of the log's entries starts."""
    starts: list[int] = []
    entries = log.reader.entries

    def spy(start: int = 0, chunk: int = 2000) -> Iterator[tuple[int, bytes]]:
        starts.append(start)
        return entries(start, chunk)

    monkeypatch.setattr(log.reader, "entries", spy)
    return starts


def test_reading_on_from_an_anchor_starts_from_the_stored_tree_not_the_first_entry(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = world.ledger
    world.submit("AGENCY-A", [ev.entitlement_granted(ev.pid()) for _ in range(13)])
    before = EmbeddedLog.of(ledger).anchor()
    world.submit("AGENCY-B", [ev.entitlement_granted(ev.pid()) for _ in range(2)])
    after = EmbeddedLog.of(ledger).anchor()
    fresh = EmbeddedLog.of(ledger)
    starts = _reads_from(fresh, monkeypatch)
    assert [r.position for r in fresh.records(after, since=before)] == [
        before.size,
        before.size + 1,
    ]
    assert starts == [before.size]
    # an anchor whose root the stored tree does not give: the prefix is hashed, and refused
    forged = Anchor(before.size, {**before.summary, "root": after.summary["root"]})
    fresh = EmbeddedLog.of(ledger)
    starts = _reads_from(fresh, monkeypatch)
    with pytest.raises(IntegrityError):
        list(fresh.records(after, since=forged))
    assert starts == [0]


def test_a_stored_tree_node_gone_wrong_costs_a_rehash_not_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.create(tmp_path / "ws", DEMO)
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer())
    world = World(ws, ledger, [dt.datetime.now(dt.UTC)])
    world.submit("AGENCY-A", [ev.entitlement_granted(ev.pid()) for _ in range(6)])
    before = EmbeddedLog.of(ledger).anchor()
    world.submit("AGENCY-B", [ev.entitlement_granted(ev.pid())])
    after = EmbeddedLog.of(ledger).anchor()
    with ledger.log.engine.begin() as conn:  # the largest subtree of the border, overwritten
        level = before.size.bit_length() - 1
        conn.execute(
            update(nodes).where(nodes.c.level == level, nodes.c.idx == 0).values(hash=b"x" * 32)
        )
    fresh = EmbeddedLog.of(ledger)
    starts = _reads_from(fresh, monkeypatch)
    assert [r.position for r in fresh.records(after, since=before)] == [before.size]
    assert starts == [0]
    ledger.close()
