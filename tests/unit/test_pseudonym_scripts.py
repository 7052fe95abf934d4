"""Pseudonymous IDs over the scripts people are registered in: one person typed two ways
at two service points keeps one ID (a split defeats deduplication), and two people
never share one (a merge shows one the other's history and consents)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata

import pytest

from ledger_gw.pseudonym import PseudonymError, PseudonymKey

FATIMA = {"given_name": "فاطمة", "family_name": "الحسن", "date_of_birth": "1991-03-14"}
SECRET = b"k" * 32


@pytest.fixture
def key() -> PseudonymKey:
    return PseudonymKey(1, SECRET)


def _hmac_id(canonical: str, version: int = 1, secret: bytes = SECRET) -> str:
    """The ID over canonical JSON written out by hand, as the scheme defines it."""
    label = f"pid/v1\nk{version}\n".encode()
    digest = hmac.new(secret, label + canonical.encode(), hashlib.sha256).digest()
    return f"k{version}." + base64.b32encode(digest).decode().lower()[:26]


@pytest.mark.parametrize(
    ("name", "typed", "registered"),
    [
        ("given_name", "فَاطِمَة", "فاطمة"),
        ("given_name", "فاطـــمة", "فاطمة"),
        ("given_name", "فاطمه", "فاطمة"),
        ("given_name", "أحمد", "احمد"),
        ("given_name", "إيمان", "ايمان"),
        ("given_name", "آمنة", "امنة"),
        ("given_name", "مصطفي", "مصطفى"),
        ("given_name", "عبد الرحمٰن", "عبد الرحمن"),
        ("family_name", "کریمی", "كريمي"),
        ("given_name", "علی", "علي"),
        ("given_name", "İBRAHİM", "Ibrahim"),
        ("given_name", "i\u0307brahi\u0307m", "ibrahim"),
        ("family_name", "KILIÇ", "Kılıç"),
        ("family_name", "Aydın", "AYDIN"),
        ("given_name", "Fa\u034ftima", "Fatima"),
        ("given_name", "Fatima\ufe0f", "Fatima"),
        ("given_name", "Fa\u3164tima", "Fatima"),
        ("document_number", "١٢٣٤٥٦٧", "1234567"),
        ("document_number", "۱۲۳۴۵۶۷", "1234567"),
        ("date_of_birth", "١٩٩١-٠٣-١٤", "1991-03-14"),
        ("date_of_birth", "\u200f۱۹۹۱-۰۳-۱۴", "1991-03-14"),
    ],
    ids=[
        "harakat",
        "tatweel",
        "ta-marbuta-as-ha",
        "alef-hamza-above",
        "alef-hamza-below",
        "alef-madda",
        "ya-for-alef-maqsura",
        "superscript-alef",
        "persian-kaf-and-ya",
        "persian-ya-final",
        "turkish-dotted-capital-i",
        "turkish-i-lowered-elsewhere",
        "turkish-dotless-i-upper-and-lower",
        "turkish-dotless-i-typed-dotted",
        "combining-grapheme-joiner",
        "variation-selector",
        "hangul-filler",
        "arabic-indic-digits",
        "persian-digits",
        "arabic-indic-date",
        "persian-date-with-rlm",
    ],
)
def test_one_person_typed_two_ways_keeps_one_id(
    key: PseudonymKey, name: str, typed: str, registered: str
) -> None:
    assert key.pseudonym({**FATIMA, name: typed}) == key.pseudonym({**FATIMA, name: registered})


def test_what_case_folding_and_nfkc_already_join_stays_joined(key: PseudonymKey) -> None:
    """German sharp s, decomposed accents and Arabic presentation forms were one
    person before these folds; they stay one."""
    latin = {"given_name": "José", "family_name": "Straße", "date_of_birth": "1991-03-14"}
    assert key.pseudonym(latin) == key.pseudonym(
        {**latin, "given_name": unicodedata.normalize("NFD", "JOSÉ"), "family_name": "STRASSE"}
    )
    forms = {**FATIMA, "given_name": "\ufed3\ufe8e\ufec4\ufee4\ufe94"}  # presentation forms
    assert key.pseudonym(forms) == key.pseudonym(FATIMA)
    assert key.pseudonym({**FATIMA, "given_name": "فاضمة"}) != key.pseudonym(FATIMA)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (
            {"given_name": "Fatima", "family_name": "Al Hassan"},
            {"given_name": "Fatima Al", "family_name": "Hassan"},
        ),
        (
            {"given_name": "فاطمة", "family_name": "الحسن"},
            {"given_name": "فاطمة ال", "family_name": "حسن"},
        ),
        ({"given_name": 'a","family_name":"b'}, {"given_name": "a", "family_name": "b"}),
        ({"given_name": "a\\", "family_name": "b"}, {"given_name": "a", "family_name": "\\b"}),
        ({"given_name": "Fatima"}, {"given_name": "Fatima", "middle_name": "-"}),
        ({"given_name": "حسن"}, {"given_name": "حسين"}),
        ({"given_name": "علي"}, {"given_name": "عليه"}),
        ({"given_name": "نزيه"}, {"given_name": "نزيهة"}),
        ({"given_name": "Ali"}, {"given_name": "Alia"}),
        ({"document_number": "١٢"}, {"document_number": "21"}),
    ],
    ids=[
        "field-boundary",
        "field-boundary-arabic",
        "quote-injection",
        "backslash",
        "attribute-present-or-not",
        "hasan-husayn",
        "ali-alia",
        "nazih-naziha",
        "latin-ali-alia",
        "digits-keep-their-order",
    ],
)
def test_two_people_never_share_an_id(
    key: PseudonymKey, one: dict[str, str], other: dict[str, str]
) -> None:
    """Attributes are encoded as canonical JSON, each value a quoted, escaped string
    under its own name: no two tuples meet in the same bytes, whatever they hold."""
    assert key.pseudonym(one) != key.pseudonym(other)


def test_the_ids_given_before_these_folds_are_still_looked_up(key: PseudonymKey) -> None:
    """A name typed with harakat and a right-to-left mark was given, before these folds,
    the ID of its vowelled spelling; before invisible characters were folded, the ID with
    the mark. Both are looked up, after the one it derives now, under every version."""
    typed = {**FATIMA, "given_name": "فَاطِمَة\u200f"}
    now = '{"date_of_birth":"1991-03-14","family_name":"الحسن","given_name":"فاطمه"}'
    vowelled = now.replace("فاطمه", "فَاطِمَة")
    marked = now.replace("فاطمه", "فَاطِمَة\u200f")
    assert key.pseudonym(typed) == _hmac_id(now)
    assert key.pseudonyms(typed) == (_hmac_id(now), _hmac_id(vowelled), _hmac_id(marked))
    ring = key.rotated()
    assert ring.pseudonyms(typed) == (
        *(_hmac_id(form, 2, ring.secret) for form in (now, vowelled, marked)),
        *key.pseudonyms(typed),
    )
    assert key.pseudonyms(FATIMA) == (
        _hmac_id(now),
        _hmac_id(now.replace("فاطمه", "فاطمة")),
    )


def test_a_date_only_these_folds_read_had_no_earlier_id(key: PseudonymKey) -> None:
    """A birth date in Arabic-Indic digits was refused before: it was given no ID then."""
    typed = {**FATIMA, "given_name": "Fatima", "date_of_birth": "١٩٩١-٠٣-١٤"}
    assert key.pseudonyms(typed) == (key.pseudonym({**typed, "date_of_birth": "1991-03-14"}),)


@pytest.mark.parametrize(
    "value", ["\u064e\u0650", "\u0640\u0640", "\ufe0f\u034f"], ids=["harakat", "tatweel", "marks"]
)
def test_a_value_of_marks_alone_is_empty(key: PseudonymKey, value: str) -> None:
    with pytest.raises(PseudonymError, match="given_name is empty"):
        key.pseudonym({**FATIMA, "given_name": value})
