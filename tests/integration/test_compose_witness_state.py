"""docker-compose.yml's witnesses run as compose runs them, on the directories the
compose file's own `ledger-gw consortium prepare` makes: with its memory a witness
serves; with its memory gone it refuses to start, where a volume seeded afresh with an
empty memory started without a word and would have cosigned a fork."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from ledger_gw.topology.processes import HOST, cli, free_port, listening, start
from ledger_gw.witness.home import STATE_FILE
from tests.support.cli import clean_failure, run_cli

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
WITNESSES = ("embedded-witness.agency-a", "embedded-witness.auditor-x")


def _prepare_command() -> list[str]:
    """The `ledger-gw consortium prepare` the compose file's comment gives."""
    lines = COMPOSE.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "# " in line and "consortium prepare" in line)
    words: list[str] = []
    for line in lines[at:]:
        text = line.split("#", 1)[1].strip()
        words += shlex.split(text.removesuffix("\\"))
        if not text.endswith("\\"):
            return words
    raise AssertionError("the command does not end")


def _laid_out(tmp_path: Path) -> tuple[Path, Path]:
    """The site as the compose file has it prepared, but under ``tmp_path``; and where the
    compose file has it (relative to the repository)."""
    command = _prepare_command()
    at = command.index("--site") + 1
    site, compose_site = tmp_path / "site", Path(command[at])
    command[at] = str(site)
    command[command.index("--dir") + 1] = str(tmp_path / "consortium")
    done = run_cli(*command[1:])
    assert done.returncode == 0, done.stderr
    return site, compose_site


@pytest.mark.parametrize("name", WITNESSES)
def test_the_compose_witness_serves_with_its_memory_and_refuses_without(
    name: str, tmp_path: Path
) -> None:
    service = yaml.safe_load(COMPOSE.read_text())["services"][name]
    site, compose_site = _laid_out(tmp_path)
    [mount] = service["volumes"]
    assert isinstance(mount, dict), f"{name} keeps its memory in {mount}"
    assert mount["type"] == "bind"
    assert mount["target"] == "/state"
    source = Path(mount["source"])
    assert source.parent == compose_site  # its directory of the prepared site
    directory = site / source.name
    port = free_port()
    argv = [re.sub(r"^/state", str(directory), a) for a in service["command"]]
    argv[argv.index("--host") + 1] = HOST
    argv[argv.index("--port") + 1] = str(port)
    assert argv[0] == "ledger-gw"
    command = cli(*argv[1:])

    witness = start(name, f"http://{HOST}:{port}", command, tmp_path / "w.log", listening(port))
    witness.stop()

    for suffix in ("", "-wal", "-shm"):  # its memory lost
        (directory / (STATE_FILE + suffix)).unlink(missing_ok=True)
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert "witness_memory_lost" in clean_failure(done)
    assert not (directory / STATE_FILE).exists()  # refusing made no empty memory
