"""Reads, signed as the caller's organisation: the contract decides what consent allows.

The `*_page` functions are what lists are read through: one page after an opaque
cursor, with `next` for the following one, and for consent-gated lists the number of
records the contract `withheld` from the caller (that something is there, not what).
"""

from __future__ import annotations

from typing import Any

from chaincode.fields import TIMESTAMP, UUID, matches
from ledger_gw.services.access import Caller
from ledger_gw.services.gateway import Gateway
from ledger_gw.services.pages import DEFAULT_LIMIT, Key, check_limit, decode_as, encode, paginate


def history(gateway: Gateway, caller: Caller, pid: str, purpose: str) -> Any:
    return gateway.client(caller).history(pid, purpose)


def entitlements(gateway: Gateway, caller: Caller, pid: str, purpose: str) -> Any:
    return gateway.client(caller).entitlements(pid, purpose)


def consents(gateway: Gateway, caller: Caller, pid: str) -> Any:
    return gateway.client(caller).query("consents", pid)


def referral(gateway: Gateway, caller: Caller, referral_id: str, purpose: str) -> Any:
    return gateway.client(caller).query("referral", referral_id, purpose)


def referral_chain(gateway: Gateway, caller: Caller, referral_id: str, purpose: str) -> Any:
    return gateway.client(caller).query("referral_chain", referral_id, purpose)


def event(gateway: Gateway, caller: Caller, event_id: str, purpose: str | None) -> Any:
    args = (event_id,) if purpose is None else (event_id, purpose)
    return gateway.client(caller).query("event", *args)


def history_page(
    gateway: Gateway,
    caller: Caller,
    pid: str,
    purpose: str,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Her events in time order, a page at a time, and how many she has that the caller
    may not see."""
    out = history(gateway, caller, pid, purpose)
    page = paginate(
        f"history:{pid}",
        out["events"],
        lambda r: (r["timestamp"], r["event"]["event_id"]),
        cursor,
        limit,
    )
    return {**out, "events": page.items, "next": page.next}


def entitlements_page(
    gateway: Gateway,
    caller: Caller,
    pid: str,
    purpose: str,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Her open entitlements the caller may see, a page at a time, and how many are withheld."""
    out = entitlements(gateway, caller, pid, purpose)
    page = paginate(
        f"entitlements:{pid}",
        out["entitlements"],
        lambda e: (e["start"], e["end"], e["entitlement_id"]),
        cursor,
        limit,
    )
    return {**out, "entitlements": page.items, "next": page.next}


def consents_page(
    gateway: Gateway,
    caller: Caller,
    pid: str,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, Any]:
    out = consents(gateway, caller, pid)
    page = paginate(
        f"consents:{pid}",
        out["consents"],
        lambda c: (c["granted_at"], c["consent_id"]),
        cursor,
        limit,
    )
    return {**out, "consents": page.items, "next": page.next}


def referrals_page(
    gateway: Gateway,
    caller: Caller,
    direction: str,
    state: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """The caller's organisation's inbox (`incoming`) or outbox (`outgoing`), oldest
    first, optionally in one state: the contract reads the page and no more."""
    kind = f"referrals:{direction}:{state or ''}"
    after = decode_as(kind, cursor, _referral_after) if cursor else ("", "")
    args = (direction, state or "", *after, str(check_limit(limit)))
    out = gateway.client(caller).query("referrals", *args)
    shown, more = out.pop("referrals"), out.pop("more")
    last = shown[-1] if shown and more else None
    following = encode(kind, (last["created_at"], last["referral_id"])) if last else None
    return {**out, "referrals": shown, "next": following}


def _referral_after(key: Key) -> Key:
    """A referral's (created_at, referral_id), as the contract reads on after it."""
    if len(key) != 2 or not matches(TIMESTAMP, key[0]) or not matches(UUID, key[1]):
        raise ValueError("not a referral's place in a list")
    return key
