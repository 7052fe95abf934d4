"""A careless or dishonest party against the pseudonymous ID's promises: one person
typed with characters nobody sees keeps one ID, two people never share one, a key file
that lost a version is refused, and no refusal repeats what it was given."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from pathlib import Path

import pytest

from ledger_gw.errors import ConfigError
from ledger_gw.pseudonym import (
    FOLDS,
    PseudonymError,
    PseudonymKey,
    canonical_attributes,
    document_hash,
    new_salt,
)

FATIMA = {"given_name": "Fatima", "family_name": "Al-Hassan", "date_of_birth": "1991-03-14"}


@pytest.fixture
def key() -> PseudonymKey:
    return PseudonymKey(1, b"k" * 32)


@pytest.mark.parametrize(
    ("typed", "registered"),
    [
        ("Jose\u200d\u0301", "José"),
        ("Jose\u200f\u0301", "José"),
        ("Jose\u00ad\u0301", "José"),
        ("Jose\u200b\u0301", "Jose\u0301"),
        ("Nguye\u2060\u0302\u0303n", "Nguyễn"),
        ("Rene\u200e\u0301e", "Renée"),
        ("\u0438\ufeff\u0306\u0440\u0430", "йра"),
    ],
    ids=["zwj", "rlm", "soft-hyphen", "zwsp-nfd", "word-joiner-two-marks", "lrm", "bom-cyrillic"],
)
def test_a_character_nobody_sees_between_a_letter_and_its_accent_keeps_one_id(
    key: PseudonymKey, typed: str, registered: str
) -> None:
    """Dropped after composing, it had held the letter and its accent apart: the accent
    stayed a mark of its own, and she was another person."""
    assert key.pseudonym({**FATIMA, "given_name": typed}) == key.pseudonym(
        {**FATIMA, "given_name": registered}
    )


def test_the_id_derived_before_that_is_still_looked_up(key: PseudonymKey) -> None:
    """Registered with the accent held apart, she is found under the ID she was given."""
    typed = {**FATIMA, "given_name": "Jose\u200d\u0301"}
    held_apart = canonical_attributes(typed, folds=FOLDS - 1)
    written = '{"date_of_birth":"1991-03-14","family_name":"al-hassan","given_name":"jose\u0301"}'
    assert held_apart == written.encode()
    digest = hmac.new(b"k" * 32, b"pid/v1\nk1\n" + held_apart, hashlib.sha256).digest()
    before = "k1." + base64.b32encode(digest).decode().lower()[:26]
    assert before != key.pseudonym(typed)
    assert before in key.pseudonyms(typed)
    assert key.pseudonyms(FATIMA) == (key.pseudonym(FATIMA),)  # nothing more to look up


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("José", "Jose"),
        ("Jose\u200d\u0301", "Jose"),
        ("Nguyễn", "Nguyen"),
        ("йра", "ира"),
        ("Fatima", "Fаtima"),  # a Cyrillic a: another letter, as a misspelling is
    ],
    ids=["accent", "accent-held-apart", "vietnamese", "short-i", "cyrillic-a"],
)
def test_what_tells_two_names_apart_still_does(key: PseudonymKey, one: str, other: str) -> None:
    assert key.pseudonym({**FATIMA, "given_name": one}) != key.pseudonym(
        {**FATIMA, "given_name": other}
    )


def test_folding_is_done_once_and_for_all(key: PseudonymKey) -> None:
    """What canonicalisation gives, canonicalised again, is the same: no spelling of a
    name is a step away from another's ID."""
    for value in ("Jose\u200d\u0301", "i\u0307brahi\u0307m", "فَاطِمَة\u200f", "Ｆａｔｉｍａ"):
        once = canonical_attributes({"given_name": value})
        again = canonical_attributes({"given_name": once.decode()[15:-2]})
        assert (once, unicodedata.is_normalized("NFC", once.decode())) == (again, True)


def _key_file(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


SECRETS = [base64.b64encode(bytes([c]) * 32).decode() for c in b"abcd"]


@pytest.mark.parametrize(
    ("lines", "missing"),
    [((1, 3), "2"), ((1, 2, 4), "3"), ((1, 4), "2, 3")],
    ids=["middle", "last-earlier", "two"],
)
def test_a_ring_that_lost_an_earlier_version_is_refused(
    tmp_path: Path, lines: tuple[int, ...], missing: str
) -> None:
    """Every version but the first was made by a rotation from the one before: one left
    out (a line lost in a copy, or deleted as a key that leaked) is a version whose
    people would no longer be found, each registered again as someone new."""
    text = "".join(f"{v}:{SECRETS[i]}\n" for i, v in enumerate(lines))
    path = _key_file(tmp_path / "pseudonym.key", text)
    lacks = rf"{re.escape(str(path))}: .*lacks version {missing} \(found "
    with pytest.raises(ConfigError, match=lacks):
        PseudonymKey.load(path)
    with pytest.raises(ConfigError):
        PseudonymKey.from_text(text)


def test_a_ring_of_consecutive_versions_loads_whatever_its_first(tmp_path: Path) -> None:
    """A file whose oldest version is not 1 (one made by hand before rotations kept
    them) still loads: nothing in it says a version is missing."""
    for versions in ((1, 2, 3), (2, 3), (5,)):
        text = "".join(f"{v}:{SECRETS[i]}\n" for i, v in enumerate(versions))
        ring = PseudonymKey.load(_key_file(tmp_path / "pseudonym.key", text))
        assert [k.version for k in (*ring.earlier, ring)] == list(versions)


def test_a_windows_saved_key_file_is_the_same_ring(tmp_path: Path, key: PseudonymKey) -> None:
    ring = key.rotated()
    path = _key_file(tmp_path / "pseudonym.key", ring.to_text().replace("\n", "\r\n"))
    assert PseudonymKey.load(path) == ring


NAME = "Zainab Qutaiba"


@pytest.mark.parametrize(
    "attributes",
    [
        {"given_name": NAME, "date_of_birth": f"{NAME} 1991"},
        {"given_name": "\u200f"},
        {"given_name": NAME * 20},
        {"given_name": NAME, "family_name": 7},
        {"given_name": NAME, "sex": "\u00ad"},
    ],
    ids=["bad-date", "empty", "too-long", "not-text", "invisible-only"],
)
def test_no_refusal_repeats_a_value(key: PseudonymKey, attributes: dict[str, object]) -> None:
    """A refusal's message reaches the caller's problem+json: it names the attribute,
    never what it held."""
    with pytest.raises(PseudonymError) as refused:
        key.pseudonym(attributes)  # type: ignore[arg-type]
    assert "zainab" not in str(refused.value).lower()
    assert "qutaiba" not in str(refused.value).lower()


def test_a_document_hash_tells_nothing_without_its_salt() -> None:
    """Equal documents of two people do not link, and the hash is not one anyone can
    recompute from the document alone."""
    doc = b"Zainab Qutaiba, 1991-03-14, referred for protection"
    one, other = new_salt(), new_salt()
    assert one != other
    assert len(one) == 32
    assert document_hash(one, doc) != document_hash(other, doc)
    plain = {hashlib.sha256(doc).hexdigest(), hashlib.sha3_256(doc).hexdigest()}
    assert document_hash(one, doc) not in plain
    assert document_hash(b"", doc) != document_hash(one, doc)
