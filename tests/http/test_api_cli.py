"""`ledger-gw token issue/revoke`: tokens work at once and stop at once."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from flask.testing import FlaskClient

from ledger_gw.cli import cli
from ledger_gw.services.config import GatewayConfig


def test_issue_and_revoke(
    config: GatewayConfig, client: FlaskClient, monkeypatch: object, tmp_path: Path
) -> None:
    env = {
        "LEDGER_GW_DIR": str(config.directory),
        "LEDGER_GW_LEDGER_URL": config.ledger,
        "LEDGER_GW_OFFCHAIN_URL": config.offchain,
    }
    runner = CliRunner()
    out = runner.invoke(cli, ["token", "issue", "--org", "AGENCY-B", "--role", "agency-reader"],
                        env=env)  # fmt: skip
    assert out.exit_code == 0, out.output
    token = out.stdout.strip().splitlines()[-1]
    token_id = token.split(".")[2]
    listed = runner.invoke(cli, ["token", "list", "--org", "AGENCY-B"], env=env)
    assert listed.exit_code == 0, listed.output
    (row,) = [line.split("\t") for line in listed.stdout.splitlines() if line.startswith(token_id)]
    assert row[1] == "agency-reader"
    assert row[4] != "-"
    assert row[5] == "-"
    assert token.rsplit(".", 1)[1] not in listed.output
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/checkpoints/latest", headers=headers).status_code == 404
    out = runner.invoke(cli, ["token", "revoke", "--org", "AGENCY-B", token_id], env=env)
    assert out.exit_code == 0, out.output
    assert client.get("/v1/checkpoints/latest", headers=headers).status_code == 401
    listed = runner.invoke(cli, ["token", "list", "--org", "AGENCY-B"], env=env)
    assert f"{token_id}\tagency-reader" in listed.output
    assert next(line for line in listed.stdout.splitlines() if line.startswith(token_id))[-1] != "-"
    bad = runner.invoke(cli, ["token", "issue", "--org", "DONOR-Y", "--role", "agency-writer"],
                        env=env)  # fmt: skip
    assert bad.exit_code != 0
