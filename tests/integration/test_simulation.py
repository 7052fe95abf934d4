"""Runs of the contract made ahead of the appender are taken only while they still hold.

A serving process runs the contract on its snapshot; the appender keeps that run only
if nothing it read was written since, and runs the contract again otherwise. Either
way, the log must be what running every transaction in log order makes: the replay
of `verify` checks exactly that.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from chaincode.canonical import canonical_json
from chaincode.store import entitlement_key, open_entitlements_key, receipt_key
from chaincode.stub import Identity
from ledger_gw.client import OrgClient
from ledger_gw.embedded import simulation
from ledger_gw.embedded.ledger import EmbeddedLedger, Verdict
from ledger_gw.embedded.packing import unpack
from ledger_gw.embedded.schema import log, state
from ledger_gw.embedded.simulation import RecentWrites, RecordingStub, Simulation
from ledger_gw.embedded.stub import StateView
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.ledgers import MakeLedger, Verify


def _admitted(ledger: EmbeddedLedger, client: OrgClient, events: list[dict]) -> list[Verdict]:  # type: ignore[type-arg]
    verdicts = [ledger._admit(client.sign("submit", e)) for e in events]
    assert not any(v.decided for v in verdicts)
    return verdicts


def _simulate(ledger: EmbeddedLedger, verdicts: list[Verdict]) -> None:
    ledger._simulate(verdicts)
    assert all(v.simulation is not None for v in verdicts)


Started = tuple[EmbeddedLedger, OrgClient]


@pytest.fixture
def started(make_ledger: MakeLedger, workspace: Workspace) -> Started:
    """A ledger with one entry, and AGENCY-A's client on it."""
    ledger = make_ledger()
    agency = OrgClient(ledger, workspace.signer("AGENCY-A"))
    agency.submit(ev.entitlement_granted(ev.pid()))
    return ledger, agency


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The IDs of the transactions the contract was run on, in order."""
    runs: list[str] = []
    real = simulation.execute

    def counting(stub, tx):  # type: ignore[no-untyped-def]
        runs.append(tx.tx_id)
        return real(stub, tx)

    monkeypatch.setattr(simulation, "execute", counting)
    from ledger_gw.embedded import ledger as module

    monkeypatch.setattr(module, "execute", counting)
    return runs


def test_a_run_that_still_holds_is_taken_as_it_is(
    started: Started, verify: Verify, ledger_url: str,
    counted: list[str],
) -> None:  # fmt: skip
    ledger, agency = started
    verdicts = _admitted(ledger, agency, [ev.entitlement_granted(ev.pid()) for _ in range(3)])
    _simulate(ledger, verdicts)
    counted.clear()
    ledger.append_admitted(verdicts)
    assert counted == []  # taken as they were run
    assert [v.position for v in verdicts] == [1, 2, 3]
    assert [v.result for v in verdicts] == [v.simulation.result for v in verdicts]  # type: ignore[union-attr]
    assert verify(ledger_url).size == 4


def test_a_run_that_holds_is_logged_as_it_prepared_its_entry(
    started: Started, verify: Verify, ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger, agency = started
    verdicts = _admitted(ledger, agency, [ev.entitlement_granted(ev.pid()) for _ in range(3)])
    _simulate(ledger, verdicts)
    prepared = [v.simulation.prepared for v in verdicts]  # type: ignore[union-attr]
    assert all(p is not None for p in prepared)
    made: list[str] = []
    real = simulation.Execution.logged

    def counting(run, tx):  # type: ignore[no-untyped-def]
        made.append(tx.tx_id)
        return real(run, tx)

    monkeypatch.setattr(simulation.Execution, "logged", counting)
    ledger.append_admitted(verdicts)
    assert made == []  # the writer made no entry of its own
    with ledger.engine.connect() as conn:
        logged = conn.execute(select(log.c.entry).where(log.c.seq > 0).order_by(log.c.seq))
        assert [unpack(bytes(e)) for (e,) in logged] == [p.entry for p in prepared]  # type: ignore[union-attr]
    assert verify(ledger_url).size == 4  # the same entries as running each in turn makes


def _duplicates_of(verdict: Verdict) -> list[str]:
    assert verdict.result is not None
    return list(json.loads(verdict.result)["possible_duplicate_of"])


def test_a_run_made_stale_by_a_later_write_is_run_again(
    started: Started, verify: Verify, ledger_url: str,
    counted: list[str],
) -> None:  # fmt: skip
    ledger, agency = started
    person = ev.pid()
    # Run on a snapshot where `person` has no entitlement, the second grant overlaps
    # nothing. Then the first grant is appended: run again, the second must name it as
    # a possible duplicate (the deduplication this ledger exists for).
    first, second = ev.entitlement_granted(person), ev.entitlement_granted(person)
    [late] = _admitted(ledger, agency, [second])
    _simulate(ledger, [late])
    assert late.simulation is not None
    assert late.simulation.result is not None
    assert json.loads(late.simulation.result)["possible_duplicate_of"] == []
    agency.submit(first)
    counted.clear()
    ledger.append_admitted([late])
    assert counted == [late.tx.tx_id]  # run again
    assert _duplicates_of(late) == [first["entitlement_id"]]
    assert verify(ledger_url).size == 3


def test_writes_earlier_in_the_same_batch_also_make_a_run_stale(
    started: Started, verify: Verify, ledger_url: str,
    counted: list[str],
) -> None:  # fmt: skip
    ledger, agency = started
    person = ev.pid()
    grants = [ev.entitlement_granted(person) for _ in range(2)]
    verdicts = _admitted(ledger, agency, grants)
    _simulate(ledger, verdicts)  # each on the snapshot: neither sees the other
    counted.clear()
    ledger.append_admitted(verdicts)
    assert counted == [verdicts[1].tx.tx_id]
    assert [v.position for v in verdicts] == [1, 2]
    assert _duplicates_of(verdicts[0]) == []
    assert _duplicates_of(verdicts[1]) == [grants[0]["entitlement_id"]]
    assert verify(ledger_url).size == 3


def test_another_process_appending_makes_every_earlier_run_stale(
    make_ledger: MakeLedger, workspace: Workspace, verify: Verify, ledger_url: str,
    counted: list[str],
) -> None:  # fmt: skip
    ledger, other = make_ledger(), make_ledger()
    agency = OrgClient(ledger, workspace.signer("AGENCY-A"))
    agency.submit(ev.entitlement_granted(ev.pid()))
    person = ev.pid()
    first, second = ev.entitlement_granted(person), ev.entitlement_granted(person)
    [late] = _admitted(ledger, agency, [second])
    _simulate(ledger, [late])
    OrgClient(other, workspace.signer("AGENCY-B")).submit(first)  # unseen by `ledger`
    counted.clear()
    ledger.append_admitted([late])
    assert counted == [late.tx.tx_id]
    assert late.position == 2
    assert _duplicates_of(late) == [first["entitlement_id"]]
    assert verify(ledger_url).size == 3


def test_recent_writes_cover_prefixes_and_forget_whole_generations() -> None:
    recent = RecentWrites(keep=2)
    recent.reset(10)
    key = b"\x00person\x00P1\x00entitlement\x00food\x00E1\x00"
    recent.record(10, [key])

    def holds(snapshot: int, reads: list[bytes] = [], scans: list[bytes] = []) -> bool:  # noqa: B006
        return recent.unchanged_since(Simulation(snapshot=snapshot, reads=reads, scans=scans))

    assert not holds(10, reads=[key])
    assert holds(11, reads=[key])
    assert not holds(10, scans=[b"\x00person\x00P1\x00entitlement\x00"])
    assert not holds(10, scans=[b"\x00person\x00P1\x00entitlement\x00food\x00"])
    assert holds(10, scans=[b"\x00person\x00P2\x00entitlement\x00"])
    assert not holds(9)  # before anything this process knows
    recent.record(12, [b"\x00person\x00P3\x00event\x00"])  # a new generation from 12
    recent.record(14, [b"\x00person\x00P4\x00event\x00"])  # and another: the one from 10 is gone
    assert recent.floor == 12
    assert not holds(11)
    assert holds(12, reads=[key])


def test_values_quote_their_entry_rather_than_copy_it(
    make_ledger: MakeLedger, workspace: Workspace
) -> None:
    ledger = make_ledger()
    event = ev.entitlement_granted(ev.pid())
    OrgClient(ledger, workspace.signer("AGENCY-A")).submit(event)
    arg = canonical_json(event)
    with ledger.reader() as conn:
        (entry,) = conn.execute(select(log.c.entry)).scalars()
        rows = conn.execute(select(state)).all()
        view = StateView(conn)
        read = {bytes(r.key): view.get(bytes(r.key)) for r in rows}
    quoting = [r for r in rows if r.quote_at is not None]
    assert quoting
    assert any(r.quote_at is None for r in rows)  # small ones hold no part of it
    stored = {bytes(r.key): unpack(bytes(r.value)) for r in rows}  # as written, inflated
    for r in quoting:
        value, kept = read[bytes(r.key)], stored[bytes(r.key)]
        assert value is not None
        part = unpack(bytes(entry))[r.quote_from : r.quote_from + r.quote_len]
        assert part not in kept
        assert value == kept[: r.quote_at] + part + kept[r.quote_at :]
    assert any(arg in value for value in read.values() if value is not None)
    assert not any(arg in kept for kept in stored.values())  # the event is in its entry only


def test_the_recording_stub_notes_every_read(make_ledger: MakeLedger, workspace: Workspace) -> None:
    ledger = make_ledger()
    agency = OrgClient(ledger, workspace.signer("AGENCY-A"))
    grant = ev.entitlement_granted(ev.pid())
    [verdict] = _admitted(ledger, agency, [grant])
    _simulate(ledger, [verdict])
    sim = verdict.simulation
    assert sim is not None
    assert receipt_key(grant["event_id"], "AGENCY-A").encode() in sim.reads
    assert entitlement_key(grant["entitlement_id"]).encode() in sim.reads  # not in use
    assert open_entitlements_key(grant["pid"], "cash").encode() in sim.reads  # her index
    assert sim.scans == []  # a grant reads keys only
    agency.submit(ev.entitlement_granted(grant["pid"]))  # her keys, committed
    with ledger.reader() as conn:
        stub = RecordingStub(
            StateView(conn), Identity("AGENCY-A", "agency"), "t", datetime.now(UTC)
        )
        assert list(stub.get_state_by_partial_composite_key("person", [grant["pid"]]))
    assert stub.scans == [f"\x00person\x00{grant['pid']}\x00".encode()]


def test_a_run_claiming_a_snapshot_the_log_has_not_reached_is_run_again(
    started: Started, counted: list[str]
) -> None:
    ledger, agency = started
    [verdict] = _admitted(ledger, agency, [ev.entitlement_granted(ev.pid())])
    verdict.simulation = Simulation(result=b'{"forged":true}', writes={b"k": b"{}"}, snapshot=99)
    counted.clear()
    ledger.append_admitted([verdict])
    assert counted == [verdict.tx.tx_id]
    assert verdict.result is not None
    assert b"forged" not in verdict.result
