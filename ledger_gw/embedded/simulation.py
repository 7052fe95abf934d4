"""Running the contract in the writer's turn, and ahead of it on a database server.

The writer runs every transaction in log order. On a database server each read is a
round trip, so a batch is first run ahead over what has been fetched (`foresee`), a few
statements fetching what those runs read; each run is taken in its turn only if every
read it made gets the same answer then (`Foreseen.holds`): a deterministic contract
given the same reads and the same transaction does the same thing, so the log is
exactly what running every transaction in log order makes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from chaincode.contract import invoke, keys_read_first
from chaincode.errors import ContractError
from chaincode.stub import Identity
from ledger_gw.embedded.stub import Lookahead, StateView, TxStub
from ledger_gw.errors import InternalError, LedgerError, RejectedError
from ledger_gw.log.entry import effects_digest
from ledger_gw.log.merkle import leaf_hash
from ledger_gw.transaction import SignedTransaction

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Logged:
    """What an accepted transaction that writes adds to the log: its writes in key order
    and its entry, with the entry's leaf hash."""

    writes: tuple[tuple[bytes, bytes], ...]
    entry: bytes
    leaf: bytes


@dataclass
class Execution:
    """What the contract did with one transaction: an answer or a refusal, and effects."""

    result: bytes | None = None  # canonical JSON, when accepted
    error: LedgerError | None = None
    writes: dict[bytes, bytes] = field(default_factory=dict)
    events: list[tuple[str, bytes]] = field(default_factory=list)

    def logged(self, tx: SignedTransaction) -> Logged | None:
        """None when refused, or accepted without writes (an idempotent replay)."""
        if self.result is None or not self.writes:
            return None
        writes = tuple(sorted(self.writes.items()))
        entry = tx.entry(self.result, effects_digest(writes, self.events)).to_bytes()
        return Logged(writes, entry, leaf_hash(entry))


def execute(stub: TxStub, tx: SignedTransaction) -> Execution:
    proposal = tx.proposal
    try:
        result = invoke(stub, proposal.function, proposal.contract_args())
    except ContractError as error:
        return Execution(error=RejectedError.from_contract(error))
    except Exception:  # a contract bug must not sink the rest of the batch
        _log.exception("contract failed on transaction %s", tx.tx_id)
        message = "the contract failed on this transaction"
        return Execution(error=InternalError(message, code="contract_failure"))
    return Execution(result, None, stub.writes, stub.events)


LOOKAHEAD_ROUNDS = 3
LOOKAHEAD_FROM = 1  # transactions: for fewer, nothing is run ahead


@dataclass
class Foreseen:
    """A run of the contract made ahead of its turn, and every answer its reads got."""

    run: Execution
    reads: list[tuple[bytes, bytes | None]]
    scans: list[tuple[bytes, list[tuple[bytes, bytes]]]]

    def holds(self, view: StateView) -> bool:
        """True if every read gets the same answer from `view`: then, the contract being
        deterministic, running it on `view` does exactly what this run did."""
        return all(view.get(k) == v for k, v in self.reads) and all(
            view.scan(p) == rows for p, rows in self.scans
        )


def first_reads(runs: Sequence[tuple[Identity, SignedTransaction]]) -> list[bytes]:
    """The keys `runs` read first, as the contract names them (`keys_read_first`), each
    once: fetched with the log's head, they spare `foresee` its first round trip, and a
    single transaction most of its own."""
    keys: dict[bytes, None] = {}
    for identity, tx in runs:
        proposal = tx.proposal
        for key in keys_read_first(identity.org_id, proposal.function, proposal.contract_args()):
            keys[key.encode()] = None
    return list(keys)


def foresee(
    view: StateView,
    runs: Sequence[tuple[Identity, SignedTransaction]],
    rounds: int = LOOKAHEAD_ROUNDS,
) -> list[Foreseen | None]:
    """Run `runs` in order ahead of their turn, fetching into `view`, a few statements
    in all, what they read; each run made, for its turn to check and take (`holds`).

    The first round runs every transaction over what the view holds, then fetches
    whatever it could not answer; each later round runs again only the transactions
    that missed a read, to find the reads that depend on another (a referral, then its
    person). A run misled by a read it missed, or by an earlier run so misled, does not
    hold: its turn runs the contract again, and reads what no round found one key at a
    time.
    """
    foreseen: list[Foreseen | None] = [None] * len(runs)
    if len(runs) < LOOKAHEAD_FROM:
        return foreseen
    todo = list(range(len(runs)))
    for _ in range(rounds):
        ahead = Lookahead(view)
        missing: list[int] = []
        for i in todo:
            identity, tx = runs[i]
            ahead.reads, ahead.scans = [], []
            missed = len(ahead.missed) + len(ahead.missed_scans)
            stub = TxStub(ahead, identity, tx.tx_id, tx.proposal.time)
            proposal = tx.proposal
            run: Execution | None
            try:
                result = invoke(stub, proposal.function, proposal.contract_args())
                run = Execution(result, None, stub.writes, stub.events)
                ahead.apply(stub.writes)
            except ContractError as error:
                run = Execution(error=RejectedError.from_contract(error))
            except Exception:  # misled by a read it missed, or a bug its turn will log
                run = None
            foreseen[i] = None if run is None else Foreseen(run, ahead.reads, ahead.scans)
            if len(ahead.missed) + len(ahead.missed_scans) > missed:
                missing.append(i)
        if not missing:
            break
        view.prefetch(ahead.missed, ahead.missed_scans)
        todo = missing
    return foreseen
