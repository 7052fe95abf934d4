"""A donor plays the differencing attack: it asks for every report it may ask for, at
every checkpoint, and tries to recover a count below k from the published figures by
linear algebra over every additive relation between them (parts of a table add up to
its margins; organisations add up to all, programmes to all). It must fail; the same
attack on reports suppressed one at a time succeeds, so the attack is a real one.

The events are logged month by month on the ledger's own (test) clock; a record in
December closes November; later, more events arrive, one of them backdated into a
closed month, as a Fabric member could date its transactions."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.interfaces import Record
from ledger_gw.reports.accountability import (
    PeriodNotClosedError,
    ReportError,
    ReportQuery,
    build_cube,
    compute_report,
    month_bounds,
)
from ledger_gw.reports.release import DONOR_K, closing_records
from ledger_gw.reports.signing import sign_report, verify_report
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.whole_numbers import single_whole_values

K = DONOR_K


def _month(offset: int) -> str:
    """The calendar month ``offset`` months from this one (within the members'
    certificates' validity, which starts today)."""
    today = dt.datetime.now(dt.UTC)
    n = today.year * 12 + today.month - 1 + offset
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


MONTHS = tuple(_month(i) for i in range(1, 5))  # the first stays empty
OPEN = _month(5)
CLOSED = dt.datetime.fromisoformat(f"{OPEN}-01T01:00:00+00:00")  # a first record in OPEN
YEAR = {"start": f"{MONTHS[0]}-01", "end": f"{OPEN}-28"}  # entitlements cover the months
ORGS = ("AGENCY-A", "AGENCY-B", "AGENCY-C")
PROGRAMMES = ("MPCA-2026", "HEALTH-ACCESS", "WASH-2026")
PLACES = (("LB11", "cash"), ("LB11", "voucher"), ("LB21", "cash"), ("LB81", "cash"))
SECTORS = ("health", "shelter", "legal_aid")
PRIME = (1 << 61) - 1

Slice = tuple[str | None, str | None, str | None]
Key = tuple[Hashable, ...]
Var = tuple[Slice, Key]


@dataclass
class World:
    ws: Workspace
    ledger: EmbeddedLedger
    log: EmbeddedLog
    now: list[dt.datetime]  # the ledger's and the clients' clock
    closed: int = 0  # the log's size once November was closed

    def submit(self, org: str, events: list[dict[str, Any]]) -> None:
        client = OrgClient(self.ledger, self.ws.signer(org), clock=lambda: self.now[0])
        assert [o.error for o in client.submit_many(events) if o.error][:1] == []


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    ws = Workspace.create(tmp_path_factory.mktemp("differencing") / "ws", DEMO)
    now = [CLOSED]
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer(), clock=lambda: now[0])
    w = World(ws, ledger, EmbeddedLog.of(ledger), now)
    _seed(w)
    yield w
    ledger.close()


def _seed(w: World) -> None:
    rng = random.Random(7)
    for month in MONTHS[1:]:
        w.now[0] = dt.datetime.fromisoformat(f"{month}-15T12:00:00+00:00")
        for org in ORGS:
            grants, deliveries, referrals = [], [], []
            for programme in PROGRAMMES:
                for location, modality in PLACES:
                    for _ in range(rng.choice((0, 1, 3, 9, 12, 15, 20, 25))):
                        g = ev.entitlement_granted(
                            ev.pid(),
                            programme=programme,
                            modality=modality,
                            location=location,
                            **YEAR,
                        )
                        grants.append(g)
                        deliveries.append(
                            ev.delivery(g["entitlement_id"], "10", date=f"{month}-15")
                        )
            for sector in SECTORS:
                for _ in range(rng.choice((0, 1, 2, 3))):
                    to = "AGENCY-C" if org == "AGENCY-B" else "AGENCY-B"
                    referrals.append(ev.referral_created(ev.pid(), to, sector=sector))
            for batch in (grants, deliveries, referrals):
                w.submit(org, batch)
    w.now[0] = CLOSED
    w.submit("AGENCY-A", [ev.entitlement_granted(ev.pid(), **YEAR)])
    w.closed = w.ledger.size()


def _figures(report: dict[str, Any], people: bool = False) -> dict[Key, int | None]:
    """Every additive figure of a report by key (None: suppressed); with ``people``,
    the people counts of the same cells (what must not be recovered below k)."""
    out: dict[Key, int | None] = {}
    reached = "people" if people else "deliveries"
    for table, measure in (("reached", reached), ("referrals", "referrals")):
        t = report["tables"][table]
        m = t[measure]
        for i, r in enumerate(t["rows"]):
            for j, c in enumerate(t["columns"]):
                out[(table, r, c)] = m["cells"][i][j]
            out[(table, r, "*")] = m["row_totals"][i]
        for j, c in enumerate(t["columns"]):
            out[(table, "*", c)] = m["column_totals"][j]
        out[(table, "*", "*")] = m["total"]
    out[("entitlements_granted",)] = report["summary"]["entitlements_granted"]
    return out


