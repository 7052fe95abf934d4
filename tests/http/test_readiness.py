"""/readyz looks at the files the gateway opened, not only at open connections, which keep
answering from a deleted file."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from ledger_gw.services.config import GatewayConfig


def test_readyz_fails_when_the_ledger_file_is_deleted(
    client: FlaskClient, config: GatewayConfig
) -> None:
    assert client.get("/readyz").status_code == 200
    assert config.ledger_url is not None
    Path(config.ledger_url.removeprefix("sqlite:///")).unlink()
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json["code"] == "not_ready"


def test_readyz_fails_when_an_offchain_file_is_deleted(client: FlaskClient, tmp_path: Path) -> None:
    assert client.get("/readyz").status_code == 200
    (tmp_path / "offchain-AGENCY-B.db").unlink()
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json["code"] == "not_ready"
