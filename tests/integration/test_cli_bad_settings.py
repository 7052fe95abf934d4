"""Numbers a server cannot run with, and database URLs that do not parse: refused before
anything is printed or started, without a traceback, and without the password a URL
carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger_gw import database_urls
from tests.support.cli import clean_failure, own_pin, run_cli

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("serve", "--port", "99999"), "--port"),
        (("serve", "--port", "-1"), "--port"),
        (("serve", "--workers", "0"), "--workers"),
        (("serve", "--threads", "-3"), "--threads"),
        (("log", "serve", "--port", "99999"), "--port"),
        (("log", "serve", "--threads", "0"), "--threads"),
    ],
)
def test_an_option_out_of_range_is_refused_before_the_banner(
    tmp_path: Path, args: tuple[str, ...], option: str
) -> None:
    done = run_cli(*args, "--dir", str(tmp_path / "none"))
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr
    assert f"Invalid value for '{option}'" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("LEDGER_GW_WORKERS", "0", "LEDGER_GW_WORKERS must be 1 or more"),
        ("LEDGER_GW_THREADS", "-3", "LEDGER_GW_THREADS must be 1 or more"),
        ("LEDGER_GW_BIND", "127.0.0.1:99999", "the port of 127.0.0.1:99999 must be 0 to 65535"),
        ("LEDGER_GW_BIND", "127.0.0.1:-1", "the port of 127.0.0.1:-1 must be 0 to 65535"),
    ],
)
def test_a_setting_out_of_range_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, said: str
) -> None:
    monkeypatch.setenv(name, value)
    done = run_cli("serve", "--dir", str(tmp_path / "none"))
    assert clean_failure(done) == f"error config_error: {said}"
    assert done.stdout == ""


def test_the_log_node_on_a_busy_port_fails_before_its_banner(
    tmp_path: Path, busy_port: int
) -> None:
    directory = tmp_path / "ws"
    assert run_cli("init", str(directory)).returncode == 0
    done = run_cli("log", "serve", "--dir", str(directory), "--port", str(busy_port))
    assert "in use" in clean_failure(done)
    assert done.stdout == ""


PASSWORD = "SECRETPW"


@pytest.mark.parametrize(
    "url", [f"u:{PASSWORD}@x", f"postgresql+psycopg://u:{PASSWORD}@x:notaport/ledger"]
)
def test_a_database_url_is_never_shown_with_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    directory = tmp_path / "ws"
    assert run_cli("init", str(directory)).returncode == 0
    at = ("--dir", str(directory))
    tried = []
    with monkeypatch.context() as env:
        env.setenv("LEDGER_GW_LEDGER_URL", url)
        tried.append(run_cli("serve", *at, "--port", "0"))
    with monkeypatch.context() as env:
        env.setenv("LEDGER_GW_OFFCHAIN_URL", url + "{org}")
        tried.append(run_cli("token", "list", *at, "--org", "AGENCY-A"))
    for done in tried:
        line = clean_failure(done)
        assert "not a database URL" in line
        assert PASSWORD not in done.stdout + done.stderr


def test_verify_does_not_show_the_password_of_a_ledger_url(tmp_path: Path) -> None:
    directory = tmp_path / "ws"
    assert run_cli("init", str(directory)).returncode == 0
    pin = own_pin(directory)
    done = run_cli("verify", "--dir", str(directory), *pin, "--ledger", f"u:{PASSWORD}@x")
    assert "not a database URL" in clean_failure(done)
    assert PASSWORD not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://u:pw@db/ledger", "postgresql+psycopg://u:***@db/ledger"),
        ("sqlite:////srv/ledger.db", "sqlite:////srv/ledger.db"),
        ("u:pw@x", "***@x"),
        ("u:p@w@x", "***@x"),
        ("postgresql://u:pw@x:notaport/ledger", "postgresql://***@x:notaport/ledger"),
        ("nonsense", "nonsense"),
    ],
)
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert database_urls.shown_url(url) == shown
