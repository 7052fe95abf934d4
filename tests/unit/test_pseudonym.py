"""Keyed pseudonyms: stable under spelling noise, unlinkable without the key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from pathlib import Path

import pytest

from chaincode.fields import PID
from ledger_gw.errors import ConfigError
from ledger_gw.pseudonym import (
    HELD_ID,
    IDENTITY_ATTRIBUTES,
    MAX_ATTRIBUTE_CHARS,
    PseudonymError,
    PseudonymKey,
    document_hash,
    new_held_id,
    new_salt,
)

FATIMA = {"given_name": "Fatima", "family_name": "Al-Hassan", "date_of_birth": "1991-03-14"}


@pytest.fixture
def key() -> PseudonymKey:
    return PseudonymKey(1, b"k" * 32)


def test_pseudonym_is_hmac_over_canonical_attributes(key: PseudonymKey) -> None:
    canonical = b'{"date_of_birth":"1991-03-14","family_name":"al-hassan","given_name":"fatima"}'
    digest = hmac.new(b"k" * 32, b"pid/v1\nk1\n" + canonical, hashlib.sha256).digest()
    expected = "k1." + base64.b32encode(digest).decode().lower()[:26]
    assert key.pseudonym(FATIMA) == expected
    assert key.pseudonym(dict(reversed(list(FATIMA.items())))) == expected


@pytest.mark.parametrize(
    "variant",
    [
        {"given_name": " FATIMA ", "family_name": "al-hassan", "date_of_birth": "1991-03-14"},
        {"given_name": "Fatima", "family_name": "Al-Hassan  ", "date_of_birth": "1991-03-14"},
        {"given_name": "Ｆａｔｉｍａ", "family_name": "Al-Hassan", "date_of_birth": "1991-03-14"},
        {**FATIMA, "given_name": "Fatima\u200f"},
        {**FATIMA, "given_name": "Fat\u200bima"},
        {**FATIMA, "given_name": "Fati\u00adma"},
        {**FATIMA, "given_name": "\ufeffFatima", "family_name": "Al\u2011Hassan"},
        {**FATIMA, "family_name": "Al\u2010Hassan"},
        {**FATIMA, "family_name": "Al\u2013Hassan\x7f"},
        {**FATIMA, "date_of_birth": "\u200e1991-03-14"},
    ],
    ids=[
        "case-and-space",
        "trailing-space",
        "fullwidth-nfkc",
        "right-to-left-mark",
        "zero-width-space",
        "soft-hyphen",
        "byte-order-mark-and-non-breaking-hyphen",
        "hyphen",
        "en-dash-and-delete",
        "left-to-right-mark-in-date",
    ],
)
def test_canonicalisation_keeps_one_person_one_id(
    key: PseudonymKey, variant: dict[str, str]
) -> None:
    assert key.pseudonym(variant) == key.pseudonym(FATIMA)


def test_other_attributes_other_key_other_version_differ(key: PseudonymKey) -> None:
    pid = key.pseudonym(FATIMA)
    assert key.pseudonym({**FATIMA, "date_of_birth": "1991-03-15"}) != pid
    assert PseudonymKey(1, b"j" * 32).pseudonym(FATIMA) != pid
    rotated = PseudonymKey(2, b"k" * 32).pseudonym(FATIMA)
    assert rotated.startswith("k2.")
    assert rotated[3:] != pid[3:]


def test_ids_match_the_contracts_pattern(key: PseudonymKey) -> None:
    assert PID.fullmatch(key.pseudonym(FATIMA))
    held = new_held_id()
    assert HELD_ID.fullmatch(held)
    assert PID.fullmatch(held)
    assert held != new_held_id()


@pytest.mark.parametrize(
    "attributes",
    [
        {},
        {"Given Name": "x"},
        {"given_name": "   "},
        {"given_name": "\u200f\u200b\u00ad"},
        {"date_of_birth": "14/03/1991"},
    ],
    ids=["empty", "bad-name", "blank", "invisible-only", "non-iso-date"],
)
def test_bad_attributes_are_refused(key: PseudonymKey, attributes: dict[str, str]) -> None:
    with pytest.raises(PseudonymError):
        key.pseudonym(attributes)


def test_key_round_trip_and_secrecy(key: PseudonymKey) -> None:
    assert PseudonymKey.from_text(key.to_text()) == key
    assert "k" * 8 not in repr(key)
    with pytest.raises(ConfigError):
        PseudonymKey(1, b"short")
    with pytest.raises(ConfigError):
        PseudonymKey.from_text("nonsense")


def test_document_hash_needs_the_salt() -> None:
    salt = new_salt()
    doc = b"referral note"
    assert document_hash(salt, doc) == document_hash(salt, doc)
    assert document_hash(new_salt(), doc) != document_hash(salt, doc)
    assert re.fullmatch(r"[0-9a-f]{64}", document_hash(salt, doc))


def test_only_declared_attributes_within_bounds_are_accepted(key: PseudonymKey) -> None:
    every = {name: "x" for name in IDENTITY_ATTRIBUTES} | {"date_of_birth": "1991-03-14"}
    assert key.pseudonym(every)
    for attributes in (
        {"given_name": "x", "shoe_size": "42"},
        {"given_name": "x" * (MAX_ATTRIBUTE_CHARS + 1)},
        every | {"extra": "x"},
    ):
        with pytest.raises(PseudonymError):
            key.pseudonym(attributes)


def test_a_key_file_that_is_not_text_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "pseudonym.key"
    path.write_bytes(b"\xff\xfe1:" + bytes(40))
    with pytest.raises(ConfigError, match="cannot read pseudonymisation key"):
        PseudonymKey.load(path)
