"""The TOML consortium definition: what it holds, and every mistake named by file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger_gw.consortium import Definition
from ledger_gw.demo.consortium import DEFINITION_FILE, DEMO
from ledger_gw.errors import ConfigError

NETWORK = Path(__file__).parents[2] / "network" / "consortium.toml"
NETWORK_SH = Path(__file__).parents[2] / "network" / "network.sh"

GOOD = """
name = "east-basin"
locations = ["KE01"]

[[members]]
id = "RIVER-AID"
role = "agency"
display_name = "River Aid"
iati_ref = "ZZ-EB-RIVER"
iati_type = "22"

[[members]]
id = "LAKE-AUDIT"
role = "auditor"
display_name = "Lake Audit"

[[programmes]]
code = "FOOD-2026"
currency = "KES"
ceiling = "20000"

[endorsement]
required = 1
among = ["RIVER-AID"]
"""


def _load(tmp_path: Path, text: str) -> Definition:
    path = tmp_path / "consortium.toml"
    path.write_text(text)
    return Definition.load(path)


def test_a_definition_holds_members_programmes_codes_names_and_policy(tmp_path: Path) -> None:
    d = _load(tmp_path, GOOD)
    assert d.members == (("RIVER-AID", "agency"), ("LAKE-AUDIT", "auditor"))
    assert d.programmes == ("FOOD-2026",)
    assert (d.ceilings["FOOD-2026"].currency, d.ceilings["FOOD-2026"].limit) == ("KES", 20000)
    assert d.locations == ("KE01",)
    assert d.profiles["RIVER-AID"].iati_ref == "ZZ-EB-RIVER"
    assert d.profiles["RIVER-AID"].iati_type == "22"
    assert d.profiles["LAKE-AUDIT"].iati_ref is None
    assert d.endorsement is not None
    assert d.endorsement.fabric() == "OutOf(1,'RIVER-AID.peer')"


def test_the_demo_is_a_definition_file_like_any_other() -> None:
    assert Definition.load(DEFINITION_FILE) == DEMO
    assert len(DEMO.members) == 5
    assert DEMO.profiles["AGENCY-A"].display_name.startswith("Agency A")


def test_the_network_runs_the_endorsement_policy_its_definition_states() -> None:
    network = Definition.load(NETWORK)
    assert network.endorsement is not None
    assert f'POLICY="{network.endorsement.fabric()}"' in NETWORK_SH.read_text()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('role = "agency"', 'role = "agnecy"'), "members[0].role: Must be one of: agency"),
        (('display_name = "River Aid"\n', ""), "members[0].display_name: Missing data"),
        (('name = "east-basin"', 'name = "East Basin!"'), "name: 'East Basin!' is not a"),
        (('ceiling = "20000"', "ceiling = 20000"), "programmes[0].ceiling: Not a valid string"),
        (('ceiling = "20000"', 'ceiling = "-5"'), "ceiling '-5' is not a positive amount"),
        (('currency = "KES"', 'currency = "shillings"'), "'shillings' is not an ISO 4217"),
        (('["KE01"]', '["Nairobi"]'), "locations must be P-codes"),
        (('iati_type = "22"', 'iati_type = "99"'), "'99', is not an IATI OrganisationType"),
        (('iati_ref = "ZZ-EB-RIVER"', 'iati_ref = "River Aid"'), "not an IATI organisation"),
        (("required = 1", "required = 2"), "endorsement: required must be from 1 to 1"),
        (('among = ["RIVER-AID"]', 'among = ["LAKE-AUDIT", "SEA"]'), "SEA is not a member"),
        (('[[members]]\nid = "LAKE-AUDIT"', '[[members]]\nid = "RIVER-AID"'), "listed twice"),
        (('locations = ["KE01"]', 'locations = ["KE01"]\ncolour = "blue"'), "colour: Unknown"),
    ],
)
def test_each_mistake_is_one_error_naming_file_and_field(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in GOOD
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, GOOD.replace(old, new, 1))
    text = str(caught.value)
    assert text.startswith(f"{tmp_path / 'consortium.toml'}: "), text
    assert message in text, text
    assert "\n" not in text


def test_unreadable_and_malformed_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read consortium definition .*missing\.toml"):
        Definition.load(tmp_path / "missing.toml")
    (tmp_path / "broken.toml").write_text('name = "x"\n[[members]\n')
    with pytest.raises(ConfigError, match=r"broken\.toml is not valid TOML"):
        Definition.load(tmp_path / "broken.toml")
