"""What the members write into the consortium file by hand: display names shown to
people and exported to IATI, programme codes in the shared vocabulary, the consortium's
name in its log's origin. One check for the TOML definition, the older JSON form, the
consortium file and `ledger-gw member add`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from ledger_gw.consortium import Consortium, Definition, check_profile
from ledger_gw.consortium_toml import load_definition
from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import ConfigError
from ledger_gw.identity import Profile
from ledger_gw.workspace import Workspace
from tests.support.cli import clean_failure, run_cli

MAX_DISPLAY_NAME = 200
TOML = """
name = "east-basin"
[[members]]
id = "RIVER-AID"
role = "agency"
display_name = "River Aid"
[[programmes]]
code = "MPCA-2026"
currency = "KES"
ceiling = "50000"
"""

UNSHOWN = [
    "Ctrl\x01Aid",  # a control character, which XML cannot carry
    "River\x1b[31mAid",  # a terminal escape
    "River Aid\r",
    "River\nAid",
    "River\u2028Aid",  # line separator
    "River\u2029Aid",  # paragraph separator
    "\u202edIA reviR",  # right-to-left override: shows a name other than the stored one
    "River\u200bAid",  # zero-width space
    "River\ufeffAid",  # byte order mark
    "River\udcffAid",  # a lone surrogate: an argument that was not UTF-8
    "River\uffffAid",  # a noncharacter
    "River\u0085Aid",  # next line (C1)
]
SHOWN = [
    "River Aid",
    "Croissant-Rouge sénégalais",
    "الهلال الأحمر",
    "می\u200cخواهم",  # Persian: the zero-width non-joiner is part of the spelling
    "क्\u200dष",  # Devanagari with a zero-width joiner
    "Agency A (a national Red Crescent society)",
    "x" * MAX_DISPLAY_NAME,
]


def _xml_text(text: str) -> str:
    element = etree.Element("narrative")
    element.text = text
    return etree.tostring(element, encoding="unicode")


@pytest.mark.parametrize("name", UNSHOWN)
def test_display_names_with_controls_or_invisible_characters_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=r"holds U\+[0-9A-F]{4}") as caught:
        Definition("x", (("RIVER-AID", "agency"),), profiles={"RIVER-AID": Profile(name)})
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", SHOWN)
def test_display_names_people_write_are_kept_and_export(name: str) -> None:
    check_profile("RIVER-AID", Profile(name))
    assert name in _xml_text(name)


def test_a_display_name_too_long_is_refused() -> None:
    with pytest.raises(ConfigError, match=f"longer than {MAX_DISPLAY_NAME}"):
        check_profile("RIVER-AID", Profile("x" * (MAX_DISPLAY_NAME + 1)))


def test_every_character_a_display_name_may_hold_an_xml_export_takes() -> None:
    """Every code point of the first planes and the edges of the others: accepted in a
    name, it goes into an IATI export (lxml refuses what XML 1.0 cannot carry)."""
    points = [*range(0x3000), *range(0xD7F0, 0xE010), *range(0xFFF0, 0x10010), 0x10FFFF]
    for point in points:
        name = f"Aid {chr(point)}"
        try:
            check_profile("RIVER-AID", Profile(name))
        except ConfigError:
            continue
        _xml_text(name)


def test_a_toml_display_name_with_a_terminal_escape_is_refused_naming_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "consortium.toml"
    path.write_text(TOML.replace('"River Aid"', '"River\\u001b[31mAid\\r"'))
    with pytest.raises(ConfigError, match=r"holds U\+001B") as caught:
        load_definition(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_a_consortium_file_with_such_a_name_is_refused(tmp_path: Path) -> None:
    path = Workspace.create(tmp_path / "ws", DEMO).consortium_file
    data = json.loads(path.read_text())
    data["organisations"][0]["display_name"] = "Agency\x1b]0;owned\x07A"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"holds U\+001B"):
        Consortium.load(path)


def test_member_add_refuses_a_control_character_and_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    assert run_cli("init", str(root)).returncode == 0
    before = (root / "consortium.json").read_bytes()
    add = ("member", "add", "--dir", str(root), "--org", "CTRL-AID", "--role", "agency")
    line = clean_failure(run_cli(*add, "--display-name", "Ctrl\x01Aid"))
    assert "holds U+0001" in line, line
    assert (root / "consortium.json").read_bytes() == before
    assert not (root / "orgs" / "CTRL-AID").exists()


@pytest.mark.parametrize(
    "code",
    [
        "Fatima Al-Hassan 1990-01-01",  # a person, in the shared vocabulary
        "FATIMA-1990-01-01",
        "P-0712345678",  # a phone number's shape
        "mpca-2026",
        "MPCA 2026",
        "M",
        "MPCA-2026\n",
        "A" * 33,
    ],
)
def test_programme_codes_are_what_the_contract_takes(tmp_path: Path, code: str) -> None:
    toml = tmp_path / "consortium.toml"
    toml.write_text(TOML.replace('"MPCA-2026"', json.dumps(code)))
    with pytest.raises(ConfigError, match="is not a programme code"):
        load_definition(toml)
    with pytest.raises(ConfigError, match="is not a programme code"):
        Definition.from_dict(_json(programmes=[code]))


def test_a_programme_code_listed_twice_is_refused_in_either_form(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="listed twice"):
        Definition.from_dict(_json(programmes=["MPCA-2026", "MPCA-2026"]))
    toml = tmp_path / "consortium.toml"
    toml.write_text(TOML + TOML[TOML.index("[[programmes]]") :])
    with pytest.raises(ConfigError, match="listed twice"):
        load_definition(toml)


def _json(**fields: Any) -> dict[str, Any]:
    return {"name": "east", "members": [{"id": "RIVER-AID", "role": "agency"}], **fields}


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"name": "../../etc"}, "is not a consortium name"),
        ({"name": "east\nwest"}, "is not a consortium name"),
        ({"name": "East Basin"}, "is not a consortium name"),
        ({"name": 5}, "is not a consortium name"),
        ({"programmes": "ABC"}, "programmes must be a list"),
        ({"programmes": [5]}, "programmes must be a list of strings"),
        ({"locations": "KE01"}, "locations must be a list"),
        ({"members": "RIVER-AID"}, "members must be a list"),
        ({"members": ["RIVER-AID"]}, "is malformed"),
    ],
)
def test_the_json_definition_is_held_to_the_same_rules(
    tmp_path: Path, fields: dict[str, Any], said: str
) -> None:
    path = tmp_path / "consortium.json"
    path.write_text(json.dumps(_json(**fields)))
    with pytest.raises(ConfigError, match=said) as caught:
        Definition.load(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert "\n" not in str(caught.value)


def test_init_refuses_a_json_name_that_would_be_a_path(tmp_path: Path) -> None:
    path = tmp_path / "consortium.json"
    path.write_text(json.dumps(_json(name="../../etc")))
    line = clean_failure(run_cli("init", str(tmp_path / "ws"), "--consortium", str(path)))
    assert "is not a consortium name" in line, line
    assert not (tmp_path / "ws").exists()
