"""The consortium's pseudonymisation key over its life, against careless and hostile
hands: after a rotation a person is still one person at every agency (not only at the
one that registered her), a key file that is not the ring it must be is refused with a
code of its own and never read as another key, an older copy of it put back is
refused at start, and the IDs stay a keyed PRF over an unambiguous encoding.

Real gateways on a real SQLite ledger and off-chain stores, the real `ledger-gw
pseudonym-key rotate`, real files."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes, hmac

from chaincode.canonical import canonical_json
from ledger_gw.bootstrap import open_gateway
from ledger_gw.cli import cli
from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import ConfigError, RejectedError, UnavailableError
from ledger_gw.interfaces import Ledger
from ledger_gw.pseudonym import KEY_BYTES, PseudonymKey
from ledger_gw.services import events, queries, registrations
from ledger_gw.services.access import Caller, Role
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import Workspace
from tests.support.events import consent_granted, entitlement_granted

ORGS = ("AGENCY-A", "AGENCY-C")
A = Caller("t", "AGENCY-A", Role.AGENCY_WRITER)
C = Caller("t", "AGENCY-C", Role.AGENCY_WRITER)
FATIMA = {"given_name": "Fatima", "family_name": "Al-Hassan", "date_of_birth": "1991-03-14"}
OMAR = {"given_name": "Omar", "family_name": "Haddad", "date_of_birth": "1987-11-02"}
LAYLA = {"given_name": "Layla", "family_name": "Nasser", "date_of_birth": "1979-06-21"}


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pkey") / "ws"
    Workspace.create(root, DEMO)
    return root


@pytest.fixture
def config(consortium: Path, tmp_path: Path) -> GatewayConfig:
    """The module's consortium copied for this test (its key file rotates), modes kept."""
    directory = tmp_path / "ws"
    shutil.copytree(consortium, directory)
    return GatewayConfig(
        directory=directory,
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        offchain_url=f"sqlite:///{tmp_path}/offchain-{{org}}.db",
        orgs=ORGS,
    )


Start = Callable[[], Gateway]


@pytest.fixture
def start(config: GatewayConfig) -> Iterator[Start]:
    """A gateway started on the files as they are now (it reads the key file as it
    starts): one for each restart the test makes, each closed at the end."""
    opened: list[Gateway] = []

    def make() -> Gateway:
        gateway = open_gateway(config)
        opened.append(gateway)
        return gateway

    yield make
    for gateway in opened:
        gateway.close()


def _rotate(config: GatewayConfig) -> None:
    out = CliRunner().invoke(cli, ["pseudonym-key", "rotate", "--dir", str(config.directory)])
    assert out.exit_code == 0, out.output


def _key_file(config: GatewayConfig) -> Path:
    return config.directory / "pseudonym.key"


# --- 1. rotation: one person at every agency --------------------------------------------


def test_after_a_rotation_another_agency_finds_her_under_the_id_her_grant_is_under(
    config: GatewayConfig, start: Start
) -> None:
    """AGENCY-A registered her and gave her cash before the rotation. After it, AGENCY-C
    looking her up by her attributes gets the ID the ledger holds her grant under, sees
    the grant before giving, registers her under it, and its own grant is flagged a
    possible duplicate of AGENCY-A's. Under the new version's ID (as before the fix) it
    saw nothing, and the contract flagged nothing."""
    before = start()
    fatima = registrations.register(before, A, FATIMA)["pid"]
    events.submit(before, A, consent_granted(fatima))
    grant, _ = events.submit(before, A, entitlement_granted(fatima))
    _rotate(config)
    after = start()

    typed = {**FATIMA, "given_name": " FATIMA "}
    assert registrations.keyed_pid(after, C, typed) == fatima
    seen = queries.entitlements(after, C, fatima, "deduplication")["entitlements"]
    assert [e["entitlement_id"] for e in seen] == [grant["entitlement_id"]]
    assert registrations.register(after, C, typed)["pid"] == fatima
    mine, _ = events.submit(after, C, entitlement_granted(fatima))
    assert mine["possible_duplicate_of"] == [grant["entitlement_id"]]
    # Not one person twice at AGENCY-A either.
    with pytest.raises(RejectedError, match="already registered"):
        registrations.register(after, A, typed)

    # Someone the ledger holds nothing of gets an ID under the new version.
    omar = registrations.register(after, C, OMAR)["pid"]
    assert omar.startswith("k2.")
    assert registrations.keyed_pid(after, A, OMAR) == omar  # and A finds him by it


