"""A credential through a real gunicorn: issued over HTTP, printed, read back from the
card's image by the CLI against the consortium file it pins, and its status asked of the
running gateway; a revocation there turns the same card down."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from e2e_server import Server

from ledger_gw.cli import cli
from ledger_gw.errors import CredentialError
from tests.support import events as ev

pytestmark = pytest.mark.slow


def _issue(server: Server, grant: dict[str, Any]) -> requests.Response:
    """Issued once the appender has put the grant under a checkpoint (409 until then)."""
    body = {"event_id": grant["event_id"], "purpose": "service_continuity"}
    deadline = time.monotonic() + 30
    while True:
        r = requests.post(
            f"{server.url}/v1/credentials", json=body | {"disclose": ["programme"]},
            headers=server.headers("AGENCY-A"), timeout=30)  # fmt: skip
        if r.status_code != 409 or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


def test_credential_on_a_real_server(server: Server, tmp_path: Path) -> None:
    grant = ev.entitlement_granted(ev.pid())
    posted = requests.post(
        f"{server.url}/v1/events", json=grant, headers=server.headers("AGENCY-A"), timeout=30
    )
    assert posted.status_code == 201, posted.text
    issued = _issue(server, grant)
    assert issued.status_code == 201, issued.text
    text = tmp_path / "her.credential"
    text.write_text(issued.json()["credential"])

    pinned = server.directory / "consortium.json"
    card = tmp_path / "card.png"
    runner = CliRunner()
    made = runner.invoke(cli, ["credential", "card", str(text), "--consortium", str(pinned),
                               "--out", str(card)])  # fmt: skip
    assert made.exit_code == 0, made.output
    online = ["credential", "verify", str(card), "--consortium", str(pinned),
              "--gateway", server.url]  # fmt: skip
    token = {"LEDGER_GW_TOKEN": server.tokens["AUDITOR-X"]}  # never on the command line
    checked = runner.invoke(cli, online, env=token)
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.output)
    assert (report["status"], report["pid"], report["disclosed"]) == (
        "active", grant["pid"], {"programme": "MPCA-2026"})  # fmt: skip
    assert report["status_as_of"]["ledger_size"] >= report["tree_size"]  # read after issuing

    revoked = requests.post(
        f"{server.url}/v1/events",
        json=ev.entitlement_step("revoked", grant["entitlement_id"]),
        headers=server.headers("AGENCY-A"),
        timeout=30,
    )
    assert revoked.status_code == 201, revoked.text
    again = runner.invoke(cli, online, env=token)
    assert isinstance(again.exception, CredentialError)
    assert again.exception.code == "credential_revoked"
    offline = runner.invoke(cli, online[:5])  # without a gateway the card still checks out
    assert offline.exit_code == 0, offline.output
