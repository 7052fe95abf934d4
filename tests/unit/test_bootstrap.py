"""Start-up reads every documented environment variable, and refuses bad values clearly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ledger_gw.bootstrap import Serving, config_from_env, serving_from_env
from ledger_gw.errors import ConfigError
from ledger_gw.services.config import GatewayConfig

LINUX = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux's CPU affinity")


def test_nothing_set_means_the_defaults() -> None:
    assert config_from_env({}) == GatewayConfig()


@LINUX
def test_nothing_set_means_the_default_serving() -> None:
    cores = len(os.sched_getaffinity(0))
    assert serving_from_env({}) == Serving("127.0.0.1:8080", min(2 * cores, 8), 8)


@LINUX
def test_the_default_workers_are_two_per_core_this_process_may_use() -> None:
    """A container limited to one core of a larger host serves with two workers."""
    one_core = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "from ledger_gw.bootstrap import serving_from_env; print(serving_from_env({}).workers)"
    )
    found = subprocess.run([sys.executable, "-c", one_core], capture_output=True, text=True)
    assert found.stdout.strip() == "2", found.stderr


@LINUX
def test_a_large_host_gets_eight_workers_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(32)))
    assert serving_from_env({}).workers == 8
    assert serving_from_env({"LEDGER_GW_WORKERS": "20"}).workers == 20  # the operator's call


def test_without_affinity_the_machines_cores_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """macOS has no sched_getaffinity: its gateway still starts, with two per core."""
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert serving_from_env({}).workers == 6


def test_every_variable_reaches_its_field() -> None:
    config = config_from_env({
        "LEDGER_GW_DIR": "/srv/ws", "LEDGER_GW_BACKEND": "fabric",
        "LEDGER_GW_LEDGER_URL": "sqlite:///x.db", "LEDGER_GW_FABRIC_PROFILE": "/p.json",
        "LEDGER_GW_APPENDER": "/run/a.sock", "LEDGER_GW_APPENDER_KEY": "00ff",
        "LEDGER_GW_OFFCHAIN_URL": "sqlite:///{org}.db", "LEDGER_GW_ORGS": " AGENCY-A, AGENCY-B ,",
        "LEDGER_GW_PSEUDONYM_KEY_FILE": "/k", "LEDGER_GW_MIGRATE": "off",
        "LEDGER_GW_MAX_BATCH": "7", "LEDGER_GW_SESSION_KEY_FILE": "/s",
        "LEDGER_GW_COOKIE_SECURE": "no", "LEDGER_GW_SYNC_INTERVAL": "2.5",
        "LEDGER_GW_RECEIPT_DEADLINE": "90", "LEDGER_GW_PROXIES": "2",
    })  # fmt: skip
    assert config == GatewayConfig(
        directory=Path("/srv/ws"), backend="fabric", ledger_url="sqlite:///x.db",
        fabric_profile=Path("/p.json"), appender=Path("/run/a.sock"), appender_key=b"\x00\xff",
        offchain_url="sqlite:///{org}.db", orgs=("AGENCY-A", "AGENCY-B"),
        pseudonym_key_file=Path("/k"), migrate=False, max_batch=7,
        session_key_file=Path("/s"), cookie_secure=False, sync_interval_s=2.5,
        receipt_deadline_s=90.0, proxies=2,
    )  # fmt: skip
    assert "00ff" not in repr(config)
    assert serving_from_env(
        {"LEDGER_GW_BIND": "0.0.0.0:9", "LEDGER_GW_WORKERS": "3", "LEDGER_GW_THREADS": "4"}
    ) == Serving("0.0.0.0:9", 3, 4)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LEDGER_GW_BACKEND": "ledger"}, "LEDGER_GW_BACKEND"),
        ({"LEDGER_GW_MAX_BATCH": "many"}, "LEDGER_GW_MAX_BATCH"),
        ({"LEDGER_GW_MIGRATE": "perhaps"}, "LEDGER_GW_MIGRATE"),
        ({"LEDGER_GW_COOKIE_SECURE": "2"}, "LEDGER_GW_COOKIE_SECURE"),
        ({"LEDGER_GW_APPENDER": "/run/a.sock"}, "LEDGER_GW_APPENDER_KEY"),
        ({"LEDGER_GW_APPENDER": "/a", "LEDGER_GW_APPENDER_KEY": "xyz"}, "LEDGER_GW_APPENDER_KEY"),
        ({"LEDGER_GW_SYNC_INTERVAL": "often"}, "LEDGER_GW_SYNC_INTERVAL"),
        ({"LEDGER_GW_RECEIPT_DEADLINE": "0"}, "LEDGER_GW_RECEIPT_DEADLINE"),
        ({"LEDGER_GW_RECEIPT_DEADLINE": "nan"}, "LEDGER_GW_RECEIPT_DEADLINE"),
        ({"LEDGER_GW_PROXIES": "-1"}, "LEDGER_GW_PROXIES"),
        ({"LEDGER_GW_PROXIES": "one"}, "LEDGER_GW_PROXIES"),
    ],
)
def test_a_bad_value_is_refused_by_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        config_from_env(env)


@pytest.mark.parametrize("name", ["LEDGER_GW_WORKERS", "LEDGER_GW_THREADS"])
def test_a_bad_serving_value_is_refused_by_name(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        serving_from_env({name: "two"})
