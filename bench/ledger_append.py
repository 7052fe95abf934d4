"""Embedded ledger benchmark: append, prove, verify, against the minimum honest ledger.

Each append figure has a same-run baseline: the same signed events appended, the same
way (in batches, or one commit each), to the minimum honest ledger
(bench/honest_baseline.py), and the ratio. Every signature is verified on append. Prints
figures; asserts nothing. Run with `make bench` (defaults: 100k events appended in
batches, 10k one by one, 10k from 8 threads one by one).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import resource
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))

from auditor import verify_apart
from honest_baseline import HonestLedger

from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.merkle import leaf_hash, verify_inclusion
from ledger_gw.pseudonym import new_held_id
from ledger_gw.transaction import SignedTransaction, sign_proposal
from ledger_gw.workspace import Workspace

AGENCIES = ("AGENCY-A", "AGENCY-B", "AGENCY-C")
PERSON_EVENTS = 7  # events per person in person_events()
console = Console()


def _id() -> str:
    return str(uuid.uuid4())


def person_events(rng: random.Random, today: dt.date) -> Iterator[tuple[str, dict[str, Any]]]:
    """A realistic slice of one person's journey: consent, cash, deliveries, a referral."""
    pid = new_held_id()
    a, b = rng.sample(AGENCIES, 2)
    ent, ref = _id(), _id()
    yield (
        a,
        {
            "event_id": _id(),
            "type": "consent.granted",
            "consent_id": _id(),
            "pid": pid,
            "grantees": ["*"],
            "purposes": ["deduplication", "referral"],
            "data_categories": ["entitlements", "referrals"],
            "lawful_basis": "consent",
            "expires": (today + dt.timedelta(days=365)).isoformat(),
            "form_hash": "ab" * 32,
        },
    )
    yield (
        a,
        {
            "event_id": _id(),
            "type": "entitlement.granted",
            "entitlement_id": ent,
            "pid": pid,
            "programme": "MPCA-2026",
            "assistance_type": "cash",
            "modality": "cash",
            "amount": "300.00",
            "currency": "USD",
            "start": today.isoformat(),
            "end": (today + dt.timedelta(days=60)).isoformat(),
        },
    )
    for _ in range(2):
        yield (
            a,
            {
                "event_id": _id(),
                "type": "assistance.delivered",
                "entitlement_id": ent,
                "amount": "100.00",
                "currency": "USD",
                "date": today.isoformat(),
            },
        )
    yield (
        a,
        {
            "event_id": _id(),
            "type": "referral.created",
            "referral_id": ref,
            "pid": pid,
            "to_org": b,
            "sector": "health",
            "urgency": "routine",
            "document_hash": "cd" * 32,
        },
    )
    yield b, {"event_id": _id(), "type": "referral.accepted", "referral_id": ref}
    yield (
        b,
        {
            "event_id": _id(),
            "type": "referral.completed",
            "referral_id": ref,
            "outcome": "service_provided",
        },
    )


def signed_events(ws: Workspace, n: int, seed: int) -> list[SignedTransaction]:
    rng = random.Random(seed)
    signers = {org: ws.signer(org) for org in AGENCIES}
    today = dt.datetime.now(dt.UTC).date()
    out: list[SignedTransaction] = []
    while len(out) < n:
        for org, event in person_events(rng, today):
            out.append(sign_proposal(signers[org], "submit", [event]))
    return out[:n]


def raw_verify_rate(seconds: float = 2.0) -> float:
    key = ec.generate_private_key(ec.SECP256R1())
    data = os.urandom(600)
    sig = key.sign(data, ec.ECDSA(hashes.SHA256()))
    public = key.public_key()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            public.verify(sig, data, ec.ECDSA(hashes.SHA256()))
        count += 200
    return count / (time.perf_counter() - start)


