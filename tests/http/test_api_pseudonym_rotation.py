"""Rotating the pseudonymisation key: new people get IDs under the new version, and a
person registered under an earlier one is still found by her attributes, under the ID
the ledger knows her by, not registered a second time."""

from __future__ import annotations

import shutil
import stat
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from api_helpers import Api, Tokens
from click.testing import CliRunner

from api import create_app
from ledger_gw.bootstrap import open_gateway
from ledger_gw.cli import cli
from ledger_gw.errors import ConfigError
from ledger_gw.offchain.models import Person
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway

FATIMA = {"given_name": "Fatima", "family_name": "Al-Hassan", "date_of_birth": "1991-03-14"}
OMAR = {"given_name": "Omar", "family_name": "Haddad", "date_of_birth": "1987-11-02"}


@pytest.fixture
def config(config: GatewayConfig, tmp_path: Path) -> GatewayConfig:
    """The session's consortium, with a pseudonymisation key of this test's own in a
    directory holding it and the consortium file, as a member's does."""
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("consortium.json", "pseudonym.key"):
        shutil.copy(config.directory / name, keys / name)  # its mode too: 0600
    return replace(config, pseudonym_key_file=keys / "pseudonym.key")


Restart = Callable[[], Api]


@pytest.fixture
def restarted(config: GatewayConfig, tokens: Tokens) -> Iterator[Restart]:
    """The gateway started again after the rotation, on the same files: it reads the
    key file as it starts. Opened when the test asks for it, after the rotation."""
    opened: list[Gateway] = []

    def start() -> Api:
        gateway = open_gateway(config)
        opened.append(gateway)
        return Api(create_app(config, gateway).test_client(), tokens)

    yield start
    for gateway in opened:
        gateway.close()


def _rotate(config: GatewayConfig) -> None:
    assert config.pseudonym_key_file is not None
    out = CliRunner().invoke(
        cli, ["pseudonym-key", "rotate", "--dir", str(config.pseudonym_key_file.parent)]
    )
    assert out.exit_code == 0, out.output
    assert "k2 is current, k1 kept" in " ".join(out.output.split())
    assert stat.S_IMODE(config.pseudonym_key_file.stat().st_mode) == 0o600
    assert len(config.pseudonym_key_file.read_text().splitlines()) == 2


def test_after_a_rotation_she_is_found_under_her_k1_id(
    api: Api, config: GatewayConfig, restarted: Restart
) -> None:
    r = api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": FATIMA})
    assert r.status_code == 201, r.json
    person_id, k1 = r.json["person_id"], r.json["pid"]
    assert k1.startswith("k1.")
    _rotate(config)
    after = restarted()

    typed = {**FATIMA, "given_name": " FATIMA "}
    r = after.as_("AGENCY-A").post("/v1/registrations", json={"attributes": typed})
    assert (r.status_code, r.json["code"]) == (409, "already_registered")
    assert r.json["person_id"] == person_id
    assert after.as_("AGENCY-A").get(f"/v1/registrations/{person_id}").json["pid"] == k1
    r = after.as_("AGENCY-A", "agency-reader").post("/v1/pseudonyms", json={"attributes": typed})
    assert r.json == {"pid": k1, "scheme": "keyed", "registered": True}

    r = after.as_("AGENCY-A").post("/v1/registrations", json={"attributes": OMAR})
    assert r.status_code == 201, r.json
    assert r.json["pid"].startswith("k2.")
    r = after.as_("AGENCY-A").post("/v1/registrations", json={"attributes": OMAR})
    assert (r.status_code, r.json["code"]) == (409, "already_registered")
    mine = after.as_("AGENCY-A", "agency-reader").get("/v1/registrations").json["registrations"]
    assert sorted(p["pid"][:3] for p in mine) == ["k1.", "k2."]


def test_a_k1_registration_made_before_the_folding_is_found_after_a_rotation(
    gateway: Gateway, config: GatewayConfig, restarted: Restart
) -> None:
    """Both ways her attributes may have derived another ID, at once: under the earlier
    key version, and before invisible characters were folded (registered then, from a
    name holding a right-to-left mark)."""
    typed = {**FATIMA, "given_name": "Fatima\u200f"}
    _, unfolded = gateway.pseudonym_key.pseudonyms(typed)
    with gateway.store("AGENCY-A").session() as s:
        s.add(Person(id=str(uuid.uuid4()), pid=unfolded, attributes=typed))
    _rotate(config)
    after = restarted()
    r = after.as_("AGENCY-A").post("/v1/pseudonyms", json={"attributes": typed})
    assert r.json == {"pid": unfolded, "scheme": "keyed", "registered": True}
    r = after.as_("AGENCY-A").post("/v1/registrations", json={"attributes": typed})
    assert (r.status_code, r.json["code"]) == (409, "already_registered")


def test_a_gateway_refuses_a_key_file_others_may_read(config: GatewayConfig) -> None:
    assert config.pseudonym_key_file is not None
    config.pseudonym_key_file.chmod(0o644)
    with pytest.raises(ConfigError, match=r"open to group or others.*chmod 600"):
        open_gateway(config)
