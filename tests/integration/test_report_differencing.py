"""A donor plays the differencing attack: it asks for every report it may ask for and
tries to recover a count below k from the published figures by linear algebra over
every additive relation between them (parts of a table add up to its margins; months
add up to all time, organisations to all, programmes to all). It must fail; the same
attack on reports suppressed one at a time succeeds, so the attack is a real one."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Hashable, Iterator
from typing import Any

import pytest

from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.interfaces import Record
from ledger_gw.reports.accountability import (
    ReportError,
    ReportQuery,
    build_cube,
    compute_report,
    month_bounds,
)
from ledger_gw.reports.signing import sign_report, verify_report
from ledger_gw.workspace import Workspace
from tests.support import events as ev

K = 5
MONTHS = ("2026-08", "2026-09", "2026-10", "2026-11")  # August stays empty
ORGS = ("AGENCY-A", "AGENCY-B", "AGENCY-C")
PROGRAMMES = ("MPCA-2026", "HEALTH-ACCESS", "WASH-2026")
PLACES = (("LB11", "cash"), ("LB11", "voucher"), ("LB21", "cash"), ("LB81", "cash"))
SECTORS = ("health", "shelter", "legal_aid")
PRIME = (1 << 61) - 1

Slice = tuple[str | None, str | None, str | None]
Key = tuple[Hashable, ...]
Var = tuple[Slice, Key]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, EmbeddedLog]]:
    ws = Workspace.create(tmp_path_factory.mktemp("differencing") / "ws", DEMO)
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer())
    _seed(ws, ledger)
    yield ws, EmbeddedLog.of(ledger)
    ledger.close()


def _seed(ws: Workspace, ledger: EmbeddedLedger) -> None:
    rng = random.Random(7)
    for org in ORGS:
        grants, deliveries, referrals = [], [], []
        for programme in PROGRAMMES:
            for location, modality in PLACES:
                for month in MONTHS[1:]:
                    n = rng.choice((0, 1, 3, 9, 12, 15, 20, 25))
                    for _ in range(n):
                        g = ev.entitlement_granted(
                            ev.pid(), programme=programme, modality=modality, location=location
                        )
                        grants.append(g)
                        deliveries.append(
                            ev.delivery(g["entitlement_id"], "10", date=f"{month}-15")
                        )
        for sector in SECTORS:
            for _ in range(rng.choice((1, 2, 7, 9))):
                to = "AGENCY-C" if org == "AGENCY-B" else "AGENCY-B"
                referrals.append(ev.referral_created(ev.pid(), to, sector=sector))
        client = OrgClient(ledger, ws.signer(org))
        for batch in (grants, deliveries, referrals):
            assert [o.error for o in client.submit_many(batch) if o.error][:1] == []


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
    recorded = dt.datetime.now(dt.UTC).strftime("%Y-%m")  # grants and referrals are dated now
    for month in (None, *sorted({*MONTHS, recorded})):
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


def _reports(log: EmbeddedLog, lattice: bool) -> dict[Slice, dict[str, Any]]:
    """Every report of the lattice at the latest anchor, suppressed with the lattice
    or one by one."""
    anchor = log.anchor()
    records: list[Record] = list(log.records(anchor))
    cube = build_cube(records, K) if lattice else None
    out = {}
    for s in _slices():
        q = ReportQuery(s[1], s[2], *month_bounds(s[0]), k=K, on_lattice=lattice)
        out[s] = compute_report(records, anchor=anchor.summary, query=q, cube=cube)
    return out


def _attack(log: EmbeddedLog, lattice: bool) -> list[tuple[Var, int]]:
    """The small counts a donor holding every report of the lattice recovers."""
    published = {s: _figures(r) for s, r in _reports(log, lattice).items()}
    anchor = log.anchor()
    records = list(log.records(anchor))
    truth: dict[Slice, dict[Key, int | None]] = {}
    for s in published:
        plain = ReportQuery(s[1], s[2], *month_bounds(s[0]), k=1)
        report = compute_report(records, anchor=anchor.summary, query=plain)
        truth[s] = _figures(report, people=True)
    return [
        ((s, key), value)
        for s, key in _determined(published)
        if 0 < (value := truth[s].get(key) or 0) < K
    ]


def test_no_count_below_k_is_recovered_from_every_donor_report(
    world: tuple[Workspace, EmbeddedLog],
) -> None:
    _, log = world
    every = _reports(log, lattice=True)
    values = [v for r in every.values() for v in _figures(r).values()]
    assert values.count(None) > 0  # some figures are hidden
    # ... not all: the whole consortium's totals and a third of the others are published
    assert every[(None, None, None)]["summary"]["people_assisted"] is not None
    assert sum(1 for v in values if v) > values.count(None) / 2
    assert _attack(log, lattice=True) == []


def test_the_same_attack_breaks_reports_suppressed_one_by_one(
    world: tuple[Workspace, EmbeddedLog],
) -> None:
    _, log = world
    assert _attack(log, lattice=False)


def test_a_lattice_report_verifies_by_recomputing_the_lattice(
    world: tuple[Workspace, EmbeddedLog],
) -> None:
    ws, log = world
    report = _reports(log, lattice=True)[("2026-10", "AGENCY-C", "HEALTH-ACCESS")]
    assert report["query"]["on_lattice"] is True
    signed = sign_report(report, ws.signer("DONOR-Y"))
    assert verify_report(signed, ws.consortium, log) == "DONOR-Y"
    unsigned = {k: v for k, v in report.items() if k != "signature"}
    relaxed = {**unsigned, "query": {**report["query"], "on_lattice": False}}
    with pytest.raises(ReportError, match="differ"):  # suppressed alone, figures differ
        verify_report(sign_report(relaxed, ws.signer("DONOR-Y")), ws.consortium, log)
