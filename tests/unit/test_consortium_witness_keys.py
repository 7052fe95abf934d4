"""The consortium file lists one key per witness: no witness key shared with another
member's witness under any name, and none equal to the log's own key, since a quorum
that one private key can make up alone witnesses nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaincode.stub import Role
from ledger_gw.consortium import Consortium, Definition, WitnessListing
from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import ConfigError
from ledger_gw.log.note import NoteVerifier, SigType, generate_signer
from ledger_gw.workspace import Workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace.create(tmp_path_factory.mktemp("witness-keys") / "ws", DEMO)


def _cosigner(name: str, key: NoteVerifier) -> str:
    """``key``'s public key as a cosignature vkey under ``name`` (so another key ID)."""
    return NoteVerifier(name, SigType.COSIGNATURE_V1, key.public_key).vkey


def _one_key() -> NoteVerifier:
    return generate_signer("witness.agency-a", SigType.COSIGNATURE_V1)[0].verifier


def test_one_key_under_two_names_is_refused(workspace: Workspace) -> None:
    one = _one_key()
    listed = workspace.consortium.with_witness("AGENCY-A", one.vkey, "http://a:1")
    with pytest.raises(ConfigError, match="AGENCY-A and AUDITOR-X are the same public key"):
        listed.with_witness("AUDITOR-X", _cosigner("witness.auditor-x", one), "http://x:1", 2)


def test_the_logs_own_key_is_no_members_witness(workspace: Workspace) -> None:
    as_witness = _cosigner("witness.agency-a", workspace.log_signer().verifier)
    with pytest.raises(ConfigError, match="AGENCY-A is the log's own key"):
        workspace.consortium.with_witness("AGENCY-A", as_witness, "http://a:1", 1)


def test_a_hand_edited_file_sharing_a_key_does_not_load(
    workspace: Workspace, tmp_path: Path
) -> None:
    one = _one_key()
    data = workspace.consortium.to_dict()
    for org, url in (("AGENCY-A", "http://a:1"), ("AUDITOR-X", "http://x:1")):
        item = next(o for o in data["organisations"] if o["id"] == org)
        item["witness_vkey"] = _cosigner(f"witness.{org.lower()}", one)
        item["witness_url"] = url
    data["witness_quorum"] = 2
    path = tmp_path / "consortium.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="same public key"):
        Consortium.load(path)


def test_a_definition_sharing_a_witness_key_is_refused() -> None:
    one = _one_key()
    members: tuple[tuple[str, Role], ...] = (("AGENCY-A", "agency"), ("AUDITOR-X", "auditor"))
    witnesses = tuple(
        WitnessListing(org, _cosigner(f"witness.{org.lower()}", one), "http://w:1")
        for org, _ in members
    )
    with pytest.raises(ConfigError, match="same public key"):
        Definition("east-basin", members, (), witnesses, 2)


def test_a_quorum_two_disjoint_sets_of_witnesses_could_each_reach_is_refused(
    workspace: Workspace,
) -> None:
    """With one of two witnesses enough, the log could show one member a history one
    witness cosigned and another member a fork the other cosigned: neither was asked
    about the other's. Two quorums of more than half share a witness, who refuses."""
    a = workspace.consortium.with_witness("AGENCY-A", _one_key().vkey, "http://a:1")
    x = generate_signer("witness.auditor-x", SigType.COSIGNATURE_V1)[0].verifier.vkey
    with pytest.raises(ConfigError, match="more than half, 2 or more"):
        a.with_witness("AUDITOR-X", x, "http://x:1", 1)
    assert a.with_witness("AUDITOR-X", x, "http://x:1", 2).witness_quorum == 2
    assert a.with_witness("AUDITOR-X", x, "http://x:1", 0).witness_quorum == 0
    data = a.with_witness("AUDITOR-X", x, "http://x:1", 2).to_dict()
    data["witness_quorum"] = 1
    with pytest.raises(ConfigError, match="lets two sets that share none"):
        Consortium.from_dict(data)
