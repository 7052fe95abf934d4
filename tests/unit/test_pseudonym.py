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
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="cannot read pseudonymisation key"):
        PseudonymKey.load(path)


def _key_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_a_one_line_key_file_loads_and_rotates_into_a_ring(
    tmp_path: Path, key: PseudonymKey
) -> None:
    """A file from before rotations: its one line is the current version alone. Rotated,
    it stays, byte for byte, as the earlier version; the new one is current."""
    one_line = f"1:{base64.b64encode(b'k' * 32).decode()}\n"
    path = _key_file(tmp_path / "pseudonym.key", one_line)
    assert PseudonymKey.load(path) == key
    rotated = PseudonymKey.load(path).rotated()
    _key_file(path, rotated.to_text())
    ring = PseudonymKey.load(path)
    assert ring == rotated
    assert (ring.version, ring.earlier) == (2, (key,))
    assert path.read_text().startswith(one_line)
    assert len(path.read_text().splitlines()) == 2
    assert ring.pseudonym(FATIMA).startswith("k2.")
    assert ring.secret != key.secret
    assert "k" * 8 not in repr(ring)
    assert ring.rotated().earlier == (key, PseudonymKey(2, ring.secret))


def test_the_ids_given_are_every_version_folded_and_not(key: PseudonymKey) -> None:
    """Her registration may hold any ID her attributes were given: under the current
    version or an earlier one, folded or derived before invisible characters were."""
    ring = key.rotated()
    typed = {**FATIMA, "given_name": "Fatima\u200f"}
    given = ring.pseudonyms(typed)
    assert len(given) == len(set(given)) == 4
    assert given[0] == ring.pseudonym(typed) == ring.pseudonym(FATIMA)
    assert given[2] == key.pseudonym(typed) == key.pseudonym(FATIMA)
    assert [pid[:3] for pid in given] == ["k2.", "k2.", "k1.", "k1."]
    assert ring.pseudonyms(FATIMA) == (ring.pseudonym(FATIMA), key.pseudonym(FATIMA))
    assert key.pseudonyms(FATIMA) == (key.pseudonym(FATIMA),)


def test_a_key_file_others_may_read_or_write_is_refused(tmp_path: Path, key: PseudonymKey) -> None:
    """As ssh refuses such a private key: whoever reads it reverses every ID."""
    for mode in (0o644, 0o640, 0o604, 0o620, 0o602, 0o666):
        path = _key_file(tmp_path / f"{mode:o}.key", key.to_text(), mode)
        where = re.escape(str(path))
        with pytest.raises(ConfigError, match=rf"{where}.*\(mode 0{mode:o}\).*chmod 600 {where}"):
            PseudonymKey.load(path)
    for mode in (0o600, 0o400):
        assert PseudonymKey.load(_key_file(tmp_path / f"{mode:o}.key", key.to_text(), mode)) == key


ONE = base64.b64encode(b"k" * 32).decode()
TWO = base64.b64encode(b"j" * 32).decode()


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (f"1:{ONE}\n1:{TWO}\n", "each appear once, increasing, the current one last: found 1, 1"),
        (f"2:{ONE}\n1:{TWO}\n", "each appear once, increasing, the current one last: found 2, 1"),
        (f"1:{ONE}\n2:{TWO}\n2:{ONE}\n", "found 1, 2, 2"),
        (f"1:{ONE}\nnonsense\n", "line 2 must read VERSION:BASE64"),
        (f"1:{ONE}\n\n2:{TWO}\n", "line 2 must read VERSION:BASE64"),
        (f"1:{ONE}\n2:{TWO[:-2]}!!\n", "line 2 must read VERSION:BASE64"),
        (f"1:{ONE}\nx:{TWO}\n", "line 2 must read VERSION:BASE64"),
        ("", "line 1 must read VERSION:BASE64"),
    ],
    ids=[
        "duplicate",
        "decreasing",
        "duplicate-current",
        "malformed",
        "blank",
        "base64",
        "version",
        "empty",
    ],
)
def test_a_ring_with_duplicate_unordered_or_malformed_versions_is_refused(
    tmp_path: Path, text: str, error: str
) -> None:
    path = _key_file(tmp_path / "pseudonym.key", text)
    with pytest.raises(ConfigError, match=f"{re.escape(str(path))}: .*{re.escape(error)}"):
        PseudonymKey.load(path)


def test_an_earlier_version_holds_no_earlier_ones_of_its_own(key: PseudonymKey) -> None:
    with pytest.raises(ConfigError, match="each appear once, increasing"):
        PseudonymKey(3, b"i" * 32, (key.rotated(),))
