"""An auditor's gateway on a log node builds audit bundles from an index of what it read
of the log: each bundle reads only the entries new since the last, and selects what a
scan of the whole log selects; a report reading on from an anchor fetches only the
entries after it. A node (here a relay in front of the real one) that serves other
entries than those it showed before, or bundles that do not hash to its checkpoint,
gets nothing into the index or a bundle."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from ledger_gw.audit.bundle import build_bundle
from ledger_gw.bootstrap import remote_ledger, verifiable_log
from ledger_gw.errors import IntegrityError
from ledger_gw.interfaces import Anchor, Record
from ledger_gw.remote.ledger import RemoteLog
from ledger_gw.workspace import Workspace
from tests.integration.behaviour.conftest import LogNodeSite, cosigned
from tests.integration.behaviour.test_remote_log_forged_bundles import AUDITOR, Reorderer
from tests.support import events as ev

L = TypeVar("L", bound=RemoteLog)


class CountingLog(RemoteLog):
    """The auditor's log, counting the entries whose signatures it checks as it reads."""

    read = 0

    def _record(self, position: int, data: bytes) -> Record:
        self.read += 1
        return super()._record(position, data)


class BundleCounting(RemoteLog):
    """The auditor's log, noting which entry bundles it fetches."""

    fetched: list[int]

    def _bundle(self, index: int, size: int) -> list[bytes]:
        self.fetched.append(index)
        return super()._bundle(index, size)


class ScanLog(RemoteLog):
    """The same node, selecting a claim's records by reading every entry."""

    def claim_records(self, anchor: Anchor, kind: str, subject: str) -> list[Record]:
        return list(self.records(anchor))


@pytest.fixture
def reorderer(log_node: LogNodeSite) -> Iterator[Reorderer]:
    made = Reorderer(log_node)
    yield made
    made.close()


@contextmanager
def _opened(site: LogNodeSite, url: str, kind: type[L]) -> Iterator[L]:
    """The auditor's gateway on the node at ``url``, its index in the auditor's directory."""
    ws = Workspace.load(site.roots[AUDITOR])
    config = replace(site.config(AUDITOR), log_url=url)
    ledger = remote_ledger(ws, config, AUDITOR, ws.signer(AUDITOR))
    try:
        yield kind(ledger)
    finally:
        ledger.close()


def _log(site: LogNodeSite, steps: list[tuple[str, dict[str, Any]]]) -> None:
    backend = site.backend()
    try:
        for org, event in steps:
            backend.client(org).submit(event)
        cosigned(verifiable_log(backend.ledger, reader="AGENCY-A"), site.operator.consortium)
    finally:
        backend.close()


def _her_claims(person: str) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, str]]:
    grant = ev.entitlement_granted(person)
    root = ev.referral_created(person)
    onward = ev.referral_created(person, to_org="AGENCY-C", parent_referral_id=root["referral_id"])
    steps = [
        ("AGENCY-A", grant),
        ("AGENCY-A", ev.independent(0)),
        ("AGENCY-A", root),
        ("AGENCY-B", ev.referral_step("accepted", root["referral_id"])),
        ("AGENCY-B", onward),
        ("AGENCY-A", ev.delivery(grant["entitlement_id"])),
        ("AGENCY-C", ev.referral_step("accepted", onward["referral_id"])),
    ]
    return steps, {
        "entitlement": grant["entitlement_id"],
        "root": root["referral_id"],
        "onward": onward["referral_id"],
    }


def _bundles(log: RemoteLog, subjects: dict[str, str], size: int | None = None) -> list[Any]:
    consortium = log.consortium
    return [
        build_bundle(
            log, consortium, kind="entitlement", subject=subjects["entitlement"], size=size
        ),
        build_bundle(log, consortium, kind="referral_chain", subject=subjects["root"], size=size),
        build_bundle(log, consortium, kind="referral_chain", subject=subjects["onward"], size=size),
    ]


def test_each_bundle_reads_only_what_is_new_and_selects_what_a_scan_does(
    log_node: LogNodeSite,
) -> None:
    steps, subjects = _her_claims(ev.pid())
    _log(log_node, steps)
    with (
        _opened(log_node, log_node.url, CountingLog) as log,
        _opened(log_node, log_node.url, ScanLog) as scan,
    ):
        first = log.anchor()
        assert _bundles(log, subjects) == _bundles(scan, subjects)
        log.read = 0
        assert _bundles(log, subjects) == _bundles(scan, subjects)
        assert log.read == 3 * 6  # her six records only, each read (and checked) again
        more = [
            ("AGENCY-A", ev.delivery(subjects["entitlement"])),
            ("AGENCY-B", ev.referral_step("completed", subjects["root"])),
            ("AGENCY-C", ev.independent(1)),
        ]
        _log(log_node, more)
        log.read = 0
        later = _bundles(log, subjects)
        assert later == _bundles(scan, subjects)
        assert len(later[0]["claim"]["events"]) == 3  # the grant and both deliveries
        assert log.read == 3 + 3 * 8  # the new entries, then her eight
        assert _bundles(log, subjects, first.size) == _bundles(scan, subjects, first.size)
    with _opened(log_node, log_node.url, CountingLog) as again:  # a restart: the index is a file
        assert _bundles(again, subjects) == later
        assert again.read == 3 * 8


def test_bundles_that_do_not_hash_to_the_checkpoint_leave_the_index_as_it_was(
    log_node: LogNodeSite, reorderer: Reorderer
) -> None:
    steps, subjects = _her_claims(ev.pid())
    _log(log_node, steps)
    with _opened(log_node, reorderer.url, CountingLog) as log:
        kept = log._claims.border().size
        reorderer.forging = True
        with pytest.raises(IntegrityError) as refused:
            _bundles(log, subjects)
        assert refused.value.code == "log_node_entries_forged"
        assert "do not hash to the root" in str(refused.value)
        assert log._claims.border().size == kept
        assert log._claims.person_of(subjects["entitlement"]) is None
        reorderer.forging = False
        honest = _bundles(log, subjects)
        assert len(honest[0]["claim"]["events"]) == 2

        # Her last two entries, swapped now in what the node serves: read again for the
        # next bundle, neither has the leaf hash it had when it was proven.
        reorderer.forging = True
        with pytest.raises(IntegrityError) as swapped:
            build_bundle(log, log.consortium, kind="referral_chain", subject=subjects["onward"])
        assert swapped.value.code == "log_node_entries_forged"
        assert "is not the one it showed before" in str(swapped.value)


def test_records_since_an_anchor_read_only_the_entries_after_it(log_node: LogNodeSite) -> None:
    """As a report folds in a month: the entries before the last anchor are not fetched
    again, their tree's border read from the node's hash tiles instead."""
    backend = log_node.backend()
    try:
        backend.client("AGENCY-A").submit_many([ev.independent(i) for i in range(300)])
        cosigned(verifiable_log(backend.ledger, reader="AGENCY-A"), log_node.operator.consortium)
    finally:
        backend.close()
    with _opened(log_node, log_node.url, BundleCounting) as log:
        since = log.anchor()
        assert since.size > 256  # past the first entry bundle
        _log(log_node, [("AGENCY-A", ev.independent(0)), ("AGENCY-B", ev.independent(1))])
        anchor = log.anchor()
        log.fetched = []
        new = list(log.records(anchor, since))
        assert [r.position for r in new] == list(range(since.size, anchor.size))
        assert log.fetched == list(range(since.size // 256, -(-anchor.size // 256)))
        log.fetched = []
        whole = list(log.records(anchor))
        assert log.fetched[0] == 0
        assert new == whole[since.size :]
