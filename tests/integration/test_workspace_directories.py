"""`ledger-gw init`, `demo --fresh` and `consortium up --fresh` given a directory that is
someone's own: nothing in it is overwritten or deleted, and the refusal is one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger_gw.consortium import Consortium
from ledger_gw.demo.consortium import DEMO
from ledger_gw.workspace import Workspace
from tests.support.cli import clean_failure, run_cli
from tests.support.disk import digests


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A consortium `ledger-gw init` made: every member's keys, its ledger's key."""
    done = run_cli("init", str(tmp_path / "ws"))
    assert done.returncode == 0, done.stderr
    return tmp_path / "ws"


def test_init_over_keys_without_a_consortium_file_overwrites_none(workspace: Path) -> None:
    """Its consortium file lost (or not yet copied back): a new init would make new keys
    over the old ones, orphaning the ledger they signed and every pseudonym."""
    (workspace / "consortium.json").unlink()
    before = digests(workspace)
    line = clean_failure(run_cli("init", str(workspace)))
    assert "directory_not_empty" in line, line
    assert digests(workspace) == before


def test_init_refuses_any_directory_with_files_and_takes_an_empty_one(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("four years of work")
    assert "directory_not_empty" in clean_failure(run_cli("init", str(mine)))
    assert [p.name for p in mine.iterdir()] == ["thesis.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_cli("init", str(empty)).returncode == 0
    Workspace.load(empty)


def test_a_failed_init_leaves_no_directory_behind(tmp_path: Path) -> None:
    definition = tmp_path / "line-break.json"
    definition.write_text('{"name": "x\\ny", "members": [{"id": "RIVER-AID", "role": "agency"}]}')
    line = clean_failure(run_cli("init", str(tmp_path / "ws"), "--consortium", str(definition)))
    assert "is not a consortium name" in line, line
    assert not (tmp_path / "ws").exists()
    # Failing halfway, after keys are written: none of them stays, nor the directories
    # made for them; an empty directory given stays, empty.
    with pytest.raises(KeyError):
        Workspace.create(tmp_path / "new" / "deep" / "ws", DEMO, cas={})
    assert not (tmp_path / "new").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(KeyError):
        Workspace.create(empty, DEMO, cas={})
    assert list(empty.iterdir()) == []


def test_demo_fresh_deletes_no_directory_it_did_not_make(tmp_path: Path, workspace: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("four years of work")
    for directory in (precious, workspace):  # someone's files; a real consortium
        before = digests(directory)
        line = clean_failure(run_cli("demo", "--dir", str(directory), "--fresh"))
        assert "not_made_by_demo" in line, line
        assert digests(directory) == before
    assert not (tmp_path / "precious-witnesses").exists()


def test_demo_fresh_replaces_a_directory_the_demo_made(tmp_path: Path) -> None:
    directory = tmp_path / "journey"
    assert run_cli("demo", "--dir", str(directory)).returncode == 0
    first = Consortium.load(directory / "consortium.json").log_vkey
    done = run_cli("demo", "--dir", str(directory), "--fresh")
    assert done.returncode == 0, done.stderr
    assert Consortium.load(directory / "consortium.json").log_vkey != first


def test_a_new_demo_deletes_no_directory_beside_it(tmp_path: Path) -> None:
    """Its witnesses live in <dir>-witnesses: a directory of that name that the demo did
    not make is refused, not emptied for them."""
    beside = tmp_path / "thesis-witnesses"
    beside.mkdir()
    (beside / "notes.txt").write_text("field notes")
    line = clean_failure(run_cli("demo", "--dir", str(tmp_path / "thesis")))
    assert "not_made_by_demo" in line, line
    assert [p.name for p in beside.iterdir()] == ["notes.txt"]


def test_up_fresh_deletes_no_directory_that_is_not_a_site(tmp_path: Path, workspace: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("four years of work")
    # an agency that is not a member: nothing would start, whatever became of the site
    up = ("consortium", "up", "--dir", str(workspace), "--agency", "NOT-A-MEMBER", "--fresh")
    for site in (precious, workspace):
        before = digests(site)
        line = clean_failure(run_cli(*up, "--site", str(site)))
        assert "is not a site" in line, line
        assert digests(site) == before