def _slices() -> Iterator[Slice]:
    for month in MONTHS:  # the closed months: no donor period spans months
        for org in (None, *ORGS):
            for programme in (None, *PROGRAMMES):
                yield month, org, programme


def _relations(published: dict[Slice, dict[Key, int | None]]) -> Iterator[list[tuple[Var, int]]]:
    """Linear relations (coefficients summing to zero) the donor knows hold."""
    for s, figures in published.items():
        for table in ("reached", "referrals"):
            keys = [k for k in figures if k[0] == table]
            rows = sorted({k[1] for k in keys} - {"*"}, key=str)
            cols = sorted({k[2] for k in keys} - {"*"}, key=str)
            for r in [*rows, "*"]:
                yield [((s, (table, r, c)), 1) for c in cols] + [((s, (table, r, "*")), -1)]
            for c in [*cols, "*"]:
                yield [((s, (table, r, c)), 1) for r in rows] + [((s, (table, "*", c)), -1)]
    for dim in range(3):
        groups: dict[Slice, list[Slice]] = defaultdict(list)
        for s in published:
            if s[dim] is not None:
                groups[(*s[:dim], None, *s[dim + 1 :])].append(s)  # type: ignore[arg-type]
        for total, parts in groups.items():
            if total not in published:
                continue
            keys = set(published[total]).union(*(published[p] for p in parts))
            for key in keys:
                if dim == 2 and key[0] == "referrals":
                    continue  # a programme does not filter referrals: each part equals the total
                yield [((p, key), 1) for p in parts] + [((total, key), -1)]
    for s in published:  # referrals in a programme's slice are the programme-wide ones
        if s[2] is not None:
            for key in published[s]:
                if key[0] == "referrals":
                    yield [((s, key), 1), (((s[0], s[1], None), key), -1)]


def _determined(published: dict[Slice, dict[Key, int | None]]) -> set[Var]:
    """The suppressed figures that the published ones pin down (row reduction)."""
    pivots: dict[Var, dict[Var, int]] = {}
    for relation in _relations(published):
        row: dict[Var, int] = defaultdict(int)
        for (s, key), coeff in relation:
            if published[s].get(key, 0) is None:
                row[(s, key)] = (row[(s, key)] + coeff) % PRIME
        row = {v: c for v, c in row.items() if c}
        while row:
            pivot = next((v for v in row if v in pivots), None)
            if pivot is None:
                lead = min(row, key=repr)
                inverse = pow(row[lead], PRIME - 2, PRIME)
                pivots[lead] = {v: c * inverse % PRIME for v, c in row.items()}
                break
            factor = row[pivot]
            for v, c in pivots[pivot].items():
                row[v] = (row.get(v, 0) - factor * c) % PRIME
            row = {v: c for v, c in row.items() if c}
    changed = True
    while changed:  # back-substitute until every pivot row holds no other pivot
        changed = False
        for lead, row in pivots.items():
            for v in [v for v in row if v != lead and v in pivots]:
                factor = row.pop(v)
                for w, c in pivots[v].items():
                    if w != v:
                        row[w] = (row.get(w, 0) - factor * c) % PRIME
                pivots[lead] = {w: c for w, c in row.items() if c}
                changed = True
                break
    return {lead for lead, row in pivots.items() if len(row) == 1}


def _reports(
    log: EmbeddedLog, size: int, lattice: bool = True, k: int = K
) -> dict[Slice, dict[str, Any]]:
    """Every report of the lattice at the anchor of ``size``, suppressed with each
    month's lattice or one by one."""
    anchor = log.anchor(size)
    records: list[Record] = list(log.records(anchor))
    cubes = {m: build_cube(records, k, m) for m in MONTHS} if lattice else {}
    out = {}
    for s in _slices():
        q = ReportQuery(s[1], s[2], *month_bounds(s[0]), k=k, on_lattice=lattice)
        cube = cubes.get(str(s[0]))
        counted = records if lattice else closing_records(records, str(s[0]))
        out[s] = compute_report(counted, anchor=anchor.summary, query=q, cube=cube)
    return out


