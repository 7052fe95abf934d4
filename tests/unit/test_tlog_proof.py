"""The C2SP tlog-proof text format: written as the spec shows it, read back exactly, and
every deviation refused."""

from __future__ import annotations

import base64

import pytest

from ledger_gw.log.tlog_proof import TlogProof, TlogProofError, is_tlog_proof

NOTE = (
    "example.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\n"
    "\u2014 example.com/fancylog hI2DJw1roloI=\n"
)
HASHES = (b"\x01" * 32, b"\x02" * 32)


def test_the_spec_layout_round_trips() -> None:
    proof = TlogProof(73894, HASHES, NOTE, extra=b"age-v1.2.1")
    text = proof.text()
    assert text.split("\n")[:5] == [
        "c2sp.org/tlog-proof@v1",
        "extra " + base64.b64encode(b"age-v1.2.1").decode(),
        "index 73894",
        base64.b64encode(HASHES[0]).decode(),
        base64.b64encode(HASHES[1]).decode(),
    ]
    assert text.endswith("\n\n" + NOTE)
    assert TlogProof.parse(text) == proof
    assert TlogProof.parse(TlogProof(0, (), NOTE).text()) == TlogProof(0, (), NOTE)
    assert is_tlog_proof(text.encode())
    assert not is_tlog_proof(b'{"format": "c2sp.org/tlog-proof@v1"}')


@pytest.mark.parametrize(
    "text",
    [
        "c2sp.org/tlog-proof@v2\nindex 1\n\n" + NOTE,
        "c2sp.org/tlog-proof@v1\nindex 01\n\n" + NOTE,
        "c2sp.org/tlog-proof@v1\nindex -1\n\n" + NOTE,
        "c2sp.org/tlog-proof@v1\n\n" + NOTE,
        "c2sp.org/tlog-proof@v1\nindex 1\n"
        + base64.b64encode(b"\x01" * 31).decode()
        + "\n\n"
        + NOTE,
        "c2sp.org/tlog-proof@v1\nindex 1\nAQ\n\n" + NOTE,
        "c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n\n" + NOTE,
        "c2sp.org/tlog-proof@v1\nindex 1\n",
        "c2sp.org/tlog-proof@v1\nindex 1",
        f"c2sp.org/tlog-proof@v1\nindex {'9' * 5000}\n\n" + NOTE,  # beyond int()'s digits
        f"c2sp.org/tlog-proof@v1\nindex {'9' * 20}\n\n" + NOTE,
        "c2sp.org/tlog-proof@v1\nextra \u00e9\u00e9\u00e9\u00e9\nindex 1\n\n" + NOTE,
        "c2sp.org/tlog-proof@v1\nindex 1\n" + "\u00e9" * 44 + "\n\n" + NOTE,
    ],
)
def test_deviations_are_refused(text: str) -> None:
    with pytest.raises(TlogProofError):
        TlogProof.parse(text)
    with pytest.raises(TlogProofError):
        TlogProof.parse(b"\xff" + text.encode())
