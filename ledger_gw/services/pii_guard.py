"""The gateway's second line against personal data, on top of the contract's patterns.

The contract's patterns admit some values that could be personal data in disguise: an
all-capital name fits an organisation or P-code pattern, a birth date is a valid date,
a phone number a valid amount. The gateway knows more than the contract (the consortium's
members, today's date), so before signing it also refuses:

- organisation IDs (``to_org``, ``grantees``) that are not consortium members;
- programme codes that the consortium file does not list;
- locations that are not a country code followed by digits (OCHA P-codes) and, when
  the consortium file lists its administrative codes, locations it does not list (a
  phone number such as ``KE0712345679`` has a P-code's shape);
- dates more than ``DATE_WINDOW`` away from today (birth dates of adults);
- amounts with ten or more integer digits (phone numbers with a country code) and,
  when the file sets a ceiling for the programme, amounts above it or in another
  currency (``963944123.4567`` is a phone number with a decimal point). A delivery
  names no programme: it is held to the largest ceiling in its currency, and the
  contract holds it to its entitlement.

Consortium files without locations or ceilings get the shape checks only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any

from ledger_gw.consortium import PCODE, Ceiling
from ledger_gw.errors import ValidationError

DATE_WINDOW = dt.timedelta(days=366 * 5)
_DATE_FIELDS = ("start", "end", "date", "expires")
_MAX_AMOUNT_DIGITS = 9


def _refuse(field: str, message: str, rule: str = "implausible_value") -> ValidationError:
    return ValidationError(message, code=rule, field=field)


def guard(
    event: Mapping[str, Any],
    members: Collection[str],
    programmes: Collection[str],
    today: dt.date,
    locations: Collection[str] = (),
    ceilings: Mapping[str, Ceiling] | None = None,
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
    if location is not None and PCODE.fullmatch(str(location)) is None:
        raise _refuse("location", "location must be a P-code: country code and digits")
    if location is not None and locations and location not in locations:
        raise _refuse(
            "location",
            "location is not an administrative code the consortium lists",
            "unlisted_location",
        )
    for name in _DATE_FIELDS:
        if name in event:
            when = dt.date.fromisoformat(str(event[name]))
            if abs(when - today) > DATE_WINDOW:
                raise _refuse(name, f"{name} is too far from today")
    amount = event.get("amount")
    if amount is not None and len(str(amount).split(".")[0]) > _MAX_AMOUNT_DIGITS:
        raise _refuse("amount", "amount is implausibly large")
    if amount is not None and ceilings:
        _within_ceiling(event, Decimal(str(amount)), ceilings)


def _within_ceiling(
    event: Mapping[str, Any], amount: Decimal, ceilings: Mapping[str, Ceiling]
) -> None:
    currency = str(event.get("currency"))
    programme = event.get("programme")
    if programme is not None:
        ceiling = ceilings.get(str(programme))
        if ceiling is None:
            return
        if currency != ceiling.currency:
            raise _refuse(
                "currency", f"programme {programme} is paid in {ceiling.currency}", "wrong_currency"
            )
        if amount > ceiling.limit:
            raise _refuse(
                "amount",
                f"amount is above the programme's ceiling of {ceiling.max_amount}",
                "above_ceiling",
            )
        return
    limits = [c.limit for c in ceilings.values() if c.currency == currency]
    if limits and amount > max(limits):
        raise _refuse(
            "amount", "amount is above every programme's ceiling in its currency", "above_ceiling"
        )
