"""A token revoked by another process (`ledger-gw token revoke`, run beside the gateway)
stops working in a gateway process that had just trusted it, within the seconds that
process may keep trusting a valid token: a stolen token does not live on there."""

from __future__ import annotations

import time

from api_helpers import bearer
from flask.testing import FlaskClient

from ledger_gw.services import access
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from tests.support.cli import run_cli


def test_a_token_revoked_elsewhere_is_refused_within_the_seconds_it_is_trusted(
    config: GatewayConfig, gateway: Gateway, client: FlaskClient
) -> None:
    store = gateway.store("AGENCY-B")
    token_id, token = access.issue_token(store, gateway.org_role("AGENCY-B"), "agency-reader")
    assert client.get("/v1/checkpoints/latest", headers=bearer(token)).status_code == 404
    env = {
        "LEDGER_GW_DIR": str(config.directory),
        "LEDGER_GW_LEDGER_URL": config.ledger,
        "LEDGER_GW_OFFCHAIN_URL": config.offchain,
    }
    done = run_cli("token", "revoke", "--org", "AGENCY-B", token_id, env=env)
    assert done.returncode == 0, done.stderr
    time.sleep(access.CACHE_SECONDS)  # trusted when revoked: at most this much longer
    r = client.get("/v1/checkpoints/latest", headers=bearer(token))
    assert (r.status_code, r.get_json()["code"]) == (401, "token_revoked")
