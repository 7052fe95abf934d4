"""What a donor infers beyond the equations from every report she may ask for in a month.

Two inferences on a real ledger, each on a month of its own:

- Suppression hides a zero only as a last resort, so she takes every hidden count to be
  at least 1. AGENCY-A reaches 1, 20 and 1 people in LB11 (cash, in kind, voucher): a
  release publishing the row total (22) and the 20 leaves the two hidden cells 1 each.
  With that assumption, her integer programme must find every hidden count below k free
  to be k or more (else she knows it is small).
- Counts of distinct people do not add up: one person served by two organisations counts
  once in all's figures, and a person reached in two cells once in the people assisted.
  The shortfall is a count of people, published in no other figure when below k.

Events are logged on the ledger's own (test) clock, and the month closed by a later
record, as in tests/integration/test_report_differencing.py. Each slice is computed by
the replay ``report verify`` runs; the gateway's running totals publish the very same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.reports.accountability import (
    ReportQuery,
    build_cube,
    compute_report,
    month_bounds,
    report_of,
)
from ledger_gw.reports.aggregates import Aggregates
from ledger_gw.reports.release import DONOR_K, closing_records
from ledger_gw.workspace import Workspace
from tests.integration.test_report_differencing import (
    CLOSED,
    MONTHS,
    YEAR,
    Key,
    Slice,
    Var,
    World,
    _figures,
    _relations,
)
from tests.support import events as ev
from tests.support.whole_numbers import whole_ranges

K = DONOR_K
MONTH = MONTHS[1]
DAY = f"{MONTH}-15"


def _world(tmp_path_factory: pytest.TempPathFactory, name: str) -> World:
    ws = Workspace.create(tmp_path_factory.mktemp(name) / "ws", DEMO)
    now = [dt.datetime.fromisoformat(f"{DAY}T12:00:00+00:00")]
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer(), clock=lambda: now[0])
    return World(ws, ledger, EmbeddedLog.of(ledger), now)


def _deliver(w: World, org: str, grants: list[dict[str, Any]]) -> None:
    w.submit(org, grants)
    w.submit(org, [ev.delivery(g["entitlement_id"], "10", date=DAY) for g in grants])


def _close(w: World) -> None:
    w.now[0] = CLOSED
    w.submit("AGENCY-A", [ev.entitlement_granted(ev.pid(), **YEAR)])
    w.closed = w.ledger.size()


def _releases(
    w: World, orgs: tuple[str, ...], programmes: tuple[str, ...]
) -> dict[Slice, dict[str, Any]]:
    """Every slice's donor release, as the replay computes it and the gateway alike."""
    anchor = w.log.anchor(w.closed)
    records = list(w.log.records(anchor))
    cube = build_cube(records, K, MONTH)
    folded = Aggregates()
    folded.add(records)
    running = folded.cube(MONTH, K)
    out = {}
    for org in (None, *orgs):
        for programme in (None, *programmes):
            q = ReportQuery(org, programme, *month_bounds(MONTH), k=K, on_lattice=True)
            out[(MONTH, org, programme)] = report = compute_report(
                records, anchor=anchor.summary, query=q, cube=cube
            )
            tally = folded.monthly.tally(q, running)
            kept = report_of(tally, anchor=anchor.summary, query=q, cube=running)
            assert kept == report, (org, programme)
    return out


