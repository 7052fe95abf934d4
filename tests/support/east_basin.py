"""East Basin: a consortium of its own (two agencies and an auditor, none of the demo's),
defined in the file its operators would write, and the `ledger-gw` they would run."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import run_cli

#: An agency and an auditor: a consortium to add members to and rotate keys in.
SMALL = """
name = "east-basin"
[[members]]
id = "RIVER-AID"
role = "agency"
display_name = "River Aid"
[[members]]
id = "LAKE-AUDIT"
role = "auditor"
display_name = "Lake Audit"
"""


DEFINITION = """
name = "east-basin"
locations = ["KE01", "KE0101", "KE0102"]

[[members]]
id = "RIVER-AID"
role = "agency"
display_name = "River Aid"
iati_ref = "ZZ-EB-RIVER"
iati_type = "22"

[[members]]
id = "HILL-HEALTH"
role = "agency"
display_name = "Hill Health"
iati_ref = "ZZ-EB-HILL"
iati_type = "21"

[[members]]
id = "LAKE-AUDIT"
role = "auditor"
display_name = "Lake Audit"

[[programmes]]
code = "FOOD-2026"
currency = "KES"
ceiling = "20000"

[endorsement]
required = 2
among = ["RIVER-AID", "HILL-HEALTH"]
"""


def init_east_basin(tmp_path: Path, text: str = DEFINITION) -> Path:
    """Write the definition file and `ledger-gw init` a directory from it."""
    definition = tmp_path / "east-basin.toml"
    definition.write_text(text)
    root = tmp_path / "east-basin"
    done = run_cli("init", str(root), "--consortium", str(definition))
    assert done.returncode == 0, done.stderr
    return root


def issue_token(directory: Path, org: str, role: str) -> str:
    """A bearer token from `ledger-gw token issue`."""
    done = run_cli("token", "issue", "--dir", str(directory), "--org", org, "--role", role)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
