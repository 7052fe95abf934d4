"""The writer tokens `consortium up` prints: each run's work until the next run, which
revokes them; tokens the operator issued for the site's gateways are never touched."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from ledger_gw.demo.consortium import DEMO
from ledger_gw.pseudonym import new_held_id
from ledger_gw.topology import running
from ledger_gw.workspace import Workspace
from tests.support.cli import run_cli

pytestmark = pytest.mark.slow


def _status(url: str, token: str) -> int:
    history = f"{url}/v1/persons/{new_held_id()}/history?purpose=referral"
    return requests.get(
        history, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).status_code


def test_each_run_revokes_the_tokens_earlier_runs_printed(tmp_path: Path) -> None:
    operator = Workspace.create(tmp_path / "operator", DEMO)
    site = tmp_path / "site"
    with running(operator.root, site, ("AGENCY-A",), ()) as up:
        first = up.tokens["AGENCY-A"]
        assert _status(up.gateways["AGENCY-A"].url, first) == 200
    issued = run_cli(
        *("token", "issue", "--dir", str(site / "AGENCY-A"), "--org", "AGENCY-A"),
        *("--role", "agency-writer", "--label", "field app"),
    )
    assert issued.returncode == 0, issued.stderr
    own = issued.stdout.strip()
    with running(operator.root, site, ("AGENCY-A",), ()) as up:
        url, second = up.gateways["AGENCY-A"].url, up.tokens["AGENCY-A"]
        assert _status(url, first) == 401
        assert _status(url, second) == 200
        assert _status(url, own) == 200
