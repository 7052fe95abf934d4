"""`ledger-gw witness serve` listens where it is told or says, in one line with a code,
why it cannot: never on a port it was not given, never with a traceback."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from ledger_gw.topology.processes import cli
from ledger_gw.witness import WitnessHome
from tests.support.cli import clean_failure

ORG = "AUDITOR-X"
LOG_VKEY = "ledger.local/demo+d4619632+AftsuAhheDSeQubVrMBbDDepWPJ03xvZlkrRg8U4WvNU"


def _serve(home: Path, *address: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli(
            *("witness", "serve", "--org", ORG, "--dir", str(home), *address),
            *("--log-vkey", LOG_VKEY, "--origin", "ledger.local/demo"),
        ),
        capture_output=True,
        text=True,
        timeout=30,  # a witness that started would serve until killed
        check=False,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return WitnessHome.create(tmp_path_factory.mktemp("witness") / "w", ORG).root


@pytest.mark.parametrize("port", ["99999", "65536", "-5"])
def test_a_port_out_of_range_is_a_usage_error(home: Path, port: str) -> None:
    done = _serve(home, "--port", port)
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr
    assert "not in the range 0<=x<=65535" in done.stderr


def test_a_port_in_use_is_one_line_with_a_code(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = clean_failure(_serve(home, "--port", str(port)))
    assert line == (
        f"error config_error: cannot listen on 127.0.0.1:{port}: "
        "the port is in use by another process"
    )


def test_an_address_not_this_machines_is_one_line_with_a_code(home: Path) -> None:
    line = clean_failure(_serve(home, "--host", "192.0.2.1", "--port", "0"))  # TEST-NET-1
    assert line.startswith("error config_error: cannot listen on 192.0.2.1:0: ")
