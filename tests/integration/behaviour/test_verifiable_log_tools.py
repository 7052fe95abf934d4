"""The verifiable-log tools on every backend: a transaction's C2SP tlog-proof verifies
with the consortium the caller pins (on Fabric: the members' validity log), a watcher
follows the signed checkpoints with consistency proofs, `checkpoint show` prints one
(on a log node: as a member, from its own directory, over mutual TLS)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from ledger_gw.bootstrap import open_gateway
from ledger_gw.cli import cli
from ledger_gw.client import OrgClient
from ledger_gw.consortium import Consortium
from ledger_gw.errors import AuditFailedError
from ledger_gw.log.note import Note
from ledger_gw.log.tlog_proof import TlogProof
from ledger_gw.services import proofs, tlog_proofs, watch
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import Workspace
from tests.integration.behaviour.conftest import LogNodeSite, cosigned, gateway_config
from tests.support import events as ev
from tests.support.witnesses import settled

ORGS = ("AGENCY-A", "AGENCY-B", "AGENCY-C", "AUDITOR-X")


@dataclass
class Served:
    backend: str
    config: GatewayConfig
    gateway: Gateway
    consortium: Consortium  # what the caller pins

    def submit(self) -> str:
        """One more referral; its transaction ID."""
        result = OrgClient(self.gateway.ledger, self.gateway.signers["AGENCY-A"]).submit(
            ev.referral_created(ev.pid())
        )
        if self.backend == "remote":  # no other member's entries to read here
            cosigned(self.gateway.log, self.consortium)
            return str(result["tx_id"])
        if self.backend == "embedded":
            settled(self.gateway.ledger)
        log = self.gateway.log
        return [r.tx_id for r in log.records(log.anchor())][-1]

    def verify(self, text: str, tx_id: str) -> tlog_proofs.ProvenEntry:
        log = self.gateway.log
        if self.backend == "fabric":
            return tlog_proofs.verify(
                text.encode(),
                self.consortium,
                quorum=self.consortium.witness_quorum,
                genesis_hash=log.pins().genesis_hash,
            )
        leaf = proofs.inclusion(log, None, tx_id, None, lambda _: False)["leaf_hash"]
        return tlog_proofs.verify(
            text.encode(),
            self.consortium,
            leaf_hash=base64.b64decode(leaf),
            quorum=self.consortium.witness_quorum,
        )


@pytest.fixture(params=["embedded", "fabric", "remote"])
def served(
    request: pytest.FixtureRequest, embedded_workspace: Workspace, tmp_path: Path
) -> Iterator[Served]:
    if request.param == "remote":
        site: LogNodeSite = request.getfixturevalue("log_node")
        config = site.config("AGENCY-A")
    else:
        config = gateway_config(request, tmp_path, ORGS)
    gateway = open_gateway(config)
    try:
        pinned = Workspace.load(config.directory).consortium
        yield Served(request.param, config, gateway, pinned)
    finally:
        gateway.close()


def test_a_transactions_tlog_proof_verifies_with_the_callers_pins(served: Served) -> None:
    tx_id = served.submit()
    text = tlog_proofs.export(served.gateway.log, None, tx_id, None)
    proven = served.verify(text, tx_id)
    assert len(proven.checkpoint.witnesses) >= served.consortium.witness_quorum
    if served.backend == "fabric":
        stated = proven.to_dict()["transaction"]
        assert (stated["tx_id"], stated["valid"]) == (tx_id, True)
    else:
        assert proven.checkpoint.checkpoint.origin == served.consortium.origin
    proof = TlogProof.parse(text)
    note = Note.parse(proof.checkpoint)
    keep = 1 if served.backend == "fabric" else 2  # one member; or the log and one witness
    short = TlogProof(proof.index, proof.proof, Note(note.text, note.signatures[:keep]).format())
    short = TlogProof(short.index, short.proof, short.checkpoint, proof.extra)
    with pytest.raises(AuditFailedError, match="quorum"):
        served.verify(short.text(), tx_id)


def test_watch_follows_the_signed_checkpoints(served: Served, tmp_path: Path) -> None:
    served.submit()
    state = tmp_path / "watch.json"
    first = watch.poll(state, served.consortium, served.gateway.log)
    assert first.status == "first"
    served.submit()
    later = watch.poll(state, served.consortium, served.gateway.log)
    assert later.status == "extended"
    assert later.new_size > first.new_size
    assert later.old_size == first.new_size


def test_checkpoint_show_prints_the_signed_checkpoint(served: Served) -> None:
    served.submit()
    if served.backend == "fabric":
        assert served.config.fabric_profile is not None
        where = ["--backend", "fabric", "--profile", str(served.config.fabric_profile)]
        where += ["--dir", str(served.config.directory)]
        origin = "fabric-validity/"
    elif served.backend == "remote":
        where = ["--backend", "remote", "--dir", str(served.config.directory)]
        where += ["--log-url", str(served.config.log_url)]
        origin = served.consortium.origin
    else:
        where = ["--dir", str(served.config.directory), "--ledger", str(served.config.ledger_url)]
        origin = served.consortium.origin
    shown = CliRunner().invoke(cli, ["checkpoint", "show", *where])
    assert shown.exit_code == 0, shown.output
    assert Note.parse(shown.output).text.startswith(origin)
    assert len(Note.parse(shown.output).signatures) >= served.consortium.witness_quorum
