"""A Fabric bundle is hostile input too: a value of the wrong type anywhere in its
evidence is a failed check, never an exception (see test_bundle_mutations.py for the
Merkle kind)."""

from __future__ import annotations

import copy
import json
from typing import Any

from ledger_gw.audit.verify import verify_bundle
from ledger_gw.errors import AuditError
from tests.integration.audit.conftest import Scenario
from tests.integration.audit.test_bundle_mutations import mutations
from tests.integration.audit.test_fabric_bundle import AGENCIES, FabricScenario
from tests.integration.audit.test_fabric_bundle import fabric as fabric  # the fixture

__all__ = ["fabric"]

#: What the verifier never trusts, so changing it changes nothing: the channel's name
#: (the pinned genesis block is the channel) and the policy the bundle names (the pinned
#: one is checked instead).
DESCRIPTIVE = ("evidence.channel", "evidence.policy")


def _outcome(scenario: Scenario, f: FabricScenario, bundle: dict[str, Any]) -> str:
    try:
        report = verify_bundle(
            bundle,
            trusted_consortium=scenario.ws.consortium,
            genesis_hash=f.genesis_hash,
            endorsement_policy=(2, AGENCIES),
        )
    except AuditError as exc:
        if exc.code != "malformed_bundle":
            raise
        return "refused"
    json.dumps(report.to_dict())
    return "ok" if report.ok else "failed"


def test_every_single_field_mutation_of_fabric_evidence_is_reported(
    scenario: Scenario, fabric: FabricScenario
) -> None:
    genuine = json.loads(json.dumps(fabric.bundle))
    assert _outcome(scenario, fabric, genuine) == "ok"
    crashes: list[str] = []
    passed: list[str] = []
    for path, where, mutated in mutations(genuine):
        if path[:1] == ("consortium",):
            continue  # the consortium part is the Merkle test's; here, the evidence
        try:
            outcome = _outcome(scenario, fabric, copy.deepcopy(mutated))
        except Exception as exc:
            crashes.append(f"{where}: {type(exc).__name__}: {exc}")
            continue
        if outcome == "ok" and not where.startswith(DESCRIPTIVE):
            passed.append(where)
    assert not crashes, f"{len(crashes)} crashes:\n" + "\n".join(crashes[:60])
    assert not passed, "mutations that still verify:\n" + "\n".join(passed[:60])