def test_events_she_did_not_consent_to_show_still_tell_which_id_she_has(
    config: GatewayConfig, start: Start
) -> None:
    """AGENCY-C may not see AGENCY-A's grant without her consent, but the ledger holds
    it: her ID there is the one she keeps, so that a later consent, or the contract's
    own duplicate check, links the two agencies' records."""
    before = start()
    layla = registrations.register(before, A, LAYLA)["pid"]
    events.submit(before, A, entitlement_granted(layla))
    _rotate(config)
    after = start()
    found = queries.history(after, C, layla, "deduplication")
    assert (found["events"], found["withheld"]) == ([], 1)
    assert registrations.keyed_pid(after, C, LAYLA) == layla
    assert registrations.register(after, C, LAYLA)["pid"] == layla


def test_registered_after_the_rotation_she_is_found_under_the_new_version(
    config: GatewayConfig, start: Start
) -> None:
    """The current version's ID is looked at first: a person AGENCY-A registered under
    it is given that one at AGENCY-C, not an earlier one."""
    start()
    _rotate(config)
    after = start()
    omar = registrations.register(after, A, OMAR)["pid"]
    events.submit(after, A, entitlement_granted(omar))
    assert omar.startswith("k2.")
    assert registrations.register(after, C, OMAR)["pid"] == omar


def test_while_the_ledger_cannot_be_read_she_is_still_registered(
    config: GatewayConfig, start: Start
) -> None:
    """A log node out of reach stops no registration: she gets the current version's
    ID, as the README says, and is found by it at this agency afterwards."""
    start()
    _rotate(config)

    def out_of_reach() -> Ledger:
        raise UnavailableError("the log node cannot be reached", code="log_node_unreachable")

    offline = replace(start(), open_ledger=out_of_reach)
    omar = registrations.register(offline, C, OMAR)["pid"]
    assert omar.startswith("k2.")
    assert registrations.keyed_pid(offline, C, OMAR) == omar


# --- 2. the key file ---------------------------------------------------------------------

ONE = base64.b64encode(b"k" * KEY_BYTES).decode()
TWO = base64.b64encode(b"j" * KEY_BYTES).decode()
URLSAFE = base64.urlsafe_b64encode(b"\xff" * KEY_BYTES).decode()
RING = PseudonymKey(2, b"j" * KEY_BYTES, (PseudonymKey(1, b"k" * KEY_BYTES),))


def _written(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_bytes(text.encode())
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    "text",
    [
        f"1:{ONE}\n1_0:{TWO}\n",  # int() reads version 10
        f"1:{ONE}\n+2:{TWO}\n",
        f"1:{ONE}\n\u0662:{TWO}\n",  # an Arabic-Indic 2
        f"1:{ONE}\n2 :{TWO}\n",
        f"1:{ONE}\n2: {TWO}\n",
        f"1:{ONE}\n2:{TWO[:20]} {TWO[20:]}\n",  # whitespace inside the base64
        f"1:{ONE}\n2:{TWO.rstrip('=')}\n",  # padding lost
        f"1:{ONE}\n2:{URLSAFE}\n",
        f"1:{ONE}\n\n2:{TWO}\n",  # an empty line between two versions
        f"\ufeff1:{ONE}\n",  # a byte-order mark a Windows editor wrote
        f"1:{ONE}\r2:{TWO}\r",  # old Mac line ends: one line
        f"1:{base64.b64encode(b'k' * (KEY_BYTES - 1)).decode()}\n",  # too short
        f"2:{ONE}\n1:{TWO}\n",  # out of order
        f"1:{ONE}\n2:{TWO}\n2:{TWO}\n",  # a version twice
        f"1:{ONE}\n3:{TWO}\n",  # a version lost
        f"0:{ONE}\n",
        "",
    ],
    ids=[
        "underscore-version",
        "signed-version",
        "arabic-digit-version",
        "space-before-colon",
        "space-after-colon",
        "space-inside-base64",
        "no-padding",
        "urlsafe-base64",
        "empty-line-between",
        "bom",
        "cr-line-ends",
        "short-key",
        "out-of-order",
        "version-twice",
        "version-lost",
        "version-zero",
        "empty-file",
    ],
)
def test_a_key_file_that_is_not_the_ring_is_refused_with_its_own_code(
    tmp_path: Path, text: str
) -> None:
    """Never read as another key: every ID derived from then on would differ. The code
    says which file to look at, and the message holds no part of a key."""
    path = _written(tmp_path / "pseudonym.key", text)
    with pytest.raises(ConfigError) as refused:
        PseudonymKey.load(path)
    assert refused.value.code == "pseudonym_key_invalid"
    assert str(path) in str(refused.value)
    for secret in (ONE, TWO, ONE[:20], TWO[20:]):
        assert secret not in str(refused.value)


