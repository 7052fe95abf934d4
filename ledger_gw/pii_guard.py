"""The consortium vocabulary: the second line against personal data, on top of the
contract's patterns, held by every gateway before it signs and by the log node before it
appends whatever any member's gateway signed.

The contract's patterns admit some values that could be personal data in disguise: an
all-capital name fits an organisation or P-code pattern, a birth date is a valid date,
a phone number a valid amount. The consortium file says more than the contract knows
(its members, programmes, codes and ceilings), so this module also refuses:

- organisation IDs (``to_org``, ``grantees``) that are not consortium members;
- programme codes that the consortium file does not list;
- locations that are not a country code followed by digits (OCHA P-codes) and, when
  the consortium file lists its administrative codes, locations it does not list (a
  phone number such as ``KE0712345679`` has a P-code's shape);
- dates more than ``DATE_WINDOW`` away from the day the event was captured (birth
  dates of adults): a gateway's today, or at the log node the day the transaction
  states, so that an outbox handing over events captured days ago is judged as its
  gateway judged them;
- amounts with ten or more integer digits (phone numbers with a country code), with
  more decimals than their currency has (``1987.0412`` is a birth date under any
  ceiling), and, when the file sets a ceiling for the programme, amounts above it or in
  another currency (``963944123.4567`` is a phone number with a decimal point). A
  delivery names no programme: it is held to the largest ceiling in its currency, and
  the contract holds it to its entitlement;
- a capture time (``captured_at``) more than MAX_CAPTURE_AGE before the transaction, or
  before a gateway's now: the dates are judged against it.

Consortium files without locations or ceilings get the shape checks only. On Fabric a
member that submits to its peers directly meets the contract's patterns only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any

from chaincode.canonical import canonical_json
from chaincode.errors import ContractError
from chaincode.schemas import parse_event
from ledger_gw.consortium import PCODE, Ceiling, Consortium
from ledger_gw.errors import FieldError, ValidationError

DATE_WINDOW = dt.timedelta(days=366 * 5)
#: The longest an event may honestly wait in a gateway's outbox, offline in the field,
#: before its transaction: an older capture a member states would move the date window
#: back with it, and let a child's birth date through.
MAX_CAPTURE_AGE = dt.timedelta(days=90)
_DATE_FIELDS = ("start", "end", "date", "expires")
_CAPTURED_AT = "captured_at"
_MAX_AMOUNT_DIGITS = 9
#: ISO 4217 minor units where they are not 2 (funds codes left out).
# fmt: off
_DECIMALS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
                     "UGX", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
# fmt: on


def _refuse(
    field: str,
    message: str,
    rule: str = "implausible_value",
    allowed: Collection[str] | None = None,
) -> FieldError:
    return FieldError(field, rule, message, None if allowed is None else tuple(sorted(allowed)))


def guard(
    event: Mapping[str, Any],
    members: Collection[str],
    programmes: Collection[str],
    today: dt.date,
    locations: Collection[str] = (),
    ceilings: Mapping[str, Ceiling] | None = None,
) -> None:
    """Raise ValidationError for the first value that may carry personal data."""
    found = findings(event, members, programmes, today, locations, ceilings)
    if found:
        raise ValidationError(found[0].message, code=found[0].code, field=found[0].field)


def vocabulary_findings(
    event: Mapping[str, Any], consortium: Consortium, today: dt.date
) -> list[FieldError]:
    """`findings` against the consortium file's own lists."""
    return findings(
        event,
        consortium.organisations,
        consortium.programmes,
        today,
        consortium.locations,
        consortium.ceilings,
    )


def logged_findings(
    event: object, consortium: Consortium, signed_at: dt.datetime
) -> list[FieldError]:
    """What the vocabulary finds in the event of a signed submission, its dates judged
    against the day it was captured: its ``captured_at`` (an outbox states it when it
    signs an old capture again), else the day the transaction was signed; never the
    reader's clock. A capture stated more than MAX_CAPTURE_AGE before the transaction is
    refused, so that a member cannot move the window by stating one. An event the
    contract's schema refuses is left to the contract, which names its field."""
    checked = _schema_valid(event)
    return [] if checked is None else captured_findings(checked, consortium, signed_at)


