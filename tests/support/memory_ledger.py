"""A Ledger on a dict: the real contract, real signature checks, no log and no database.

The service tier runs the gateway's use cases on it. Like the real backends, it
authenticates every signed transaction with the consortium's Authenticator (signature,
membership, certificate, role) and only lets writes submit and queries evaluate; then
it runs `chaincode.contract.invoke` on the state as committed so far. An accepted
transaction that writes takes the next position; one that writes nothing (the contract's
idempotent replay of an event ID) gets none, as on the embedded ledger.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import orjson

from chaincode.contract import QUERY_FUNCTIONS, WRITE_FUNCTIONS, invoke
from chaincode.errors import ContractError
from chaincode.stub import Identity, composite_key
from ledger_gw.consortium import Consortium
from ledger_gw.errors import (
    AuthenticationError,
    LedgerError,
    RejectedError,
    UnavailableError,
    ValidationError,
)
from ledger_gw.interfaces import Outcome
from ledger_gw.transaction import SignedTransaction


class MemoryStub:
    """One transaction's view of the state: committed values, its own writes buffered."""

    def __init__(
        self, state: dict[str, bytes], creator: Identity, tx_id: str, timestamp: datetime
    ) -> None:
        self._state = state
        self.creator = creator
        self.tx_id = tx_id
        self.tx_timestamp = timestamp
        self.writes: dict[str, bytes] = {}
        self.events: list[tuple[str, bytes]] = []

    def get_state(self, key: str) -> bytes | None:
        return self._state.get(key)

    def get_states(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self.get_state(key) for key in keys]

    def put_state(self, key: str, value: bytes) -> None:
        self.writes[key] = bytes(value)

    def get_state_by_partial_composite_key(
        self, object_type: str, attributes: Sequence[str]
    ) -> Iterator[tuple[str, bytes]]:
        prefix = composite_key(object_type, attributes)
        for key in sorted(k for k in self._state if k.startswith(prefix)):
            yield key, self._state[key]

    def get_state_page(self, start: str, end: str, limit: int) -> list[tuple[str, bytes]]:
        keys = sorted(k for k in self._state if start <= k < end)[:limit]
        return [(k, self._state[k]) for k in keys]

    def set_event(self, name: str, payload: bytes) -> None:
        self.events.append((name, bytes(payload)))


class MemoryLedger:
    """The Ledger protocol in memory; `log` holds the tx IDs of appended transactions."""

    def __init__(self, consortium: Consortium) -> None:
        self._auth = consortium.authenticator()
        self.state: dict[str, bytes] = {}
        self.log: list[str] = []
        self._answers: dict[str, tuple[int, dict[str, Any]]] = {}  # tx_id → position, result
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, tx: SignedTransaction) -> dict[str, Any]:
        return self.submit_many([tx])[0].unwrap()

    def submit_many(self, txs: Sequence[SignedTransaction]) -> list[Outcome]:
        with self._lock:
            self._check_open()
            return [self._append(tx) for tx in txs]

    def _append(self, tx: SignedTransaction) -> Outcome:
        if tx.tx_id in self._answers:  # the same signed transaction again
            position, result = self._answers[tx.tx_id]
            return Outcome(tx.tx_id, result, None, position)
        try:
            stub = self._stub(tx, WRITE_FUNCTIONS)
            answer = invoke(stub, tx.proposal.function, tx.proposal.contract_args())
        except LedgerError as error:
            rejected = (
                error
                if isinstance(error, RejectedError)
                else AuthenticationError(str(error), code=error.code)
            )
            return Outcome(tx.tx_id, None, rejected)
        except ContractError as error:
            return Outcome(tx.tx_id, None, RejectedError.from_contract(error))
        result = orjson.loads(answer)
        if not stub.writes:  # an idempotent replay: the original result, nothing new
            return Outcome(tx.tx_id, result)
        self.state.update(stub.writes)
        position = len(self.log)
        self.log.append(tx.tx_id)
        self._answers[tx.tx_id] = (position, result)
        return Outcome(tx.tx_id, result, None, position)

    def evaluate(self, tx: SignedTransaction) -> Any:
        with self._lock:
            self._check_open()
            stub = self._stub(tx, QUERY_FUNCTIONS)
            try:
                answer = invoke(stub, tx.proposal.function, tx.proposal.contract_args())
            except ContractError as error:
                raise RejectedError.from_contract(error) from None
        if stub.writes:
            raise ValidationError("a query tried to write", code="query_writes")
        return orjson.loads(answer)

    def _stub(self, tx: SignedTransaction, functions: frozenset[str]) -> MemoryStub:
        proposal = tx.proposal
        if proposal.function not in functions:
            raise ValidationError(
                f"{proposal.function!r} is not allowed here", code="unknown_function"
            )
        identity = self._auth.authenticate(
            proposal.creator, tx.signature, proposal.payload, proposal.time
        )
        return MemoryStub(self.state, identity, tx.tx_id, proposal.time)

    def _check_open(self) -> None:
        if self._closed:
            raise UnavailableError("the ledger is closed")

    def size(self) -> int:
        return len(self.log)

    def ready(self) -> dict[str, str]:
        self._check_open()
        return {"ledger": f"in memory, {len(self.log)} transactions"}

    def close(self) -> None:
        self._closed = True
