"""Batches on the wire between a gateway and its log node: each certificate sent once."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import AuthenticationError, MalformedError
from ledger_gw.remote.wire import batch_from_dict, batch_to_dict
from ledger_gw.transaction import sign_proposal
from ledger_gw.workspace import Workspace
from tests.support import events as ev


def test_a_batch_names_each_signer_once_and_comes_back_the_same(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path, DEMO)
    txs = [
        sign_proposal(ws.signer(org), "submit", [ev.independent(i)])
        for i, org in enumerate(["AGENCY-A", "AGENCY-B", "AGENCY-A"])
    ]
    body = orjson.loads(orjson.dumps(batch_to_dict(txs)))
    assert len(body["creators"]) == 2
    assert [t["proposal"]["creator"] for t in body["transactions"]] == [0, 1, 0]
    back = batch_from_dict(body["creators"], body["transactions"])
    assert back == txs
    assert [t.proposal.payload for t in back] == [t.proposal.payload for t in txs]
    # a batch of whole transactions, as before, needs no creators
    assert batch_from_dict(None, [t.to_dict() for t in txs]) == txs

    body["transactions"][1]["proposal"]["creator"] = 2
    with pytest.raises(MalformedError, match="does not list"):
        batch_from_dict(body["creators"], body["transactions"])
    with pytest.raises(MalformedError):
        batch_from_dict("not a list", body["transactions"])
    with pytest.raises(AuthenticationError, match="malformed transaction"):
        batch_from_dict(body["creators"], [{"proposal": {"creator": 0}}])