@pytest.mark.parametrize(
    "text",
    [
        RING.to_text(),
        RING.to_text().replace("\n", "\r\n"),  # saved on Windows
        RING.to_text().replace("\n", "  \n"),  # trailing spaces
        f"\n{RING.to_text()}\n\n",  # blank lines around
    ],
    ids=["as-written", "crlf", "trailing-spaces", "blank-lines-around"],
)
def test_what_an_editor_adds_around_the_lines_reads_the_same_ring(
    tmp_path: Path, text: str
) -> None:
    assert PseudonymKey.load(_written(tmp_path / "pseudonym.key", text)) == RING


def test_a_symlink_is_followed_and_the_mode_judged_is_the_files_it_names(
    tmp_path: Path,
) -> None:
    """As a mounted secret is (a symlink into the volume): the file it names must be
    its owner's only."""
    target = _written(tmp_path / "real.key", RING.to_text())
    link = tmp_path / "pseudonym.key"
    link.symlink_to(target)
    assert PseudonymKey.load(link) == RING
    target.chmod(0o644)
    with pytest.raises(ConfigError) as refused:
        PseudonymKey.load(link)
    assert refused.value.code == "key_not_private"


def test_a_key_longer_than_needed_is_its_own_key(tmp_path: Path) -> None:
    """Longer keys are accepted (HMAC takes any length), each one key: not cut to 32."""
    longer = PseudonymKey.load(
        _written(tmp_path / "pseudonym.key", f"1:{base64.b64encode(b'k' * 48).decode()}\n")
    )
    assert longer.pseudonym(FATIMA) != PseudonymKey(1, b"k" * KEY_BYTES).pseudonym(FATIMA)


def test_an_older_copy_of_the_key_file_put_back_is_refused_at_start(
    config: GatewayConfig, start: Start
) -> None:
    """Put back from before the rotation, the file's current version is k1 again: new
    IDs would be derived under the key the consortium left, and she, registered under
    k2 here, would be registered again. The registrations tell: refused, by pid or by
    alias (after a correction)."""
    older = _key_file(config).read_bytes()
    _rotate(config)
    registrations.register(start(), A, OMAR)  # k2.
    newer = _key_file(config).read_bytes()
    _written(_key_file(config), older.decode())
    with pytest.raises(ConfigError) as refused:
        start()
    assert refused.value.code == "pseudonym_key_rolled_back"
    assert "k2, newer than k1" in str(refused.value)
    assert "AGENCY-A" in str(refused.value)
    _written(_key_file(config), newer.decode())
    assert registrations.keyed_pid(start(), A, OMAR).startswith("k2.")


def test_a_k2_alias_tells_an_older_copy_too(config: GatewayConfig, start: Start) -> None:
    older = _key_file(config).read_bytes()
    fatima = registrations.register(start(), A, FATIMA)
    _rotate(config)
    corrected = {**FATIMA, "family_name": "Al-Hasan"}
    registrations.correct(start(), A, fatima["person_id"], corrected)  # k2. aliases
    _written(_key_file(config), older.decode())
    with pytest.raises(ConfigError) as refused:
        start()
    assert refused.value.code == "pseudonym_key_rolled_back"


# --- 3. normalisation ---------------------------------------------------------------------

KEY = PseudonymKey(1, b"k" * KEY_BYTES)


