"""`ledger-gw audit chain|bundle|verify` on a ledger copy handed to an auditor, and the
consortium file she pins: what the copy's holder can edit must not shorten a verdict.

The copy's entries, tree and checkpoints stay genuine and witnessed; only its world
state (an index the holder keeps) or its newest checkpoints are deleted, or the pinned
file says one thing twice.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ledger_gw.audit.bundle import build_bundle
from ledger_gw.cli import cli
from ledger_gw.cli.options import load_pinned
from ledger_gw.consortium import Consortium
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.errors import ConfigError
from ledger_gw.log.note import Note
from tests.integration.audit.conftest import Scenario

# The scenario's log: r1 = root referral, r2 = onward referral, e = entitlement.
CHAIN = [1, 3, 4, 6, 8, 10]  # r1 created, r1 accepted, r2 created, r2 accepted,
#                              r2 completed, r1 completed
ENTITLEMENT = [5, 7, 9]  # granted, delivery, delivery
PERSON_HISTORY = b"\x00person\x00"


def _copy(scenario: Scenario, path: Path) -> Path:
    """The scenario's ledger as handed over: a file of the auditor's own."""
    source = scenario.url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(source)) as db, closing(sqlite3.connect(path)) as copy:
        db.backup(copy)
    return path


def _edit(path: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    with closing(sqlite3.connect(path)) as db:
        for sql, args in statements:
            assert db.execute(sql, args).rowcount > 0, sql
        db.commit()


def _hide_history(path: Path, *positions: int) -> None:
    """Delete the person's history rows written at ``positions``: the world state no
    longer points at those entries, which stay in the log."""
    _edit(
        path,
        *(
            ("DELETE FROM state WHERE seq = ? AND substr(key, 1, 8) = ?", (p, PERSON_HISTORY))
            for p in positions
        ),
    )


def _audit(scenario: Scenario, copy: Path, *args: str) -> Result:
    where = ["--dir", str(scenario.ws.root), "--ledger", f"sqlite:///{copy}"]
    return CliRunner().invoke(cli, ["audit", *args, *where])


def _pin(scenario: Scenario) -> list[str]:
    return ["--consortium", str(scenario.ws.root / "consortium.json")]


def _positions(output: str) -> list[int]:
    return [int(line.split()[1]) for line in output.splitlines() if line.startswith("PASS")]


def test_audit_chain_shows_the_events_a_deleted_state_row_no_longer_indexes(
    scenario: Scenario, tmp_path: Path
) -> None:
    copy = _copy(scenario, tmp_path / "copy.db")
    _hide_history(copy, 8, 10)  # both completions: the rest is still a legal chain
    judged = _audit(scenario, copy, "chain", scenario.root_referral, *_pin(scenario))
    assert judged.exit_code == 0, judged.output
    assert _positions(judged.output) == CHAIN
    anchor = judged.output.splitlines()[-1]
    assert anchor.startswith("anchor: tree size 12 root ")
    assert anchor.endswith("cosigned by witness.agency-a, witness.agency-b")


def test_audit_bundle_from_the_copy_holds_every_event(scenario: Scenario, tmp_path: Path) -> None:
    copy = _copy(scenario, tmp_path / "copy.db")
    _hide_history(copy, 8, 10, 9)
    pin = scenario.ws.consortium
    genuine = EmbeddedLog.of(scenario.ledger)
    for kind, subject, positions in (
        ("referral_chain", scenario.root_referral, CHAIN),
        ("entitlement", scenario.entitlement, ENTITLEMENT),
    ):
        out = tmp_path / f"{kind}.json"
        args = ("bundle", "--kind", kind, "--subject", subject, "--out", str(out))
        made = _audit(scenario, copy, *args)
        assert made.exit_code == 0, made.output
        bundle = json.loads(out.read_text())
        assert [e["index"] for e in bundle["evidence"]["entries"]] == positions
        assert bundle == build_bundle(genuine, pin, kind=kind, subject=subject)


def test_audit_chain_names_an_older_anchor_and_min_size_refuses_it(
    scenario: Scenario, tmp_path: Path
) -> None:
    """Deleting the newest checkpoints anchors the verdict at an older one: the first line
    says which (its last line), with the entries left unjudged, and ``--min-size`` refuses it."""
    copy = _copy(scenario, tmp_path / "copy.db")
    chain = ["chain", scenario.root_referral, *_pin(scenario)]
    trusted = _audit(scenario, copy, *chain, "--min-size", "12")
    assert trusted.exit_code == 0, trusted.output
    assert "tree size 12 " in trusted.output.splitlines()[-1]
    ahead = _audit(scenario, copy, *chain, "--min-size", "13")
    assert ahead.exit_code == 1
    assert "stale_checkpoint" in str(ahead.exception)

    _edit(
        copy,
        ("DELETE FROM checkpoints WHERE size >= 12", ()),
        ("DELETE FROM witnessed WHERE size >= 12", ()),
    )
    older = _audit(scenario, copy, *chain, "--quorum", "0")  # nothing older was cosigned
    assert older.exit_code == 0, older.output
    anchor = older.output.splitlines()[-1]
    assert anchor.startswith("anchor: tree size 11 root ")
    assert anchor.endswith("cosigned by no witness; 1 later entry not judged")
    assert _positions(older.output) == [1, 3, 4, 6, 8, 10]
    refused = _audit(scenario, copy, *chain, "--quorum", "0", "--min-size", "12")
    assert refused.exit_code == 1
    assert "stale_checkpoint" in str(refused.exception)
    assert "size 11" in str(refused.exception)


def _twice(scenario: Scenario, path: Path) -> Path:
    """The pinned file with the quorum given twice, 2 then 0: a reader keeping the first
    sees 2, one keeping the last 0."""
    text = (scenario.ws.root / "consortium.json").read_text()
    assert text.count('"witness_quorum": 2') == 1
    path.write_text(text.replace('"witness_quorum": 2', '"witness_quorum": 2, "witness_quorum": 0'))
    return path


def test_a_pinned_consortium_with_a_key_twice_is_refused(
    scenario: Scenario, tmp_path: Path
) -> None:
    twice = _twice(scenario, tmp_path / "consortium.json")
    for load in (load_pinned, Consortium.load):
        with pytest.raises(ConfigError, match="'witness_quorum' appears twice") as refused:
            load(twice)
        assert refused.value.code == "duplicate_key"

    bundle = build_bundle(
        EmbeddedLog.of(scenario.ledger),
        scenario.ws.consortium,
        kind="referral_chain",
        subject=scenario.root_referral,
    )
    note = Note.parse(bundle["evidence"]["checkpoint"])
    bundle["evidence"]["checkpoint"] = Note(note.text, note.signatures[:1]).format()  # log's
    bundle["consortium"]["witness_quorum"] = 0
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    pinned = ["--consortium", str(twice)]
    verified = CliRunner().invoke(cli, ["audit", "verify", str(path), *pinned])
    assert verified.exit_code == 1, verified.output
    assert isinstance(verified.exception, ConfigError)
    assert verified.exception.code == "duplicate_key"
    copy = _copy(scenario, tmp_path / "copy.db")
    judged = _audit(scenario, copy, "chain", scenario.root_referral, *pinned)
    assert judged.exit_code == 1
    assert getattr(judged.exception, "code", None) == "duplicate_key"
