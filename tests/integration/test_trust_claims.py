"""The README's trust claims, each attacked on a real embedded ledger with real
signatures and, where the claim rests on them, real witnesses (quorum two).

- Nobody else, the ledger's operator included, can write an event in an agency's name:
  the operator holds the database and the log key, and the witnesses cosign any tree
  that extends the last one (they never see events), so an entry the operator appends
  in a member's name, or a member's genuine transaction it logs a second time, is
  cosigned like any other. A donor's report verification, a chain verdict and `verify`
  read the ledger handed over to them: each must refuse it.
- Whatever you verify, you verify with trust roots you hold yourself: a bundle that
  brings its own consortium (its own CAs, log key and a quorum of none) proves nothing
  against the file the auditor pins.
- An amount paid so largely to one person that it tells her payment is hidden in every
  slice of the month a donor may ask for.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from chaincode.stub import Identity
from ledger_gw.audit.bundle import build_bundle
from ledger_gw.audit.verify import verify_bundle
from ledger_gw.client import OrgClient
from ledger_gw.consortium import Consortium
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.database import reading_engine
from ledger_gw.embedded.driver import Driver, Rows
from ledger_gw.embedded.ledger import EmbeddedLedger, Verdict
from ledger_gw.embedded.reader import LogReader, node_hashes
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.embedded.verify import verify_ledger
from ledger_gw.embedded.witnessing import endpoints
from ledger_gw.errors import IntegrityError
from ledger_gw.identity import Signer, cert_pem, issue_ca, issue_member
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.entry import Entry
from ledger_gw.log.merkle import CompactRange, leaf_hash
from ledger_gw.reports.accountability import (
    ReportError,
    ReportQuery,
    build_cube,
    compute_report,
    month_bounds,
)
from ledger_gw.reports.release import DONOR_K
from ledger_gw.reports.signing import sign_report, verify_report
from ledger_gw.services.bundles import judge_chain
from ledger_gw.services.reports import report_at
from ledger_gw.transaction import sign_proposal
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.witnesses import TestWitnesses, settled

Forgery = Callable[[Workspace], tuple[Signer, Consortium]]


def _the_operators_ca(ws: Workspace) -> tuple[Signer, Consortium]:
    """A certificate naming AGENCY-B from a CA of the operator's, which the consortium
    file its own node runs under lists as AGENCY-B's."""
    ca_key, ca_cert = issue_ca("AGENCY-B")
    key, cert = issue_member(ca_key, ca_cert, "AGENCY-B", "agency", "gateway.agency-b")
    orgs = dict(ws.consortium.organisations)
    orgs["AGENCY-B"] = replace(orgs["AGENCY-B"], ca_cert=ca_cert, signing_keys=())
    return Signer(key, cert_pem(cert)), replace(ws.consortium, organisations=orgs)