def _pid(given: str) -> str:
    return KEY.pseudonym(
        {"given_name": given, "family_name": "Haddad", "date_of_birth": "1990-05-01"}
    )


@pytest.mark.parametrize(
    ("typed", "registered"),
    [
        ("مُحَمَّد", "محمد"),  # harakat
        ("أحمد", "احمد"),  # alef with hamza
        ("عائشة", "عائشه"),  # ta marbuta
        ("علی", "علي"),  # Persian ya
        ("مصطفى", "مصطفي"),  # alef maqsura
        ("\u200fفاطمة", "فاطمة"),  # a right-to-left mark
        ("Nguye\u0302\u0303n", "Nguyễn"),  # decomposed
        ("ЮЛИЯ", "Юлия"),
        ("İBRAHİM", "Ibrahim"),
        ("Ｆａｔｉｍａ", "Fatima"),
        ("Al\u2011Hassan", "Al-Hassan"),  # a non-breaking hyphen
    ],
)
def test_what_the_readme_folds_is_one_person(typed: str, registered: str) -> None:
    assert _pid(typed) == _pid(registered)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("José", "Jose"),  # diacritics are not folded: the README does not say so
        ("Müller", "Muller"),
        ("Łukasz", "Lukasz"),
        ("Фёдор", "Федор"),
        ("Иван", "Ivan"),
        ("Ivan", "Ivаn"),  # a Cyrillic а among Latin letters
        ("Юлия", "Юлія"),
        ("محمد", "محمود"),
        ("فائزة", "فايزة"),  # ya with hamza is a letter of its own
        ("Abdul Rahman", "AbdulRahman"),
        ("Иван", "Петр"),  # nothing non-ASCII dropped
        ("محمد", "علي"),
    ],
)
def test_two_names_the_readme_does_not_fold_are_two_people(one: str, other: str) -> None:
    assert _pid(one) != _pid(other)


def test_dates_are_one_day_however_its_digits_are_written() -> None:
    def born(date: str) -> str:
        return KEY.pseudonym({**FATIMA, "date_of_birth": date})

    assert born("1991-03-14") == born("١٩٩١-٠٣-١٤") == born("۱۹۹۱-۰۳-۱۴") == born(" 1991-03-14")
    assert born("1991-03-14") != born("1991-03-15")
    for other in ("14/03/1991", "1991-3-14", "March 14, 1991"):
        with pytest.raises(RejectedError, match="ISO date"):
            born(other)


# --- 4. the ID: a keyed PRF over an unambiguous encoding --------------------------------


def test_the_id_is_hmac_sha256_under_the_version_over_canonical_json() -> None:
    """Recomputed here with `cryptography`: without the secret, nothing of the
    attributes can be learnt from it but by breaking HMAC-SHA-256."""
    mac = hmac.HMAC(b"k" * KEY_BYTES, hashes.SHA256())
    canonical = {"date_of_birth": "1991-03-14", "family_name": "al-hassan", "given_name": "fatima"}
    mac.update(b"pid/v1\nk1\n" + canonical_json(canonical))
    expected = base64.b32encode(mac.finalize()).decode().lower()[:26]
    assert KEY.pseudonym(FATIMA) == f"k1.{expected}"
    assert PseudonymKey(1, b"j" * KEY_BYTES).pseudonym(FATIMA) != KEY.pseudonym(FATIMA)
    assert PseudonymKey(2, b"k" * KEY_BYTES).pseudonym(FATIMA)[3:] != KEY.pseudonym(FATIMA)[3:]


def test_no_two_attribute_sets_share_an_encoding() -> None:
    """Values are JSON strings under their names: nothing moves across a boundary."""
    pairs = [
        ({"given_name": "ab", "family_name": "c"}, {"given_name": "a", "family_name": "bc"}),
        ({"given_name": 'a","family_name":"b'}, {"given_name": "a", "family_name": "b"}),
        ({"given_name": "a b"}, {"given_name": "a", "middle_name": "b"}),
        ({"given_name": "x", "father_name": "y"}, {"given_name": "x", "mother_name": "y"}),
    ]
    for one, other in pairs:
        assert KEY.pseudonym(one) != KEY.pseudonym(other)
