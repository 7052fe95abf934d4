"""Reads, signed as the caller's organisation: the contract decides what consent allows."""

from __future__ import annotations

from typing import Any

from ledger_gw.services.access import Caller
from ledger_gw.services.gateway import Gateway


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
