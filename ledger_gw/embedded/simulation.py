"""Running the contract in the writer's turn.

The writer runs every transaction in log order. On a database server each read is a
round trip, so what a batch's transactions read first, as the contract names it
(`first_reads`), comes with the log's head in the same round trip; a read that depends
on another's answer (a closing step's index, named by the entitlement it reads first) is
one more.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from chaincode.contract import invoke, keys_read_first
from chaincode.errors import ContractError
from chaincode.stub import Identity
from ledger_gw.embedded.stub import TxStub
from ledger_gw.errors import CONTRACT_FAILURE, InternalError, LedgerError, RejectedError
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
    except LedgerError:  # the ledger's own failure under the contract (its storage)
        raise
    except Exception:  # a contract bug must not sink the rest of the batch
        _log.exception("contract failed on transaction %s", tx.tx_id)
        message = "the contract failed on this transaction"
        return Execution(error=InternalError(message, code=CONTRACT_FAILURE))
    return Execution(result, None, stub.writes, stub.events)


def first_reads(runs: Sequence[tuple[Identity, SignedTransaction]]) -> list[bytes]:
    """The keys `runs` read first, as the contract names them (`keys_read_first`), each
    once: fetched with the log's head, they spare most transactions all their round
    trips."""
    keys: dict[bytes, None] = {}
    for identity, tx in runs:
        proposal = tx.proposal
        try:
            named = keys_read_first(identity.org_id, proposal.function, proposal.contract_args())
        except Exception:  # a contract bug must not sink the batch
            _log.exception("the contract failed to name the first reads of %s", tx.tx_id)
            named = []
        keys.update((key.encode(), None) for key in named)
    return list(keys)
