"""Strict schemas: every field's unknown/missing/type/pattern rejection names the field,
and no personal data fits in any field."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from cc_support import ORG_A, ORG_C, Ledger
from hypothesis import given
from hypothesis import strategies as st

from chaincode.errors import ValidationError
from chaincode.schemas import MAX_EVENT_BYTES, validate
from tests.support.events import (
    consent_granted,
    consent_revoked,
    delivery,
    entitlement_granted,
    entitlement_step,
    referral_created,
    referral_step,
    uid,
)

SAMPLES: dict[str, dict[str, Any]] = {
    "referral.created": referral_created(parent_referral_id=uid(), consent_id=uid()),
    "referral.accepted": referral_step("accepted", uid()),
    "referral.declined": referral_step("declined", uid()),
    "referral.completed": referral_step("completed", uid()),
    "referral.cancelled": referral_step("cancelled", uid()),
    "entitlement.granted": entitlement_granted(location="SY0203"),
    "assistance.delivered": delivery(uid(), location="SY02"),
    "entitlement.suspended": entitlement_step("suspended", uid()),
    "entitlement.resumed": entitlement_step("resumed", uid()),
    "entitlement.revoked": entitlement_step("revoked", uid()),
    "entitlement.closed": entitlement_step("closed", uid()),
    "consent.granted": consent_granted(),
    "consent.revoked": consent_revoked(uid(), reason="person_request"),
}
OPTIONAL = {
    ("referral.created", "parent_referral_id"),
    ("referral.created", "consent_id"),
    ("entitlement.granted", "location"),
    ("assistance.delivered", "location"),
    ("entitlement.closed", "reason"),
    ("consent.revoked", "reason"),
}
# What a well-typed but wrong string earns, per field (the spec's two kinds of mismatch).
CODE_FIELDS = {
    "type",
    "sector",
    "urgency",
    "reason",
    "outcome",
    "assistance_type",
    "modality",
    "currency",
    "purposes",
    "data_categories",
    "lawful_basis",
}
LIST_FIELDS = {"grantees", "purposes", "data_categories"}
DATE_FIELDS = {"start", "end", "date", "expires"}

FIELDS = [(t, name) for t, sample in SAMPLES.items() for name in sample]


def bad_code(name: str) -> str:
    return "invalid_code" if name in CODE_FIELDS else "invalid_format"


def rejected(event: dict[str, Any]) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        validate(event)
    return info.value


def test_samples_are_valid() -> None:
    for sample in SAMPLES.values():
        validate(sample)


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
@pytest.mark.parametrize("extra", ["name", "phone", "from_org", "notes", "Name"])
def test_unknown_field(event_type: str, extra: str) -> None:
    err = rejected({**SAMPLES[event_type], extra: "x"})
    assert (err.code, err.field) == ("unknown_field", extra)


@pytest.mark.parametrize(("event_type", "name"), FIELDS)
def test_missing_field(event_type: str, name: str) -> None:
    event = {k: v for k, v in SAMPLES[event_type].items() if k != name}
    if (event_type, name) in OPTIONAL:
        validate(event)
    else:
        err = rejected(event)
        assert (err.code, err.field) == ("missing_field", name)


WRONG_TYPES: list[Any] = [1, 1.5, None, True, {"a": "b"}, ["x"], "x"]
TYPE_CASES = [
    (t, name, wrong)
    for t, name in FIELDS
    for wrong in WRONG_TYPES
    # skip the right JSON type (string for scalars, list for list fields): pattern tests cover it
    if not (isinstance(wrong, list) and name in LIST_FIELDS)
    and not (isinstance(wrong, str) and name not in LIST_FIELDS)
]


@pytest.mark.parametrize(("event_type", "name", "wrong"), TYPE_CASES)
def test_wrong_json_type(event_type: str, name: str, wrong: Any) -> None:
    err = rejected({**SAMPLES[event_type], name: wrong})
    assert (err.code, err.field) == ("invalid_type", name)


@pytest.mark.parametrize(("event_type", "name"), FIELDS)
def test_pattern_mismatch(event_type: str, name: str) -> None:
    value: Any = ["no such thing"] if name in LIST_FIELDS else "no such thing"
    err = rejected({**SAMPLES[event_type], name: value})
    assert (err.code, err.field) == (bad_code(name), name)


PII = [
    "Fatima Al-Hassan",
    "+963 944 123 456",
    "1987-04-12",
    "fatima.alhassan@example.org",
    "she fled Aleppo with two children",
    "FATIMA",
    "SY 123456789",
    "963944123456",
]
# A birth date is a valid date; only dates can hold one, and those fields are dates by
# design (start, end, date, expires). Everywhere else it must be refused.
ACCEPTED_PII = {(name, "1987-04-12") for name in DATE_FIELDS} | {
    # Upper-case words and digits are legitimate codes in these pattern fields; what keeps
    # a person's name out is that an org ID must be a consortium member to matter and a
    # programme/P-code is short and upper-case only. Documented, not silent.
    ("to_org", "FATIMA"),
    ("programme", "FATIMA"),
    ("location", "FATIMA"),
    ("grantees", "FATIMA"),
    # A 12-digit amount is a valid amount; deliveries are capped by the entitlement instead.
    ("amount", "963944123456"),
}


@pytest.mark.parametrize(("event_type", "name"), [f for f in FIELDS if f[1] not in ("type",)])
@pytest.mark.parametrize("pii", PII)
def test_pii_rejected_in_every_string_field(
    ledger: Ledger, event_type: str, name: str, pii: str
) -> None:
    value: Any = [pii] if name in LIST_FIELDS else pii
    event = {**SAMPLES[event_type], name: value}
    if (name, pii) in ACCEPTED_PII:
        if name == "end":
            event["start"] = "1900-01-01"  # keep end >= start
        validate(event)
        return
    with pytest.raises(ValidationError) as info:
        ledger.submit(ORG_A, event)
    assert info.value.field == name
    assert info.value.code in ("invalid_format", "invalid_code", "invalid_value")
    assert ledger.stub.puts == []


def test_amount_rules() -> None:
    base = SAMPLES["entitlement.granted"]
    for ok in ["1", "0.5", "999999999999.9999", "10.25"]:
        validate({**base, "amount": ok})
    for bad, code in [
        ("0", "invalid_value"),
        ("0.0", "invalid_value"),
        ("-1", "invalid_format"),
        ("01", "invalid_format"),
        ("1.", "invalid_format"),
        ("1.23456", "invalid_format"),
        ("1e3", "invalid_format"),
        ("1000000000000", "invalid_format"),
        (" 1", "invalid_format"),
    ]:
        err = rejected({**base, "amount": bad})
        assert (err.code, err.field) == (code, "amount")


def test_dates_must_be_real_and_ordered() -> None:
    base = SAMPLES["entitlement.granted"]
    for bad in ["2025-02-30", "2025-13-01", "20250301", "2025-3-1", "2025-03-01T00:00:00"]:
        assert rejected({**base, "start": bad}).code == "invalid_format"
    validate({**base, "start": "2024-02-29", "end": "2024-02-29"})
    err = rejected({**base, "start": "2025-03-02", "end": "2025-03-01"})
    assert (err.code, err.field) == ("invalid_value", "end")


def test_list_rules() -> None:
    base = SAMPLES["consent.granted"]
    validate({**base, "grantees": ["*"]})
    validate({**base, "grantees": ["IRC", "NRC"]})
    for bad in [[], ["NRC", "IRC"], ["IRC", "IRC"], ["*", "IRC"]]:
        assert rejected({**base, "grantees": bad}).field == "grantees"
    assert rejected({**base, "grantees": ["irc"]}).code == "invalid_format"
    assert rejected({**base, "purposes": []}).code == "invalid_value"
    assert rejected({**base, "purposes": ["referral", "referral"]}).code == "invalid_value"
    assert rejected({**base, "data_categories": [1]}).code == "invalid_type"


def test_currency_is_iso_4217() -> None:
    base = SAMPLES["entitlement.granted"]
    for ok in ["USD", "EUR", "SYP", "SDG", "SSP", "AFN", "UAH", "XOF"]:
        validate({**base, "currency": ok})
    for bad in ["usd", "XYZ", "HRK", "US$", "DOLLARS"]:
        assert rejected({**base, "currency": bad}).code == "invalid_code"


def test_pid_patterns() -> None:
    base = SAMPLES["entitlement.granted"]
    for ok in ["k1." + "a" * 26, "k999." + "z" * 26, "h." + "2" * 26]:
        validate({**base, "pid": ok})
    for bad in [
        "k1000." + "a" * 26,
        "k1." + "a" * 25,
        "h." + "1" * 26,
        "k1." + "A" * 26,
        "h." + "a" * 26 + "\n",
        "x." + "a" * 26,
    ]:
        assert rejected({**base, "pid": bad}).code == "invalid_format"


def test_uuid_must_be_lowercase_canonical() -> None:
    base = SAMPLES["referral.accepted"]
    for bad in [
        "0000000-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-00000000000A",
        "{00000000-0000-4000-8000-000000000001}",
        "000000000000400080000000000000001",
    ]:
        assert rejected({**base, "referral_id": bad}).code == "invalid_format"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"not json", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b"[]", "invalid_type"),
        (b'"referral.accepted"', "invalid_type"),
        (b"null", "invalid_type"),
        (b'{"type": "referral.accepted", "type": "referral.accepted"}', "duplicate_field"),
        (b'{"type": "entitlement.granted", "amount": NaN}', "invalid_json"),
        (b"{}", "missing_field"),
        (b'{"type": "person.registered"}', "invalid_code"),
        (b'{"type": 3}', "invalid_type"),
    ],
)
def test_malformed_documents(ledger: Ledger, raw: bytes, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        ledger.submit_raw(ORG_A, raw)
    assert info.value.code == code
    assert info.value.field == (
        "type"
        if code in ("missing_field", "invalid_code", "invalid_type") and raw.startswith(b"{")
        else None
    )
    assert ledger.stub.puts == []


def test_size_limit(ledger: Ledger) -> None:
    event = SAMPLES["referral.accepted"]
    padded = json.dumps(event).encode()[:-1] + b" " * MAX_EVENT_BYTES + b"}"
    with pytest.raises(ValidationError) as info:
        ledger.submit_raw(ORG_C, padded)
    assert (info.value.code, info.value.field) == ("too_large", None)


# Independent restatement of the spec's patterns; hypothesis checks the contract agrees.
SPEC_PATTERNS = {
    ("entitlement.granted", "pid"): r"k[0-9]{1,3}\.[a-z2-7]{26}|h\.[a-z2-7]{26}",
    ("referral.created", "document_hash"): r"[0-9a-f]{64}",
    ("entitlement.granted", "location"): r"[A-Z]{2}[A-Z0-9]{0,10}",
    (
        "referral.accepted",
        "referral_id",
    ): r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
}
FIELD_ALPHABET = st.sampled_from("aAzZ09-._ \n+@hk27" + "é\u0000")


@pytest.mark.parametrize(("event_type", "name"), sorted(SPEC_PATTERNS))
@given(data=st.data())
def test_random_strings_pass_only_when_matching(
    event_type: str, name: str, data: st.DataObject
) -> None:
    regex = SPEC_PATTERNS[(event_type, name)]
    value = data.draw(
        st.one_of(
            st.text(), st.text(FIELD_ALPHABET, max_size=40), st.from_regex(rf"\A(?:{regex})\Z")
        )
    )
    event = {**SAMPLES[event_type], name: value}
    if re.fullmatch(regex, value):
        validate(event)
    else:
        err = rejected(event)
        assert (err.code, err.field) == ("invalid_format", name)


DATE_OR_PHONE = r"[0-9]{7,}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{1,2}-[0-9]{1,2}-[0-9]{4}"
ID_PATTERNS = {
    ("referral.created", "to_org"): r"[A-Z][A-Z0-9-]{1,31}",
    ("entitlement.granted", "programme"): r"[A-Z0-9][A-Z0-9-]{1,31}",
}


@pytest.mark.parametrize(("event_type", "name"), sorted(ID_PATTERNS))
@given(data=st.data())
def test_identifiers_pass_only_when_matching_and_not_dates_or_phones(
    event_type: str, name: str, data: st.DataObject
) -> None:
    regex = ID_PATTERNS[(event_type, name)]
    value = data.draw(
        st.one_of(
            st.text(),
            st.text(st.sampled_from("AZ09-9-"), max_size=34),
            st.from_regex(rf"\A(?:{regex})\Z"),
        )
    )
    event = {**SAMPLES[event_type], name: value}
    if re.fullmatch(regex, value) and not re.search(DATE_OR_PHONE, value):
        validate(event)
    else:
        err = rejected(event)
        assert (err.code, err.field) == ("invalid_format", name)


@pytest.mark.parametrize("value", ["1987-04-12", "12-04-1987", "MPCA-1987-4-12", "P0944123456"])
def test_programme_cannot_carry_dates_or_phone_numbers(value: str) -> None:
    err = rejected({**SAMPLES["entitlement.granted"], "programme": value})
    assert (err.code, err.field) == ("invalid_format", "programme")


@given(st.text())
def test_random_strings_are_never_codes(value: str) -> None:
    base = SAMPLES["referral.declined"]
    reasons = {"capacity", "out_of_scope", "not_eligible", "duplicate", "person_declined", "other"}
    if value in reasons:
        validate({**base, "reason": value})
    else:
        assert rejected({**base, "reason": value}).code == "invalid_code"