def _the_agencys_certificate(ws: Workspace) -> tuple[Signer, Consortium]:
    """AGENCY-B's own certificate over a signature by a key of the operator's (the log
    key is an Ed25519 note key: it signs no transaction at all)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return Signer(key, ws.signer("AGENCY-B").cert_pem), ws.consortium


@contextmanager
def _handed_over(url: str, pinned: Consortium) -> Iterator[EmbeddedLog]:
    """The ledger as a donor or auditor reads a copy handed over: read-only, under the
    consortium file she pins."""
    engine = reading_engine(url)
    try:
        yield EmbeddedLog(LogReader(engine), pinned)
    finally:
        engine.dispose()


def _chain_refusal(log: EmbeddedLog, pinned: Consortium, referral_id: str) -> set[str]:
    """The codes a chain verdict fails with (empty: every step passed)."""
    try:
        return judge_chain(log, pinned, referral_id).codes
    except IntegrityError as exc:
        return {exc.code}


@pytest.mark.parametrize(
    "forge",
    [_the_operators_ca, _the_agencys_certificate],
    ids=["its-own-ca", "the-agencys-certificate"],
)
def test_an_event_the_operator_writes_in_an_agencys_name_is_refused_though_witnessed(
    workspace: Workspace, witnesses: TestWitnesses, tmp_path: Path, forge: Forgery
) -> None:
    ws, url = workspace, f"sqlite:///{tmp_path / 'ledger.db'}"
    signer, runs_under = forge(ws)
    referral = ev.referral_created(ev.pid())
    ledger = EmbeddedLedger(url, runs_under, ws.log_signer(), witnesses=endpoints(ws.consortium))
    try:
        OrgClient(ledger, ws.signer("AGENCY-A")).submit(referral)
        settled(ledger)
        honest_size = ledger.size()
        accepted = ev.referral_step("accepted", referral["referral_id"])
        forged = sign_proposal(signer, "submit", [accepted])
        # Past the ledger's signature check, as the operator's own appender may write.
        ledger.append_admitted([Verdict(forged, Identity("AGENCY-B", "agency"))])
        settled(ledger)  # the witnesses cosign it: they see the tree, never the event
        gateway_log = EmbeddedLog.of(ledger)
        assert gateway_log.anchor().size == honest_size + 1
        figures = report_at(gateway_log, ReportQuery(k=1))
        assert figures["summary"]["referrals_accepted"] == 1
        report = sign_report(figures, ws.signer("AGENCY-A"))  # what its gateway shows
        bundle = build_bundle(
            gateway_log, runs_under, kind="referral_chain", subject=referral["referral_id"]
        )
    finally:
        ledger.close()

    with _handed_over(url, ws.consortium) as log:
        with pytest.raises(ReportError, match="not signed by a member"):
            verify_report(report, ws.consortium, log)
        refused = _chain_refusal(log, ws.consortium, referral["referral_id"])
        assert refused & {"log_entries_forged", "untrusted_certificate", "bad_signature"}
    checked = verify_bundle(bundle, trusted_consortium=ws.consortium)
    assert not checked.ok
    assert checked.codes & {"untrusted_certificate", "bad_signature"}
    assert [e.signature_ok for e in checked.events] == [True, False]
    with pytest.raises(IntegrityError, match="signature check failed"):
        verify_ledger(url, ws.consortium, workers=1)


def _log_again(ledger: EmbeddedLedger, position: int, log_signer: ckpt.NoteSigner) -> None:
    """The entry at ``position`` appended once more, its tree nodes and a checkpoint
    signed with the log key: what the operator's database access and key can write."""
    size = ledger.size()
    entry = ledger.log.entry(position)
    with ledger.engine.begin() as conn:
        tree = CompactRange(size, node_hashes(conn, CompactRange.border_ids(size)))
        new_nodes = tree.append(leaf_hash(entry))
        rows = Rows()
        timestamp = json.loads(Entry.from_bytes(entry).proposal)["timestamp"]
        # The log table's transaction ID column, unique, is the operator's to fill.
        rows.add(size, secrets.token_hex(32), timestamp, entry, (), new_nodes)
        cp = ckpt.Checkpoint(ledger.consortium.origin, tree.size, tree.root())
        Driver(conn).append(rows, (tree.size, ckpt.sign_checkpoint(cp, log_signer)))


def test_a_genuine_transaction_the_operator_logs_twice_is_not_counted_twice(
    workspace: Workspace, witnesses: TestWitnesses, tmp_path: Path
) -> None:
    """AGENCY-A signed three deliveries of 100 USD; the operator logs the last one again,
    signature and all, and the witnesses cosign the longer tree."""
    ws, url = workspace, f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = EmbeddedLedger(url, ws.consortium, ws.log_signer(), witnesses=endpoints(ws.consortium))
    try:
        agency = OrgClient(ledger, ws.signer("AGENCY-A"))
        for _ in range(3):
            grant = ev.entitlement_granted(ev.pid())
            agency.submit(grant)
            agency.submit(ev.delivery(grant["entitlement_id"], "100"))
        _log_again(ledger, ledger.size() - 1, ws.log_signer())
        settled(ledger)
        gateway_log = EmbeddedLog.of(ledger)
        assert gateway_log.anchor().size == 7
        figures = report_at(gateway_log, ReportQuery(k=1))
        assert figures["summary"]["deliveries"] == 4  # the replay, counted
        report = sign_report(figures, ws.signer("AGENCY-A"))
    finally:
        ledger.close()

    with (
        _handed_over(url, ws.consortium) as log,
        pytest.raises(ReportError, match="logged again at position 6"),
    ):
        verify_report(report, ws.consortium, log)
    with pytest.raises(IntegrityError, match="position 6"):
        verify_ledger(url, ws.consortium, workers=1)


