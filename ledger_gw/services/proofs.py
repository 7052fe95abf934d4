"""Proofs and checkpoints of the log, for anyone holding a token of the consortium.

Each answer is the verifiable log's own (:class:`ledger_gw.interfaces.VerifiableLog`):
Merkle proofs and signed checkpoint notes on the embedded ledger, orderer-signed
blocks and their header chain on Fabric. The gateway and the CLI ask the same way.

A log entry names a person, so an inclusion proof carries it only to a caller who may
read that event (:func:`inclusion_for`): the rule of ``GET /v1/events/{id}``, decided
by the contract's consent-gated ``event`` query signed as the caller's organisation.
Everyone else gets the leaf hash and the proof; donors never get an entry.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Protocol, runtime_checkable

from ledger_gw.errors import ConflictError, NotFoundError, RejectedError
from ledger_gw.interfaces import Record, Reveal, VerifiableLog, reveal_all
from ledger_gw.services import queries
from ledger_gw.services.access import PERMISSIONS, Action, Caller
from ledger_gw.services.gateway import Gateway


@runtime_checkable
class ValidityLog(Protocol):
    """A Fabric channel's validity log (:mod:`ledger_gw.audit.fabric_validity`): a Merkle
    tree of the members' statements of each transaction, its checkpoints signed by the
    members' quorum. What the verifiable-log tools (tlog-proofs, watching) read there."""

    def validity_inclusion(
        self, position: int | None, tx_id: str | None, size: int | None
    ) -> dict[str, Any]: ...

    def validity_consistency(self, size1: int, size2: int) -> list[bytes]: ...


def inclusion(
    log: VerifiableLog,
    index: int | None,
    tx_id: str | None,
    size: int | None,
    reveal: Reveal = reveal_all,
) -> Any:
    """The proof, with the entry itself only where ``reveal`` allows (the operator's CLI
    reading its own database: everywhere)."""
    if index is None and tx_id is None:
        raise NotFoundError("give index or tx_id", code="not_found")
    return log.inclusion(index, tx_id, size, reveal)


def inclusion_for(
    gateway: Gateway,
    caller: Caller,
    index: int | None,
    tx_id: str | None,
    size: int | None,
    purpose: str | None = None,
) -> Any:
    """The proof a gateway caller gets: the entry only if she may read its event."""
    return inclusion(gateway.log, index, tx_id, size, partial(_may_read, gateway, caller, purpose))


def _may_read(gateway: Gateway, caller: Caller, purpose: str | None, record: Record) -> bool:
    if caller.role not in PERMISSIONS[Action.PERSONS_READ]:
        return False  # donors and admins read no person-level data
    event_id = record.event.get("event_id")
    if not isinstance(event_id, str):
        return False
    try:
        found = queries.event(gateway, caller, event_id, purpose)
    except RejectedError:  # no consent, not found, or an organisation this gateway lacks
        return False
    # event IDs are each organisation's own: the one read must be this very record
    return isinstance(found, dict) and found.get("tx_id") == record.tx_id


def consistency(log: VerifiableLog, size1: int, size2: int | None) -> Any:
    return log.consistency(size1, size2)


def checkpoint(log: VerifiableLog, size: int | None) -> Any:
    return log.checkpoint(size)


def checkpoint_note(log: VerifiableLog, size: int | None) -> str:
    """The signed checkpoint note: the log's, cosigned by witnesses, on the embedded
    ledger; on Fabric the validity log's, signed by the members who state it (409
    ``validity_not_attested`` when none does)."""
    answer = log.checkpoint(size)
    note = answer.get("note", answer.get("validity"))
    if not isinstance(note, str):
        raise ConflictError(
            "no member states this channel's validity log: its checkpoints are the members' "
            "signatures (the profile's validity_keys and validity_urls)",
            code="validity_not_attested",
        )
    return note


def cosign(log: VerifiableLog, size: int | None) -> Any:
    """Ask the consortium's witnesses now to cosign a checkpoint (the log's node also
    pushes every new one to them on its own): the note with their cosignatures."""
    return log.cosign(size)
