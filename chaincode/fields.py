"""Patterns and controlled vocabularies for every value the ledger may hold.

Each string on the ledger must match one of these: that is what keeps names,
phone numbers, birth dates and free text off it. Patterns are matched with
`fullmatch` so a trailing newline cannot slip through.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Keyed pseudonym (HMAC under key version N) or a person-held random ID (base32).
PID = re.compile(r"k[0-9]{1,3}\.[a-z2-7]{26}|h\.[a-z2-7]{26}")
ORG_ID = re.compile(r"[A-Z][A-Z0-9-]{1,31}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
PROGRAMME = re.compile(r"[A-Z0-9][A-Z0-9-]{1,31}")
PCODE = re.compile(r"[A-Z]{2}[A-Z0-9]{0,10}")
AMOUNT = re.compile(r"(0|[1-9][0-9]{0,11})(\.[0-9]{1,4})?")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
# Shapes of birth dates and phone/ID numbers. The org and programme patterns alone would
# admit "1987-04-12" or "963944123456", so those fields also must not contain these.
PERSONAL_DIGITS = re.compile(
    r"[0-9]{7,}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{1,2}-[0-9]{1,2}-[0-9]{4}"
)

ALL_GRANTEES = "*"

SECTORS: frozenset[str] = frozenset(
    {
        "health",
        "protection",
        "child_protection",
        "gbv",
        "mhpss",
        "food_security",
        "nutrition",
        "shelter",
        "wash",
        "education",
        "cash",
        "livelihoods",
        "legal_aid",
    }
)
URGENCIES: frozenset[str] = frozenset({"routine", "urgent", "emergency"})
DECLINE_REASONS: frozenset[str] = frozenset(
    {
        "capacity",
        "out_of_scope",
        "not_eligible",
        "duplicate",
        "person_declined",
        "other",
    }
)
OUTCOMES: frozenset[str] = frozenset(
    {
        "service_provided",
        "partially_provided",
        "person_unreachable",
        "person_declined",
        "referred_on",
    }
)
# Reasons for cancelling a referral, suspending/revoking an entitlement, revoking consent.
CHANGE_REASONS: frozenset[str] = frozenset(
    {
        "error",
        "duplicate",
        "person_request",
        "ineligible",
        "fraud_suspected",
        "other",
    }
)
CLOSE_REASONS: frozenset[str] = frozenset({"period_ended", "completed", "person_moved", "other"})
ASSISTANCE_TYPES: frozenset[str] = frozenset(
    {
        "cash",
        "food",
        "health",
        "shelter",
        "nfi",
        "wash",
        "education",
        "protection",
        "livelihoods",
    }
)
MODALITIES: frozenset[str] = frozenset({"cash", "voucher", "in_kind", "service"})
PURPOSES: frozenset[str] = frozenset({"referral", "deduplication", "service_continuity"})
DATA_CATEGORIES: frozenset[str] = frozenset({"referrals", "entitlements", "assistance", "consent"})
LAWFUL_BASES: frozenset[str] = frozenset(
    {
        "consent",
        "vital_interest",
        "public_task",
        "legitimate_interest",
        "legal_obligation",
        "contract",
    }
)

# ISO 4217 list one (active codes, 2025), including fund, metal and special codes.
# Withdrawn codes (HRK, SLL, ZWL, ANG after its 2025 replacement by XCG, CUC) are absent.
_ISO_4217 = """
AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN
BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR
FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU
MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON
RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP
TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC
XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG
"""
CURRENCIES: frozenset[str] = frozenset(_ISO_4217.split())


def matches(pattern: re.Pattern[str], value: str) -> bool:
    return pattern.fullmatch(value) is not None


def is_code(pattern: re.Pattern[str], value: str) -> bool:
    """A code-like identifier (org, programme): matches and carries no date/phone shape."""
    return matches(pattern, value) and PERSONAL_DIGITS.search(value) is None


def parse_date(value: str) -> date | None:
    """A real calendar date in exactly YYYY-MM-DD form, else None."""
    if not matches(ISO_DATE, value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def parse_amount(value: str) -> Decimal | None:
    """A positive decimal amount in the ledger's fixed notation, else None."""
    if not matches(AMOUNT, value):
        return None
    amount = Decimal(value)
    return amount if amount > 0 else None


def format_amount(amount: Decimal) -> str:
    """Plain notation, no exponent, no trailing zeros: the same sum always prints the same."""
    text = f"{amount:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
