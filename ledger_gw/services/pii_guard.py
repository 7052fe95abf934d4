"""The gateway's second line against personal data, on top of the contract's patterns.

The contract's patterns admit some values that could be personal data in disguise: an
all-capital name fits an organisation or P-code pattern, a birth date is a valid date,
a phone number a valid amount. The gateway knows more than the contract (the consortium's
members, today's date), so before signing it also refuses:

- organisation IDs (``to_org``, ``grantees``) that are not consortium members;
- programme codes that the consortium file does not list;
- locations that are not a country code followed by digits (OCHA P-codes);
- dates more than ``DATE_WINDOW`` away from today (birth dates of adults);
- amounts with ten or more integer digits (phone numbers with a country code).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from typing import Any

from ledger_gw.errors import ValidationError

DATE_WINDOW = dt.timedelta(days=366 * 5)
_PCODE = re.compile(r"[A-Z]{2}[0-9]{0,10}")
_DATE_FIELDS = ("start", "end", "date", "expires")
_MAX_AMOUNT_DIGITS = 9


def _refuse(field: str, message: str) -> ValidationError:
    return ValidationError(message, code="implausible_value", field=field)


def guard(
    event: Mapping[str, Any], members: Collection[str], programmes: Collection[str], today: dt.date
) -> None:
    """Raise ValidationError for a value that may carry personal data."""
    programme = event.get("programme")
    if programme is not None and programme not in programmes:
        raise _refuse("programme", "programme is not one the consortium file lists")
    to_org = event.get("to_org")
    if to_org is not None and to_org not in members:
        raise _refuse("to_org", "to_org is not a consortium member")
    grantees = event.get("grantees")
    if isinstance(grantees, list) and grantees != ["*"] and any(g not in members for g in grantees):
        raise _refuse("grantees", "grantees must be consortium members")
    location = event.get("location")
    if location is not None and _PCODE.fullmatch(str(location)) is None:
        raise _refuse("location", "location must be a P-code: country code and digits")
    for name in _DATE_FIELDS:
        if name in event:
            when = dt.date.fromisoformat(str(event[name]))
            if abs(when - today) > DATE_WINDOW:
                raise _refuse(name, f"{name} is too far from today")
    amount = event.get("amount")
    if amount is not None and len(str(amount).split(".")[0]) > _MAX_AMOUNT_DIGITS:
        raise _refuse("amount", "amount is implausibly large")