def timed(label: str, fn: Any) -> tuple[Any, float]:
    with console.status(label):
        start = time.perf_counter()
        value = fn()
        return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--proofs", type=int, default=2000)
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.create(Path(tmp) / "ws", replace(DEMO, name="bench"))
        txs, t_sign = timed("signing", lambda: signed_events(ws, args.events, 1))
        rows.append(("client signing (not in append figures)", f"{len(txs) / t_sign:,.0f} tx/s"))
        ledger = EmbeddedLedger(
            ws.ledger_url, ws.consortium, ws.log_signer(), clock=lambda: dt.datetime.now(dt.UTC)
        )

        def batched() -> None:
            for i in range(0, len(txs), args.batch):
                for outcome in ledger.submit_many(txs[i : i + args.batch]):
                    outcome.unwrap()

        _, t_batch = timed("appending in batches", batched)
        honest = HonestLedger(Path(tmp) / "honest.db")

        def honest_batched() -> None:
            for i in range(0, len(txs), args.batch):
                honest.append(txs[i : i + args.batch])

        _, t_honest = timed("baseline: appending in batches", honest_batched)
        rows.append(
            (
                f"append, batches of {args.batch} ({len(txs):,} events)",
                f"{len(txs) / t_batch:,.0f} events/s",
            )
        )
        rows.append(
            (
                "  minimum honest ledger, same events and batches",
                f"{len(txs) / t_honest:,.0f} events/s, ratio {t_honest / t_batch:.2f}",
            )
        )

        singles = signed_events(ws, args.single, 2)
        _, t_single = timed("appending one by one", lambda: [ledger.submit(tx) for tx in singles])

        def honest_singles() -> None:
            for tx in singles:
                honest.append([tx])

        _, t_honest_single = timed("baseline: one by one", honest_singles)
        rows.append(
            (
                f"append, one by one, 1 thread ({len(singles):,} events)",
                f"{len(singles) / t_single:,.0f} events/s",
            )
        )
        rows.append(
            (
                "  minimum honest ledger, a commit and a signed head each",
                f"{len(singles) / t_honest_single:,.0f} events/s, "
                f"ratio {t_honest_single / t_single:.2f}",
            )
        )

        threaded = signed_events(ws, args.single, 3)
        # Per-person order matters, so each thread takes whole people.
        shares = [
            [tx for j, tx in enumerate(threaded) if (j // PERSON_EVENTS) % args.threads == t]
            for t in range(args.threads)
        ]

        def run_threads() -> None:
            workers = [
                threading.Thread(target=lambda s=s: [ledger.submit(tx) for tx in s]) for s in shares
            ]
            for w in workers:
                w.start()
            for w in workers:
                w.join()

        _, t_threads = timed("appending one by one from threads", run_threads)
        rows.append(
            (
                f"append, one by one, {args.threads} threads (group commit)",
                f"{len(threaded) / t_threads:,.0f} events/s, "
                f"{t_honest_single / len(singles) * len(threaded) / t_threads:.2f} × the "
                "honest ledger one by one",
            )
        )
        honest.close()

        size = ledger.size()
        rng = random.Random(4)
        positions = [rng.randrange(size) for _ in range(args.proofs)]
        root_note = ledger.log.checkpoint(size)
        cp = ckpt.open_checkpoint(root_note, ckpt.NoteVerifier.from_vkey(ws.consortium.log_vkey))

        def proofs() -> None:
            for p in positions:
                proof = ledger.log.inclusion_proof(p, size)
                verify_inclusion(
                    leaf_hash(ledger.log.entry(p)), p, size, proof, cp.checkpoint.root_hash
                )

        _, t_proof = timed("inclusion proofs", proofs)
        rows.append(
            (
                f"inclusion proof, fetch + verify (size {size:,})",
                f"{t_proof / len(positions) * 1e6:,.0f} µs each",
            )
        )

        with console.status("full verify, in a process of its own"):
            verified, t_verify = verify_apart(ws)
        rows.append(
            (f"full verify ({verified:,} entries)", f"{verified / t_verify:,.0f} entries/s")
        )
        db_size = (Path(tmp) / "ws" / "ledger.db").stat().st_size
        ledger.close()
        rows.append(("ledger file", f"{db_size / verified:,.0f} bytes/entry"))

    raw = raw_verify_rate()
    rows.append(("raw ECDSA P-256 verify (cryptography/OpenSSL)", f"{raw:,.0f} /s"))
    rows.append(("batched append ÷ raw verify", f"{len(txs) / t_batch / raw:.2f}"))
    rows.append(("load average at the end", " ".join(f"{x:.1f}" for x in os.getloadavg())))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(("peak memory (max RSS)", f"{peak:,.0f} MiB"))
    table = Table(title=f"embedded ledger, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    table.add_column("measure")
    table.add_column("figure", justify="right")
    for row in rows:
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    main()