@pytest.fixture(scope="module")
def pinned_row(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """AGENCY-A, MPCA-2026: LB11 reaches 1 with cash, 20 in kind, 1 with a voucher; LB21
    6, 20 and 7."""
    w = _world(tmp_path_factory, "pinned-row")
    cells = {("LB11", "cash"): 1, ("LB11", "in_kind"): 20, ("LB11", "voucher"): 1}
    cells |= {("LB21", "cash"): 6, ("LB21", "in_kind"): 20, ("LB21", "voucher"): 7}
    grants = [
        ev.entitlement_granted(ev.pid(), modality=modality, location=location, **YEAR)
        for (location, modality), n in cells.items()
        for _ in range(n)
    ]
    _deliver(w, "AGENCY-A", grants)
    _close(w)
    yield w
    w.ledger.close()


def test_no_hidden_count_is_known_to_be_small(pinned_row: World) -> None:
    w = pinned_row
    releases = _releases(w, ("AGENCY-A",), ("MPCA-2026",))
    published = {s: _figures(r, people=True) for s, r in releases.items()}
    anchor = w.log.anchor(w.closed)
    counted = closing_records(list(w.log.records(anchor)), MONTH)
    truth: dict[Var, int] = {}
    for s in published:
        plain = ReportQuery(s[1], s[2], *month_bounds(MONTH), k=1)
        report = compute_report(counted, anchor=anchor.summary, query=plain)
        truth |= {(s, key): v or 0 for key, v in _figures(report, people=True).items()}
    hidden = [var for var in truth if published[var[0]][var[1]] is None]
    small = [var for var in hidden if 0 < truth[var] < K]
    assert small  # the cells of 1 are hidden, in A's slices and all's
    relations = list(_relations(published))
    known = {var: v for var, v in truth.items() if var not in hidden}
    # a figure no report shows (no such row or column in the slice) is 0
    known |= {var: 0 for r in relations for var, _ in r if var not in truth}
    ranges = whole_ranges(relations, known, small, {var: 1 for var in hidden if truth[var]})
    assert {var: r for var, r in ranges.items() if r[1] < K} == {}
    table = releases[(MONTH, "AGENCY-A", None)]["tables"]["reached"]  # not hidden whole
    assert table["people"]["column_totals"][table["columns"].index("in_kind")] == 40


@pytest.fixture(scope="module")
def overlap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """All in LB11, with cash (MPCA-2026): AGENCY-A 10 people, AGENCY-B 10, one of them
    one of A's, AGENCY-C 10; C also gives 5 a food voucher (HEALTH-ACCESS), one of them
    one of its cash people."""
    w = _world(tmp_path_factory, "overlap")
    shared = ev.pid()
    for org, people in (
        ("AGENCY-A", [shared, *(ev.pid() for _ in range(9))]),
        ("AGENCY-B", [shared, *(ev.pid() for _ in range(9))]),
        ("AGENCY-C", [ev.pid() for _ in range(10)]),
    ):
        grants = [ev.entitlement_granted(p, location="LB11", **YEAR) for p in people]
        if org == "AGENCY-C":
            grants += [
                ev.entitlement_granted(
                    p,
                    programme="HEALTH-ACCESS",
                    assistance_type="food",
                    modality="voucher",
                    location="LB11",
                    **YEAR,
                )
                for p in [people[0], *(ev.pid() for _ in range(4))]
            ]
        _deliver(w, org, grants)
    _close(w)
    yield w
    w.ledger.close()


def test_people_counted_twice_are_not_published_as_a_shortfall(overlap: World) -> None:
    """No relation a donor knows between people figures, all of them published, falls
    short by 1 to k-1: neither A's, B's and C's people against all's, nor C's table total
    against its people assisted, nor any cell along the organisations or programmes."""
    orgs, programmes = ("AGENCY-A", "AGENCY-B", "AGENCY-C"), ("HEALTH-ACCESS", "MPCA-2026")
    releases = _releases(overlap, orgs, programmes)
    assisted: Key = ("people_assisted",)
    published = {
        s: {**_figures(r, people=True), assisted: r["summary"]["people_assisted"]}
        for s, r in releases.items()
    }
    relations = list(_relations(published))  # the people assisted along both dimensions too
    relations += [[((s, ("reached", "*", "*")), 1), ((s, assisted), -1)] for s in published]
    published_whole = 0
    for relation in relations:
        values = [published[s].get(key, 0) for (s, key), _ in relation]
        if None not in values:
            published_whole += 1
            short = sum(v * c for v, (_, c) in zip(values, relation, strict=True))
            assert not 0 < short < K, relation
    assert published_whole
    people = {s[1:]: held[assisted] for s, held in published.items()}
    # 10 + 10 + 14 - 33: one person served by two organisations
    assert None in (*(people[(org, None)] for org in orgs), people[(None, None)])
    # 15 - 14: one of C's people given cash and a voucher
    c = releases[(MONTH, "AGENCY-C", None)]["tables"]["reached"]["people"]["total"]
    assert None in (c, people[("AGENCY-C", None)])
    assert releases[(MONTH, None, None)]["summary"]["entitlements_granted"] == 35