def captured_findings(
    checked: Mapping[str, Any], consortium: Consortium, signed_at: dt.datetime
) -> list[FieldError]:
    """`logged_findings` of an event the contract's schema passed: what a gateway finds
    at ``signed_at``, its now, before it signs."""
    captured = _captured(checked, signed_at)
    found: list[FieldError] = []
    if signed_at - captured > MAX_CAPTURE_AGE:
        found.append(_refuse(_CAPTURED_AT, "captured_at is too far before the transaction"))
    return found + vocabulary_findings(checked, consortium, captured.date())


def _schema_valid(event: object) -> dict[str, Any] | None:
    if not isinstance(event, Mapping):
        return None
    try:
        return parse_event(canonical_json(dict(event)))
    except (ContractError, TypeError, ValueError):
        return None


def _captured(event: Mapping[str, Any], signed_at: dt.datetime) -> dt.datetime:
    stated = event.get(_CAPTURED_AT)
    return signed_at if stated is None else dt.datetime.fromisoformat(str(stated))


def findings(
    event: Mapping[str, Any],
    members: Collection[str],
    programmes: Collection[str],
    today: dt.date,
    locations: Collection[str] = (),
    ceilings: Mapping[str, Ceiling] | None = None,
) -> list[FieldError]:
    """Every value of a schema-valid event that may carry personal data, each with the
    values the consortium allows where it lists them."""
    found: list[FieldError] = []
    programme = event.get("programme")
    if programme is not None and programme not in programmes:
        found.append(
            _refuse(
                "programme", "programme is not one the consortium file lists", allowed=programmes
            )
        )
    to_org = event.get("to_org")
    if to_org is not None and to_org not in members:
        found.append(_refuse("to_org", "to_org is not a consortium member", allowed=members))
    grantees = event.get("grantees")
    if isinstance(grantees, list) and grantees != ["*"] and any(g not in members for g in grantees):
        found.append(_refuse("grantees", "grantees must be consortium members", allowed=members))
    location = event.get("location")
    if location is not None and PCODE.fullmatch(str(location)) is None:
        found.append(_refuse("location", "location must be a P-code: country code and digits"))
    elif location is not None and locations and location not in locations:
        found.append(
            _refuse(
                "location",
                "location is not an administrative code the consortium lists",
                "unlisted_location",
                locations,
            )
        )
    for name in _DATE_FIELDS:
        if name in event:
            when = dt.date.fromisoformat(str(event[name]))
            if abs(when - today) > DATE_WINDOW:
                found.append(_refuse(name, f"{name} is too far from today"))
    amount = event.get("amount")
    whole, _, fraction = str(amount).partition(".")
    decimals = _DECIMALS.get(str(event.get("currency")), 2)
    if amount is not None and len(whole) > _MAX_AMOUNT_DIGITS:
        found.append(_refuse("amount", "amount is implausibly large"))
    elif amount is not None and len(fraction) > decimals:
        found.append(_refuse("amount", f"amount has more decimals than its currency's {decimals}"))
    elif amount is not None and ceilings:
        found += _within_ceiling(event, Decimal(str(amount)), ceilings)
    return found


def _within_ceiling(
    event: Mapping[str, Any], amount: Decimal, ceilings: Mapping[str, Ceiling]
) -> list[FieldError]:
    currency = str(event.get("currency"))
    programme = event.get("programme")
    if programme is not None:
        ceiling = ceilings.get(str(programme))
        if ceiling is None:
            return []
        if currency != ceiling.currency:
            return [
                _refuse(
                    "currency",
                    f"programme {programme} is paid in {ceiling.currency}",
                    "wrong_currency",
                    [ceiling.currency],
                )
            ]
        if amount > ceiling.limit:
            return [
                _refuse(
                    "amount",
                    f"amount is above the programme's ceiling of {ceiling.max_amount}",
                    "above_ceiling",
                )
            ]
        return []
    limits = [c.limit for c in ceilings.values() if c.currency == currency]
    if limits and amount > max(limits):
        return [
            _refuse(
                "amount",
                "amount is above every programme's ceiling in its currency",
                "above_ceiling",
            )
        ]
    return []