def test_a_bundle_that_brings_its_own_consortium_proves_nothing(
    workspace: Workspace, tmp_path: Path
) -> None:
    """A forger's consortium of the same names and origin: its own CAs, its own log key,
    no witness quorum, shipped in the bundle with a chain that verifies under it."""
    forger = Workspace.create(tmp_path / "forger", DEMO)
    assert forger.consortium.witness_quorum == 0
    assert forger.consortium.origin == workspace.consortium.origin
    ledger = EmbeddedLedger(forger.ledger_url, forger.consortium, forger.log_signer())
    try:
        referral = ev.referral_created(ev.pid())
        OrgClient(ledger, forger.signer("AGENCY-A")).submit(referral)
        step = ev.referral_step("accepted", referral["referral_id"])
        OrgClient(ledger, forger.signer("AGENCY-B")).submit(step)
        bundle = build_bundle(
            EmbeddedLog.of(ledger),
            forger.consortium,
            kind="referral_chain",
            subject=referral["referral_id"],
        )
    finally:
        ledger.close()
    assert bundle["consortium"] == forger.consortium.to_dict()
    assert verify_bundle(bundle, trusted_consortium=forger.consortium).ok  # its own roots

    pinned = workspace.consortium
    assert pinned.witness_quorum == 2
    report = verify_bundle(bundle, trusted_consortium=pinned)
    assert {"consortium_mismatch", "untrusted_certificate"} <= report.codes
    assert report.codes & {"bad_checkpoint", "bad_checkpoint_signature"}
    assert not any(e.signature_ok for e in report.events)
    assert report.anchor == {}  # no checkpoint of the pinned log was opened


# -- an amount that tells one person's payment ---------------------------------------------


def _month(offset: int) -> str:
    today = dt.datetime.now(dt.UTC)
    n = today.year * 12 + today.month - 1 + offset
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


MONTH, NEXT = _month(1), _month(2)
PERIOD = {"start": f"{MONTH}-01", "end": f"{NEXT}-28"}
# (org, location, modality, delivered amount, people): one delivery each
PAID = (
    ("AGENCY-A", "LB11", "cash", "1960", 1),  # Fatima: dwarfs the rest of her cell
    ("AGENCY-A", "LB11", "cash", "10", 4),
    ("AGENCY-A", "LB11", "voucher", "80", 6),
    ("AGENCY-B", "LB21", "cash", "50", 6),
)


@pytest.fixture(scope="module")
def dominated(tmp_path_factory: pytest.TempPathFactory) -> dict[Any, dict[str, Any]]:
    """Every donor release of a closed month, recomputed from the real ledger's records
    as `report verify` recomputes them."""
    ws = Workspace.create(tmp_path_factory.mktemp("dominance") / "ws", DEMO)
    now = [dt.datetime.fromisoformat(f"{MONTH}-03T09:00:00+00:00")]
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer(), clock=lambda: now[0])
    try:
        for org, location, modality, amount, people in PAID:
            client = OrgClient(ledger, ws.signer(org), clock=lambda: now[0])
            grants = [
                ev.entitlement_granted(
                    ev.pid(), modality=modality, location=location, amount="2000", **PERIOD
                )
                for _ in range(people)
            ]
            paid = [ev.delivery(g["entitlement_id"], amount, date=f"{MONTH}-05") for g in grants]
            for batch in (grants, paid):
                assert [o.error for o in client.submit_many(batch) if o.error] == []
        now[0] = dt.datetime.fromisoformat(f"{NEXT}-01T01:00:00+00:00")
        closing = OrgClient(ledger, ws.signer("AGENCY-C"), clock=lambda: now[0])
        closing.submit(ev.entitlement_granted(ev.pid(), **PERIOD))  # the month closes
        log = EmbeddedLog.of(ledger)
        anchor = log.anchor()
        records = list(log.records(anchor))
    finally:
        ledger.close()
    cube = build_cube(records, DONOR_K, MONTH)
    start, end = month_bounds(MONTH)
    return {
        (org, programme): compute_report(
            records,
            anchor=anchor.summary,
            query=ReportQuery(org, programme, start, end, DONOR_K, on_lattice=True),
            cube=cube,
        )
        for org in (None, "AGENCY-A", "AGENCY-B")
        for programme in (None, "MPCA-2026")
    }


def test_one_payment_that_dwarfs_the_rest_of_its_cell_is_hidden_in_every_release(
    dominated: dict[Any, dict[str, Any]],
) -> None:
    """Five people in LB11 cash, well above k's count of people: its 2,000 USD is four
    standard transfers of 10 and what Fatima got, so it is never published."""
    hidden = 0
    for s, report in dominated.items():
        reached = report["tables"]["reached"]
        usd = reached["amounts"]["USD"]
        if s[0] in (None, "AGENCY-A"):
            row, column = reached["rows"].index("LB11"), reached["columns"].index("cash")
            assert reached["people"]["cells"][row][column] == 5, s  # the people are shown
            assert usd["cells"][row][column] is None, s
            hidden += 1
        shown = [*usd["row_totals"], *usd["column_totals"], usd["total"]]
        shown += [c for cells in usd["cells"] for c in cells]
        assert Decimal(2000) not in {Decimal(v) for v in shown if v is not None}, s
    assert hidden == 4
    everyone = dominated[(None, None)]["tables"]["reached"]["amounts"]["USD"]
    assert everyone["total"] == "2780"  # over eighteen people her payment is no longer told
