"""A bundle is hostile input: a value of the wrong type anywhere is a failed check.

Every value of a genuine bundle, at every path, is replaced in turn by values of
other types; the verifier must answer each with a report (or, for a file that is not
a bundle at all, its documented ``malformed_bundle`` refusal), never an exception.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from ledger_gw.audit.bundle import build_bundle
from ledger_gw.audit.verify import verify_bundle
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.errors import AuditError
from tests.integration.audit.conftest import Scenario

Path = tuple[str | int, ...]


def _nested(depth: int) -> list[Any]:
    out: list[Any] = []
    for _ in range(depth):
        out = [out]
    return out


REPLACEMENTS: list[Any] = [None, True, 0, -1, 2**64, "", "x", [], {}, _nested(40)]


def _paths(value: Any, path: Path = ()) -> Iterator[Path]:
    """Every path to a value inside `value` (not the root itself)."""
    children: Any = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list)
        else ()
    )  # fmt: skip
    for key, child in children:
        yield (*path, key)
        yield from _paths(child, (*path, key))


def _replaced(bundle: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(bundle)
    parent: Any = out
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = copy.deepcopy(value)
    return out


def mutations(
    bundle: dict[str, Any], under: Path = ()
) -> Iterator[tuple[Path, str, dict[str, Any]]]:
    """Each value in ``bundle`` (under the path ``under``) replaced by each of
    REPLACEMENTS that changes it: its path, where and with what, and the bundle."""
    for path in _paths(bundle):
        if path[: len(under)] != under:
            continue
        for value in REPLACEMENTS:
            mutated = _replaced(bundle, path, value)
            if mutated != bundle:
                where = f"{'.'.join(map(str, path))} = {json.dumps(value)[:20]}"
                yield path, where, mutated


@pytest.fixture(scope="module")
def genuine(scenario: Scenario) -> dict[str, Any]:
    bundle = build_bundle(
        EmbeddedLog.of(scenario.ledger),
        scenario.ws.consortium,
        kind="referral_chain",
        subject=scenario.onward_referral,
    )
    return json.loads(json.dumps(bundle))  # type: ignore[no-any-return]


def _outcome(scenario: Scenario, bundle: dict[str, Any]) -> str:
    try:
        report = verify_bundle(bundle, trusted_consortium=scenario.ws.consortium, quorum=2)
    except AuditError as exc:
        if exc.code != "malformed_bundle":
            raise
        return "refused"
    json.dumps(report.to_dict())  # the report itself is JSON, whatever the bundle held
    return "ok" if report.ok else "failed"


def test_genuine_bundle_verifies(scenario: Scenario, genuine: dict[str, Any]) -> None:
    assert _outcome(scenario, genuine) == "ok"


def test_every_single_field_mutation_is_reported(
    scenario: Scenario, genuine: dict[str, Any]
) -> None:
    """With the consortium pinned (as every verifier must): every mutation fails."""
    crashes: list[str] = []
    passed: list[str] = []
    for _, where, mutated in mutations(genuine):
        try:
            outcome = _outcome(scenario, mutated)
        except Exception as exc:
            crashes.append(f"{where}: {type(exc).__name__}: {exc}")
            continue
        if outcome == "ok":
            passed.append(where)
    assert not crashes, f"{len(crashes)} crashes:\n" + "\n".join(crashes[:60])
    assert not passed, "mutations that still verify:\n" + "\n".join(passed[:60])


@pytest.mark.parametrize(
    "effects",
    [str.upper, lambda e: e + '","result":{}', lambda e: e[:-1] + '"'],
    ids=["upper-case", "quoted-fields", "quote"],
)
def test_effects_that_are_no_digest_are_refused_as_such(
    scenario: Scenario, genuine: dict[str, Any], effects: Any
) -> None:
    """The leaf is rebuilt with the effects written into it as they come: a quote there
    would let bytes that read as other fields be hashed, so only the digest's form is
    taken, before any hash is compared."""
    bundle = copy.deepcopy(genuine)
    entry = bundle["evidence"]["entries"][0]["entry"]
    entry["effects"] = effects(entry["effects"])
    report = verify_bundle(bundle, trusted_consortium=scenario.ws.consortium, quorum=2)
    assert "malformed_entry" in report.codes, report.failures


def test_a_chain_relabelled_an_entitlement_without_one_is_refused(
    scenario: Scenario, genuine: dict[str, Any]
) -> None:
    """An entitlement claim that names no entitlement would hold every event to none, and
    a referral's events have none: it must fail, not pass as a claim about nothing."""
    bundle = copy.deepcopy(genuine)
    bundle["claim"] = {"kind": "entitlement", "events": genuine["claim"]["events"]}
    assert _outcome(scenario, bundle) == "failed"
