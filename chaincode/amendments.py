"""The contract's amendments: rules changed from a moment on.

Verification replays every entry through this contract and must get the answer the
entry holds, so a rule cannot simply change: an entry replays under the rules in force
at its own timestamp. An amendment is released with a moment ahead of it, so that every
gateway, log node and Fabric peer runs it before it comes into force; a member cannot
date a transaction back into the old rules by more than the ten minutes each ledger
allows between a transaction's time and its own clock.
"""

from __future__ import annotations

from chaincode.store import Tx

#: A grant is flagged as a possible duplicate only of the overlapping entitlements its
#: granter may read for deduplication: its own, and others' under her consent that
#: their granter recorded. Before, every overlap was named, and an agency could learn
#: another's grant to her, its type and its period by granting and revoking probes.
#: A referral may cite only a consent its sender is a party to (collector or grantee):
#: citing another agency's consent told whether it was about her and whom it covered.
CONSENT_BOUND = "2026-12-07T00:00:00.000000Z"


def in_force(tx: Tx, amendment: str) -> bool:
    """Whether the amendment applies to this transaction (timestamps sort as text)."""
    return tx.timestamp >= amendment
