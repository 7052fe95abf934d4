"""Hostile report requests, through the gateway's HTTP API and the command line: each is
refused with its field, or answered within what the caller may read, never a crash and
never a value written to an export as it was given."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from api.app import create_app
from ledger_gw.bootstrap import open_gateway
from ledger_gw.cli import cli
from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import ValidationError
from ledger_gw.services.access import Role, issue_token
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import Workspace
from tests.support import events as ev

URL = "/v1/reports/accountability"
GLIDE = "EQ-2023-000015-TUR"
# What a GLIDE number must not be: it is written into the IATI file as it is given.
NOT_GLIDE = {
    "trailing newline": GLIDE + "\n",
    "control character": "EQ\x01",
    "markup": "EQ-2023-000015-TUR<x/>&amp;",
    "lower case": GLIDE.lower(),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, FlaskClient]]:
    root = tmp_path_factory.mktemp("report-inputs")
    ws = Workspace.create(root / "ws", DEMO)  # no witnesses: quorum 0
    config = GatewayConfig(
        directory=ws.root,
        ledger_url=ws.ledger_url,
        offchain_url=f"sqlite:///{root}/offchain-{{org}}.db",
    )
    gateway = open_gateway(config)
    client = OrgClient(gateway.ledger, gateway.signers["AGENCY-A"])
    grants = [ev.entitlement_granted(ev.pid()) for _ in range(6)]
    client.submit_many(grants)
    client.submit_many([ev.delivery(g["entitlement_id"]) for g in grants])
    try:
        yield gateway, create_app(config, gateway=gateway).test_client()
    finally:
        gateway.close()


def _get(served: tuple[Gateway, FlaskClient], org: str, role: Role, query: str) -> Any:
    gateway, client = served
    token = issue_token(gateway.store(org), gateway.org_role(org), role)[1]
    return client.get(f"{URL}?{query}", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("glide", NOT_GLIDE.values(), ids=NOT_GLIDE.keys())
def test_a_glide_number_is_checked_before_it_is_written_to_iati(
    served: tuple[Gateway, FlaskClient], glide: str
) -> None:
    """The API's pattern admits a trailing newline (``$``), the command line none at
    all: the export refuses what is no GLIDE number, whoever asks."""
    gateway, _ = served
    quoted = "".join(c if c.isalnum() or c == "-" else f"%{ord(c):02X}" for c in glide)
    r = _get(served, "AGENCY-A", Role.AGENCY_READER, f"format=iati&glide={quoted}")
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.json["field"] == "glide"
    args = ["report", "accountability", "--dir", str(gateway.workspace.root)]
    args += ["--org", "AGENCY-A", "--format", "iati", "--glide", glide]
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 1
    assert isinstance(done.exception, ValidationError), done.exception  # not a traceback
    assert done.exception.field == "glide"
    good = _get(served, "AGENCY-A", Role.AGENCY_READER, f"format=iati&glide={GLIDE}")
    assert good.status_code == 200
    assert f'code="{GLIDE}"' in good.get_data(as_text=True)


@pytest.mark.parametrize(
    ("role", "org", "query", "field"),
    [
        (Role.DONOR, "DONOR-Y", "from=2026-05-31&to=2026-05-01", "from"),  # reversed
        (Role.AGENCY_READER, "AGENCY-A", "from=2026-05-31&to=2026-05-01", "from"),
        (Role.AGENCY_READER, "AGENCY-A", "from=0001-01-01", "from"),  # before 1900
        (Role.AGENCY_READER, "AGENCY-A", "to=9999-12-31", "to"),  # past 2999
        (Role.DONOR, "DONOR-Y", "from=9999-12-01&to=9999-12-31", "from"),
        (Role.DONOR, "DONOR-Y", "programme=NOT-LISTED", "programme"),
        (Role.DONOR, "DONOR-Y", "programme=MPCA-2026%0A", "programme"),
        (Role.DONOR, "DONOR-Y", "programme=%EF%BC%ADPCA-2026", "programme"),  # fullwidth M
        (Role.DONOR, "DONOR-Y", "org=AGENCY-%D0%90", "org"),  # Cyrillic A
        (Role.DONOR, "DONOR-Y", "k=2", "k"),
        (Role.DONOR, "DONOR-Y", "k=6", "k"),  # a second pattern of the same month
        (Role.AGENCY_READER, "AGENCY-A", "k=100000000000000000000", "k"),
        (Role.DONOR, "DONOR-Y", "from=2026-05-01&to=2026-06-30", "to"),  # two months
    ],
)
def test_hostile_queries_are_refused_with_their_field(
    served: tuple[Gateway, FlaskClient], role: Role, org: str, query: str, field: str
) -> None:
    r = _get(served, org, role, query)
    assert (r.status_code, r.json["field"]) == (422, field), r.json


def test_a_repeated_parameter_reads_as_one_within_what_the_caller_may_read(
    served: tuple[Gateway, FlaskClient],
) -> None:
    """A second ``org`` never widens an agency's report, a second ``k`` never lowers a
    donor's."""
    agency = Role.AGENCY_READER
    own = _get(served, "AGENCY-B", agency, "org=AGENCY-B&org=AGENCY-A")
    assert own.status_code == 200
    assert own.json["query"]["org"] == "AGENCY-B"
    other = _get(served, "AGENCY-B", agency, "org=AGENCY-A&org=AGENCY-B")
    assert (other.status_code, other.json["code"]) == (403, "org_forbidden")
    donor = _get(served, "DONOR-Y", Role.DONOR, "from=2026-05-01&to=2026-05-31&k=5&k=2")
    assert donor.status_code == 200
    assert donor.json["query"]["k"] == 5


def test_an_agencys_widest_period_is_one_report(served: tuple[Gateway, FlaskClient]) -> None:
    r = _get(served, "AGENCY-A", Role.AGENCY_READER, "from=1900-01-01&to=2999-12-31")
    assert r.status_code == 200
    assert r.json["summary"]["people_assisted"] == 6
    assert (r.json["query"]["start"], r.json["query"]["end"]) == ("1900-01-01", "2999-12-31")
