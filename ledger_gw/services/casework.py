"""A caseworker's work: her agency's referral inbox, answering a referral, a person's page.

The same reads and events as the API, with one rule more for answering: an agency answers
only referrals addressed to it, and any other referral is answered as if unknown (the
sender may read its own referral, but it is not in the sender's inbox).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from chaincode.fields import DECLINE_REASONS
from chaincode.referrals import STATES
from ledger_gw.errors import NotFoundError, ValidationError
from ledger_gw.offchain.models import Person
from ledger_gw.services import events, queries
from ledger_gw.services.access import Caller
from ledger_gw.services.gateway import Gateway
from ledger_gw.services.pages import DEFAULT_LIMIT

#: What a caseworker reads a referral and a person's records for.
PURPOSE = "referral"
ANSWERS = {"accept": "referral.accepted", "decline": "referral.declined"}
REFERRAL_STATES = tuple(sorted(STATES))
REASONS = tuple(sorted(DECLINE_REASONS))


def check_state(state: str | None) -> str | None:
    if state is not None and state not in REFERRAL_STATES:
        raise ValidationError(
            f"state is one of {', '.join(REFERRAL_STATES)}", code="invalid_value", field="state"
        )
    return state


def incoming(gateway: Gateway, caller: Caller, referral_id: str) -> dict[str, Any]:
    """A referral addressed to the caller's organisation; NotFoundError for any other."""
    found: dict[str, Any] = queries.referral(gateway, caller, referral_id, PURPOSE)
    if found.get("to_org") != caller.org:
        raise NotFoundError("no such referral in this inbox", code="referral_not_found")
    return found


def answer(
    gateway: Gateway,
    caller: Caller,
    referral_id: str,
    choice: str,
    event_id: str,
    reason: str | None = None,
) -> dict[str, Any]:
    """Accept or decline a referral of the inbox. `event_id` comes with the form, so
    submitting the same form twice is one event, not a refused second one."""
    if choice not in ANSWERS:
        raise ValidationError(
            "the answer is accept or decline", code="invalid_value", field="answer"
        )
    incoming(gateway, caller, referral_id)
    event: dict[str, Any] = {
        "event_id": event_id,
        "type": ANSWERS[choice],
        "referral_id": referral_id,
    }
    if choice == "decline" and reason:  # none: the contract's own missing-field error
        event["reason"] = reason
    result, _ = events.submit(gateway, caller, event)
    return result


@dataclass(frozen=True)
class PersonPage:
    """What the caller may see of one person, a page of each list at a time."""

    pid: str
    history: dict[str, Any]  # events, withheld, next
    entitlements: dict[str, Any]  # entitlements, withheld, next
    registration: str | None  # her person ID in the caller's own database, if registered


def person(
    gateway: Gateway,
    caller: Caller,
    pid: str,
    history_cursor: str | None = None,
    entitlements_cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> PersonPage:
    history = queries.history_page(gateway, caller, pid, PURPOSE, history_cursor, limit)
    open_ones = queries.entitlements_page(gateway, caller, pid, PURPOSE, entitlements_cursor, limit)
    return PersonPage(pid, history, open_ones, registration_of(gateway, caller, pid))


def registration_of(gateway: Gateway, caller: Caller, pid: str) -> str | None:
    """Her registration in the caller's agency, when it has one (never another's)."""
    with gateway.store(caller.org).reading() as s:
        return s.scalar(select(Person.id).where(Person.pid == pid))
