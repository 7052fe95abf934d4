"""The demo's audit section on Fabric: each event of the referral chain, proven by blocks.

The auditor reads the chain through its own peer, then for every event fetches the
block that holds it and the blocks after it up to the head, and checks them offline:
block data hashes, the hash chain, the orderer's signatures, the submitter's signature
and the endorsements against the CA certificates of the channel configuration, and the
endorsement policy (two of the three agencies). Then the chain's audit bundle, built
through the auditor's peer with the agencies' signed statements of which transactions
their own peers found valid, checked offline with the consortium and the genesis block
the auditor pinned.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ledger_gw import protos as pb
from ledger_gw.audit.bundle import build_bundle
from ledger_gw.audit.fabric_blocks import (
    EndorsementPolicy,
    block_header_hash,
    verify_evidence,
)
from ledger_gw.audit.verify import verify_bundle
from ledger_gw.bootstrap import fabric_ledger
from ledger_gw.demo.journey import Journey, run_demo
from ledger_gw.errors import LedgerError
from ledger_gw.fabric.gateway import FabricLedger
from ledger_gw.fabric.verifiable import FabricLog

AUDITOR = "AUDITOR-X"
POLICY = EndorsementPolicy(2, frozenset({"AGENCY-A", "AGENCY-B", "AGENCY-C"}))


def audit_on_fabric(j: Journey, referral_id: str) -> None:
    ledger = j.ledger
    assert isinstance(ledger, FabricLedger)
    j.console.rule("[bold]Audit: the referral chain against the Fabric block chain")
    genesis = pb.common.Block.FromString(ledger.block(0, AUDITOR))
    pinned = block_header_hash(genesis.header)
    j.console.print(f"genesis block pinned by the auditor: {pinned.hex()[:32]}…")
    chain = j.client(AUDITOR).referral_chain(referral_id)["chain"]
    table = Table(title="Referral chain, each event proven by its block", title_justify="left")
    for column in ("referral", "from → to", "event", "by", "block", "endorsed by", "evidence"):
        table.add_column(column)
    head = 0
    for link in chain:
        for record in link["events"]:
            evidence = ledger.evidence(record["tx_id"], AUDITOR)
            try:
                report = verify_evidence(evidence, genesis_hash=pinned, policy=POLICY)
                verdict, endorsers, block = (
                    "[green]verified[/]",
                    ", ".join(report.endorsers),
                    str(report.block),
                )
                head = max(head, report.head)
            except LedgerError as exc:
                verdict, endorsers, block = f"[red]{exc}[/]", "", "?"
            table.add_row(
                link["referral_id"][:8],
                f"{link['from_org']} → {link['to_org']}",
                record["event"]["type"],
                record["org"],
                block,
                endorsers,
                verdict,
            )
    j.console.print(table)
    j.console.print(
        f"[green]Checked offline[/]: block data hashes, the hash chain to block {head}, the "
        "orderer's signatures, submitters' and endorsers' signatures against the channel's "
        "CA certificates, and the endorsement policy (2 of 3 agencies)."
    )
    bundle = build_bundle(
        FabricLog(ledger, AUDITOR), j.ws.consortium, kind="referral_chain", subject=referral_id
    )
    checked = verify_bundle(
        json.dumps(bundle),
        trusted_consortium=j.ws.consortium,
        genesis_hash=pinned,
        endorsement_policy=(POLICY.required, POLICY.among),
    )
    if checked.ok:
        attested = ", ".join(checked.anchor.get("validity_witnesses", []))
        events = len(bundle["claim"]["events"])
        j.console.print(
            f"[green]Audit bundle verified[/] offline: {events} events, each "
            f"stated valid by {attested} (quorum {j.ws.consortium.witness_quorum})."
        )
    else:
        failed = ", ".join(sorted(checked.codes))
        j.console.print(f"[red]Audit bundle does not verify[/]: {failed}")


def run_fabric_demo(console: Console, profile_path: Path | None = None) -> None:
    """Fatima's journey on the Fabric network, with the block evidence as its audit."""
    from ledger_gw.demo.fabric import audit_on_fabric
    from ledger_gw.fabric.gateway import FabricLedger

    ledger, ws = fabric_ledger(profile_path)
    assert isinstance(ledger, FabricLedger)
    try:
        run_demo(ws, console, ledger, audit_on_fabric)
    finally:
        ledger.close()
