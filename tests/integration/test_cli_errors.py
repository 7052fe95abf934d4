"""What a new user meets when a path, a database or a port is wrong: one line on stderr,
exit status 1, and nothing created or printed as if all were well."""

from __future__ import annotations

import importlib.metadata
import socket
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.support.cli import clean_failure, own_pin, run_cli

pytestmark = pytest.mark.slow


def test_version_prints_the_installed_package_version() -> None:
    done = run_cli("--version")
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.strip() == f"ledger-gw, version {importlib.metadata.version('referral-ledger')}"
    )


def test_verify_refuses_a_missing_ledger_and_creates_none(tmp_path: Path) -> None:
    directory = tmp_path / "consortium"
    assert run_cli("init", str(directory)).returncode == 0
    line = clean_failure(run_cli("verify", "--dir", str(directory), *own_pin(directory)))
    assert "no ledger at" in line
    assert "ledger.db" in line
    assert not (directory / "ledger.db").exists()
    assert "verifies" not in run_cli("verify", "--dir", str(directory), *own_pin(directory)).stdout


def test_reading_commands_never_create_a_ledger(demo_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nothing.db"
    line = clean_failure(
        run_cli("checkpoint", "show", "--dir", str(demo_dir), "--ledger", f"sqlite:///{missing}")
    )
    assert "no ledger at" in line
    assert not missing.exists()


def test_a_missing_consortium_directory_is_one_line(tmp_path: Path) -> None:
    assert "holds no consortium" in clean_failure(run_cli("verify", "--dir", str(tmp_path / "no")))


def test_what_a_message_quotes_is_printed_as_typed(tmp_path: Path) -> None:
    """A path (or any value quoted back) holding console markup or an emoji code is
    shown as it was typed, not styled or turned into a symbol."""
    typed = str(tmp_path / "no[bold]such:x:dir")
    assert f"{typed} holds no consortium" in clean_failure(run_cli("verify", "--dir", typed))


@pytest.mark.parametrize("damage", ["truncated", "not_a_database"])
def test_a_damaged_database_is_one_line(demo_dir: Path, tmp_path: Path, damage: str) -> None:
    whole = (demo_dir / "ledger.db").read_bytes()
    with closing(sqlite3.connect(demo_dir / "ledger.db")) as db:
        page = int(db.execute("PRAGMA page_size").fetchone()[0])
    assert len(whole) > 4 * page
    damaged = tmp_path / "ledger.db"
    damaged.write_bytes(whole[: len(whole) // 2] if damage == "truncated" else b"junk" * page)
    url = f"sqlite:///{damaged}"
    verify = ("verify", *own_pin(demo_dir))
    for command in (verify, ("checkpoint", "show"), ("prove", "consistency", "1")):
        line = clean_failure(run_cli(*command, "--dir", str(demo_dir), "--ledger", url))
        assert line.startswith("error ledger_unavailable: the database cannot be used"), line


def test_an_unreachable_postgresql_url_is_one_line(demo_dir: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://ledger:secret@127.0.0.1:{port}/ledger?connect_timeout=3"
    pin = own_pin(demo_dir)
    line = clean_failure(run_cli("verify", "--dir", str(demo_dir), *pin, "--ledger", url))
    assert "the database cannot be used" in line
    assert "refused" in line
    assert "secret" not in line


def test_a_bad_database_url_is_one_line(demo_dir: Path) -> None:
    pin = own_pin(demo_dir)
    line = clean_failure(run_cli("verify", "--dir", str(demo_dir), *pin, "--ledger", "nonsense"))
    assert "not a database URL" in line


def test_serve_on_a_busy_port_fails_before_printing_tokens(busy_port: int, tmp_path: Path) -> None:
    directory = tmp_path / "served"
    done = run_cli("serve", "--demo", "--dir", str(directory), "--port", str(busy_port))
    line = clean_failure(done)
    assert f"127.0.0.1:{busy_port}" in line
    assert "in use" in line
    assert done.stdout == ""  # no URL, no witness, no token
    assert not directory.exists()


def test_serve_without_demo_on_a_busy_port_fails_the_same_way(
    busy_port: int, demo_dir: Path
) -> None:
    done = run_cli("serve", "--dir", str(demo_dir), "--port", str(busy_port))
    assert "in use" in clean_failure(done)
    assert done.stdout == ""