def _union(*answers: dict[Slice, dict[str, Any]]) -> dict[Slice, dict[Key, int | None]]:
    """What a donor knows from several answers for the same slices: each figure any of
    them published."""
    out: dict[Slice, dict[Key, int | None]] = {}
    for answer in answers:
        for s, report in answer.items():
            held = out.setdefault(s, {})
            for key, value in _figures(report).items():
                if held.get(key) is None:
                    held[key] = value
    return out


def _recovered(
    log: EmbeddedLog,
    size: int,
    published: dict[Slice, dict[Key, int | None]],
    *,
    whole: bool = False,
) -> list[tuple[Var, int]]:
    """The counts below k (of the records each month's release counts) pinned down by
    linear algebra, or with ``whole`` by an integer programme."""
    anchor = log.anchor(size)
    records = list(log.records(anchor))
    truth: dict[Slice, dict[Key, int | None]] = {}
    for s in published:
        plain = ReportQuery(s[1], s[2], *month_bounds(s[0]), k=1)
        counted = closing_records(records, str(s[0]))
        report = compute_report(counted, anchor=anchor.summary, query=plain)
        truth[s] = _figures(report, people=True)
    small = {(s, key) for s, held in truth.items() for key, v in held.items() if 0 < (v or 0) < K}
    if whole:  # month by month: no relation spans months
        found = set()
        for month in MONTHS:
            mine = {s: held for s, held in published.items() if s[0] == month}
            relations = list(_relations(mine))
            known = {(s, key): v for s, held in mine.items() for key, v in held.items()}
            shown = {var: v for var, v in known.items() if v is not None}
            # a figure a slice does not hold counts 0, as in the linear algebra above
            absent = {var for r in relations for var, _ in r if var not in known}
            found |= single_whole_values(relations, shown | dict.fromkeys(absent, 0), small)
    else:
        found = _determined(published) & small
    return sorted((((s, key), truth[s][key] or 0) for s, key in found), key=repr)


def test_no_count_below_k_is_recovered_from_every_donor_report(world: World) -> None:
    every = _reports(world.log, world.closed)
    values = [v for r in every.values() for v in _figures(r).values()]
    assert values.count(None) > 0  # some figures are hidden
    # ... not all: each month's consortium totals are published, and one non-zero figure
    # for every three hidden (most counts here are below k: every referral count, and a
    # count below k is hidden until it could be k or more)
    assert every[(MONTHS[2], None, None)]["summary"]["people_assisted"] is not None
    assert sum(1 for v in values if v) > values.count(None) / 3
    assert _recovered(world.log, world.closed, _union(every)) == []


def test_no_count_below_k_is_recovered_by_an_integer_programme(world: World) -> None:
    """Counts are whole and never negative: with that, the relations can pin a count
    that linear algebra leaves open."""
    every = _union(_reports(world.log, world.closed))
    assert _recovered(world.log, world.closed, every, whole=True) == []


def test_the_same_attack_breaks_reports_suppressed_one_by_one(world: World) -> None:
    one_by_one = _reports(world.log, world.closed, lattice=False)
    assert _recovered(world.log, world.closed, _union(one_by_one))


def test_a_closed_month_reads_the_same_at_every_later_checkpoint(world: World) -> None:
    before = _reports(world.log, world.closed)
    # later: the open month's events, and one delivery backdated into a closed month
    world.now[0] = CLOSED + dt.timedelta(days=1)
    newer = [ev.entitlement_granted(ev.pid(), **YEAR) for _ in range(7)]
    world.submit("AGENCY-B", newer)
    day = world.now[0].date().isoformat()
    world.submit("AGENCY-B", [ev.delivery(g["entitlement_id"], "10", date=day) for g in newer])
    world.now[0] = dt.datetime.fromisoformat(f"{MONTHS[2]}-15T12:00:00+00:00")
    late = ev.entitlement_granted(ev.pid(), modality="cash", location="LB11", **YEAR)
    world.submit("AGENCY-A", [late])
    backdated = ev.delivery(late["entitlement_id"], "10", date=f"{MONTHS[2]}-15")
    world.submit("AGENCY-A", [backdated])
    world.now[0] = CLOSED + dt.timedelta(days=2)
    world.submit("AGENCY-C", [ev.entitlement_granted(ev.pid(), **YEAR)])
    after = _reports(world.log, world.ledger.size())
    assert world.ledger.size() > world.closed
    for s, report in before.items():
        assert _figures(after[s]) == _figures(report), s
        assert after[s]["summary"] == report["summary"]
    assert _recovered(world.log, world.ledger.size(), _union(before, after)) == []
    # ... while the month's figures, counted on everything logged, did change
    plain = ReportQuery("AGENCY-A", None, *month_bounds(MONTHS[2]), k=1)
    moved = [
        compute_report(world.log.records(a), anchor=a.summary, query=plain)["summary"]
        for a in (world.log.anchor(world.closed), world.log.anchor())
    ]
    assert moved[1]["deliveries"] == moved[0]["deliveries"] + 1
    anchor = world.log.anchor()
    open_month = ReportQuery(None, None, *month_bounds(OPEN), k=K, on_lattice=True)
    with pytest.raises(PeriodNotClosedError):  # still open
        compute_report(world.log.records(anchor), anchor=anchor.summary, query=open_month)


