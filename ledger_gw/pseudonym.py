"""Pseudonymous IDs and keyed document hashes, computed inside the agency.

A plain hash of a name and birth date is reversible by enumeration, so IDs are
HMAC-SHA-256 under the consortium's secret pseudonymisation key, over attributes
canonicalised so that spelling noise does not split a person in two. The key's
version is part of the ID so that keys can rotate: the key file keeps the earlier
versions, under which a person registered before a rotation is still found. Document
hashes are keyed by a random per-document salt kept off-chain: erasing the salt
unlinks the ledger.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import secrets
import unicodedata
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, hmac

from chaincode.canonical import canonical_json
from ledger_gw.errors import ConfigError, ValidationError
from ledger_gw.files import read_secret

KEY_BYTES = 32
SALT_BYTES = 32
#: The code of a key file's refusals: what it holds is not the key ring it must be.
KEY_INVALID = "pseudonym_key_invalid"
_ID_CHARS = 26  # 130 bits of base32: collisions are out of reach
_WHITESPACE = re.compile(r"\s+")
_ATTRIBUTE = re.compile(r"[a-z][a-z0-9_]{0,31}")

#: The identity attributes a pseudonymous ID may be derived from. A closed set keeps the
#: derivation's cost and the off-chain record's size bounded, and keeps the same person
#: from being split by ad-hoc field names.
IDENTITY_ATTRIBUTES = frozenset(
    {
        "given_name",
        "middle_name",
        "family_name",
        "father_name",
        "mother_name",
        "date_of_birth",
        "place_of_birth",
        "sex",
        "nationality",
        "document_number",
    }
)
MAX_ATTRIBUTES = len(IDENTITY_ATTRIBUTES)
MAX_ATTRIBUTE_CHARS = 200
HELD_ID = re.compile(r"h\.[a-z2-7]{26}")


class PseudonymError(ValidationError):
    code = "invalid_identity_attributes"


class AmbiguousIdentityError(PseudonymError):
    code = "ambiguous_identity"


#: Attributes that tell apart two people of one name and birth date.
DISTINGUISHING = frozenset({"father_name", "mother_name", "place_of_birth", "document_number"})


def check_distinguishable(attributes: Mapping[str, str]) -> None:
    """Many registries record a birth date they do not know as 1 January, so people of
    one name with that date would share a new ID, and each be shown the other's history,
    consents and grants. Such an ID needs an attribute that tells them apart."""
    born = attributes.get("date_of_birth")
    if born is None or DISTINGUISHING & attributes.keys():
        return
    if canonical_attribute("date_of_birth", born).endswith("-01-01"):
        raise AmbiguousIdentityError(
            "a birth date of 1 January is often one recorded for an unknown date: give "
            f"one of {', '.join(sorted(DISTINGUISHING))} too, or a person-held ID"
        )


def _hmac(key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().lower()[:_ID_CHARS]


# Hyphens and dashes a keyboard, a word processor or a copy from a document puts where
# a caseworker meant "-" (NFKC leaves them apart); one person's name, one spelling.
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"))

# Marks a name is written with or without and still read the same: Arabic vowel signs
# (harakat), Quranic annotation marks and the tatweel that only stretches a line; and
# the default-ignorable marks and fillers that draw nothing (combining grapheme joiner,
# variation selectors, Hangul fillers, Mongolian and Khmer ones).
_UNWRITTEN = re.compile(
    "[\u0610-\u061a\u0640\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed"
    "\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\U000e0100-\U000e01ef]"
)
# Letters one name is typed with in more than one way: an alef with hamza or madda or
# without, ta marbuta or ha, alef maqsura or ya, the kaf and ya a Persian keyboard types
# (other code points than an Arabic one's), and Turkish dotted I and dotless i, which
# case folding leaves apart from i ("İBRAHİM" on a Turkish card, "Ibrahim" typed).
_SPELLINGS = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ة": "ه",
        "ى": "ي",
        "ی": "ي",
        "ک": "ك",
        "İ": "i",
        "ı": "i",
    }
)
_DIGIT = re.compile(r"[^\D0-9]")  # a decimal digit of another script: Arabic-Indic, Persian…

#: The folds IDs are derived with now. Those given before were derived with fewer: 0,
#: before invisible characters and dashes were folded; 1, before the marks, spellings and
#: digits above were; 2, before invisible characters were dropped ahead of NFKC, when one
#: between a letter and its accent kept them apart. A registration made under any is
#: found (`PseudonymKey.pseudonyms`).
FOLDS = 3


def _visible(text: str) -> str:
    """Without the characters nobody sees: format characters (a right-to-left mark that
    an Arabic keyboard or a copy adds, a zero-width space, a soft hyphen) and controls
    other than whitespace. Typed or not, they must not make her another person."""
    return "".join(c for c in text if c.isspace() or unicodedata.category(c) not in ("Cf", "Cc"))


def _spelled(text: str) -> str:
    """One spelling of what is read the same: marks that draw nothing or only vowels
    dropped, variant letters as one, digits as ASCII ("١٩٨٧" is 1987). Each of these is
    written both ways for one name; none tells two names apart."""
    text = _UNWRITTEN.sub("", text).translate(_SPELLINGS).replace("i\u0307", "i")
    return _DIGIT.sub(lambda digit: str(unicodedata.decimal(digit[0])), text)


def canonical_attribute(name: str, value: str, *, folds: int = FOLDS) -> str:
    """Invisible characters dropped, then NFKC (so that none holds a letter and its
    accent apart), unwritten marks dropped, dashes as "-", variant letters and digits as
    one, case-folded, whitespace collapsed; dates (names ending in _date) as ISO dates.
    ``folds`` below FOLDS: as IDs were derived before some folds."""
    if folds >= 3:  # before composing: "e", a zero-width joiner, "\u0301" is "é"
        value = _visible(value)
    text = unicodedata.normalize("NFKC", value)
    if folds >= 1:
        text = _visible(text).translate(_DASHES)
    if folds >= 2:
        text = _spelled(text)
    text = _WHITESPACE.sub(" ", text).strip().casefold()
    if name.endswith("_date") or name == "date_of_birth":
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise PseudonymError(f"{name} must be an ISO date (YYYY-MM-DD)") from None
    return text


def check_bounds(attributes: Mapping[str, object]) -> None:
    """Refuse too many attributes, undeclared names and long values before any work."""
    if len(attributes) > MAX_ATTRIBUTES:
        raise PseudonymError(f"at most {MAX_ATTRIBUTES} identity attributes are accepted")
    for name, value in attributes.items():
        if not isinstance(name, str) or not _ATTRIBUTE.fullmatch(name):
            raise PseudonymError(f"attribute name {name!r} is not a lowercase identifier")
        if name not in IDENTITY_ATTRIBUTES:
            raise PseudonymError(
                f"attribute {name} is not one of {', '.join(sorted(IDENTITY_ATTRIBUTES))}"
            )
        if isinstance(value, str) and len(value) > MAX_ATTRIBUTE_CHARS:
            raise PseudonymError(
                f"attribute {name} is longer than {MAX_ATTRIBUTE_CHARS} characters"
            )


def canonical_attributes(attributes: Mapping[str, str], *, folds: int = FOLDS) -> bytes:
    if not attributes:
        raise PseudonymError("at least one identity attribute is needed")
    check_bounds(attributes)
    clean: dict[str, str] = {}
    for name, value in attributes.items():
        if not isinstance(value, str):
            raise PseudonymError(f"attribute {name} must be text")
        clean[name] = canonical_attribute(name, value, folds=folds)
        if not clean[name]:
            raise PseudonymError(f"attribute {name} is empty")
    return canonical_json(clean)


@dataclass(frozen=True)
class PseudonymKey:
    """The consortium's secret key for the current version of the pseudonymous ID
    scheme, with the earlier versions it replaced (oldest first): new IDs derive under
    the current one, and a person registered under an earlier one is still found."""

    version: int
    secret: bytes
    earlier: tuple[PseudonymKey, ...] = ()

    def __post_init__(self) -> None:
        if not 0 < self.version < 1000:
            raise ConfigError("pseudonymisation key version must be 1..999", code=KEY_INVALID)
        if len(self.secret) < KEY_BYTES:
            raise ConfigError(
                f"pseudonymisation key must have at least {KEY_BYTES} bytes", code=KEY_INVALID
            )
        versions = [key.version for key in self.earlier] + [self.version]
        found = ", ".join(map(str, versions))
        if any(key.earlier for key in self.earlier) or versions != sorted(set(versions)):
            raise ConfigError(
                "pseudonymisation key versions must each appear once, increasing, the "
                f"current one last: found {found}",
                code=KEY_INVALID,
            )
        # Each version after the first was made by a rotation from the one before.
        missing = sorted(set(range(versions[0], self.version)) - set(versions))
        if missing:
            raise ConfigError(
                f"pseudonymisation key lacks version {', '.join(map(str, missing))} (found "
                f"{found}): the people registered under it would not be found, and each "
                "would be registered again; put its line back",
                code=KEY_INVALID,
            )

    def __repr__(self) -> str:  # never print the secret
        earlier = [key.version for key in self.earlier]
        return f"PseudonymKey(version={self.version}, earlier={earlier})"

    def pseudonym(self, attributes: Mapping[str, str]) -> str:
        return self._derived(canonical_attributes(attributes))

    def pseudonyms(self, attributes: Mapping[str, str]) -> tuple[str, ...]:
        """Every ID these attributes may have been given, the one they derive now first:
        under each key version (the current, then the earlier ones, newest first), as
        canonicalised now and with each earlier set of folds (`FOLDS`). A registration
        made under any holds it, and must still be found, not made again."""
        forms = [canonical_attributes(attributes)]
        for folds in reversed(range(FOLDS)):
            with suppress(PseudonymError):  # empty, or no ISO date, then: no ID was derived
                forms.append(canonical_attributes(attributes, folds=folds))
        ring = (self, *reversed(self.earlier))
        return tuple(key._derived(form) for key in ring for form in dict.fromkeys(forms))

    def _derived(self, canonical: bytes) -> str:
        label = f"pid/v1\nk{self.version}\n".encode()  # the version is bound into the MAC
        return f"k{self.version}.{_b32(_hmac(self.secret, label + canonical))}"

    @classmethod
    def generate(cls, version: int = 1) -> PseudonymKey:
        return cls(version, secrets.token_bytes(KEY_BYTES))

    def rotated(self) -> PseudonymKey:
        """The next version, with a new secret, current; this one kept as an earlier one."""
        return PseudonymKey(
            self.version + 1,
            secrets.token_bytes(KEY_BYTES),
            (*self.earlier, PseudonymKey(self.version, self.secret)),
        )

    def to_text(self) -> str:
        """One ``VERSION:BASE64`` line a version, the oldest first, the current last."""
        return "".join(
            f"{key.version}:{base64.b64encode(key.secret).decode()}\n"
            for key in (*self.earlier, self)
        )

    @classmethod
    def from_text(cls, text: str) -> PseudonymKey:
        """The ring `to_text` writes; a file of one line (before any rotation) holds the
        current version alone."""
        ring = [_key_line(number, line) for number, line in enumerate(text.strip().split("\n"), 1)]
        return cls(ring[-1].version, ring[-1].secret, tuple(ring[:-1]))

    @classmethod
    def load(cls, path: Path) -> PseudonymKey:
        """The key file's ring, refused if its group or others may read or write it, as
        ssh refuses such a private key: whoever reads it can reverse every ID by
        enumeration, and whoever writes it can split every person in two."""
        data = read_secret(path, "pseudonymisation key")
        try:
            return cls.from_text(data.decode())
        except UnicodeDecodeError as exc:  # binary: not a key file
            raise ConfigError(
                f"cannot read pseudonymisation key {path}: {exc}", code=KEY_INVALID
            ) from exc
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}", code=exc.code) from None


# ASCII digits only: int() would read "1_0" as version 10, under which every ID differs.
_KEY_LINE = re.compile(r"([0-9]{1,9}):(.*)")


def _key_line(number: int, line: str) -> PseudonymKey:
    matched = _KEY_LINE.fullmatch(line.strip())
    secret = None
    if matched is not None:
        with suppress(ValueError):  # not base64 (binascii.Error), whitespace inside too
            secret = base64.b64decode(matched[2], validate=True)
    if matched is None or secret is None:  # no part of the line in the error: it is secret
        raise ConfigError(
            f"pseudonymisation key line {number} must read VERSION:BASE64", code=KEY_INVALID
        )
    return PseudonymKey(int(matched[1]), secret)


def new_held_id() -> str:
    """A random ID a person carries (card, QR code): it encodes nothing about her."""
    return "h." + _b32(os.urandom(17))


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def document_hash(salt: bytes, document: bytes) -> str:
    """Keyed hash of an off-chain document; without the salt it links to nothing."""
    return _hmac(salt, document).hex()
