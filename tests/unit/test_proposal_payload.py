"""A proposal read back from its signed bytes keeps those exact bytes, and nothing else
is accepted as a proposal."""

from __future__ import annotations

import orjson
import pytest

from ledger_gw.identity import Signer, cert_pem, issue_ca, issue_member
from ledger_gw.transaction import Proposal, sign_proposal


@pytest.fixture(scope="module")
def signer() -> Signer:
    ca_key, ca_cert = issue_ca("AGENCY-A")
    key, cert = issue_member(ca_key, ca_cert, "AGENCY-A", "agency", "gw")
    return Signer(key, cert_pem(cert))


def test_a_proposal_read_from_its_payload_is_the_same_proposal(signer: Signer) -> None:
    signed = sign_proposal(signer, "submit", [{"type": "consent.revoked", "note": 'é "q"'}])
    again = Proposal.from_payload(signed.proposal.payload)
    assert again == signed.proposal
    assert again.payload == signed.proposal.payload
    assert again.tx_id == signed.tx_id


def _payload(signer: Signer) -> dict[str, object]:
    return sign_proposal(signer, "submit", [{"type": "x"}]).proposal.to_dict()


@pytest.mark.parametrize(
    "spoil",
    [
        lambda p: orjson.dumps(p),  # keys out of order
        lambda p: orjson.dumps({**p, "extra": 1}, option=orjson.OPT_SORT_KEYS),
        lambda p: orjson.dumps({**p, "function": 7}, option=orjson.OPT_SORT_KEYS),
        lambda p: orjson.dumps({**p, "args": {"a": 1}}, option=orjson.OPT_SORT_KEYS),
        lambda p: orjson.dumps({**p, "args": [1.5]}, option=orjson.OPT_SORT_KEYS),
        lambda p: orjson.dumps([p], option=orjson.OPT_SORT_KEYS),
        lambda p: orjson.dumps(p, option=orjson.OPT_SORT_KEYS) + b" ",
        lambda p: b"{not json",
    ],
)
def test_anything_else_is_refused(signer: Signer, spoil: object) -> None:
    payload = spoil(_payload(signer))  # type: ignore[operator]
    with pytest.raises(ValueError, match="malformed proposal"):
        Proposal.from_payload(payload)