def test_a_lattice_report_verifies_by_recomputing_the_lattice(world: World) -> None:
    ws, log = world.ws, world.log
    report = _reports(log, world.closed)[(MONTHS[2], "AGENCY-C", "HEALTH-ACCESS")]
    assert report["query"]["on_lattice"] is True
    signed = sign_report(report, ws.signer("DONOR-Y"))
    assert verify_report(signed, ws.consortium, log) == "DONOR-Y"
    unsigned = {k: v for k, v in report.items() if k != "signature"}
    relaxed = {**unsigned, "query": {**report["query"], "on_lattice": False}}
    with pytest.raises(ReportError, match="differ"):  # suppressed alone, figures differ
        verify_report(sign_report(relaxed, ws.signer("DONOR-Y")), ws.consortium, log)


@pytest.fixture(scope="module")
def crossed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One month of figures that relate otherwise than a table's margins: AGENCY-A
    assists 3 people, each with cash and a voucher (its table counts 6 in its cells);
    B 10 with cash and 10 others with vouchers there, C 10 elsewhere; of 30 health
    referrals from A, B accepted 24 and completed 21."""
    ws = Workspace.create(tmp_path_factory.mktemp("crossed") / "ws", DEMO)
    now = [dt.datetime.fromisoformat(f"{MONTHS[1]}-15T12:00:00+00:00")]
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer(), clock=lambda: now[0])
    w = World(ws, ledger, EmbeddedLog.of(ledger), now)
    day = f"{MONTHS[1]}-15"
    for org, people, modalities, location in (
        ("AGENCY-A", 3, ("cash", "voucher"), "LB11"),
        ("AGENCY-B", 10, ("cash",), "LB11"),
        ("AGENCY-B", 10, ("voucher",), "LB11"),
        ("AGENCY-C", 10, ("cash",), "LB21"),
    ):
        grants = [
            ev.entitlement_granted(person, modality=m, location=location, **YEAR)
            for person in (ev.pid() for _ in range(people))
            for m in modalities
        ]
        w.submit(org, grants)
        w.submit(org, [ev.delivery(g["entitlement_id"], "10", date=day) for g in grants])
    referrals = [ev.referral_created(ev.pid(), "AGENCY-B", sector="health") for _ in range(30)]
    w.submit("AGENCY-A", referrals)
    w.submit("AGENCY-B", [ev.referral_step("accepted", r["referral_id"]) for r in referrals[:24]])
    w.submit("AGENCY-B", [ev.referral_step("completed", r["referral_id"]) for r in referrals[:21]])
    now[0] = CLOSED
    w.submit("AGENCY-A", [ev.entitlement_granted(ev.pid(), **YEAR)])
    w.closed = ledger.size()
    yield w
    ledger.close()


def _donor_report(w: World, org: str | None) -> dict[str, Any]:
    anchor = w.log.anchor(w.closed)
    records = list(w.log.records(anchor))
    q = ReportQuery(org, None, *month_bounds(MONTHS[1]), k=K, on_lattice=True)
    cube = build_cube(records, K, MONTHS[1])
    return compute_report(records, anchor=anchor.summary, query=q, cube=cube)


def test_people_assisted_is_not_the_difference_of_the_other_organisations(
    crossed: World,
) -> None:
    """A's 3 people, hidden in its own report, must not be all's less B's and C's."""
    people = {org: _donor_report(crossed, org)["summary"]["people_assisted"] for org in ORGS}
    everyone = _donor_report(crossed, None)["summary"]["people_assisted"]
    assert people["AGENCY-A"] is None
    assert None in (everyone, people["AGENCY-B"], people["AGENCY-C"])


def test_the_accepted_column_is_not_those_accepted_less_those_completed(crossed: World) -> None:
    """3 referrals still accepted: hidden in the table, and not 24 accepted − 21 completed."""
    report = _donor_report(crossed, "AGENCY-A")
    table = report["tables"]["referrals"]["referrals"]
    columns = report["tables"]["referrals"]["columns"]
    assert table["column_totals"][columns.index("accepted")] is None
    completed = table["column_totals"][columns.index("completed")]
    assert None in (report["summary"]["referrals_accepted"], completed)
