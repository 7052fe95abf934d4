"""A reader who follows a link in the README or the docs finds the file it names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_relative_link_names_a_file_in_the_repository(document: Path) -> None:
    targets = [t for t in LINK.findall(document.read_text()) if "://" not in t]
    missing = [t for t in targets if not (document.parent / t).exists()]
    assert not missing, f"{document.name} links to missing {missing}"


def test_the_readme_leads_to_the_design_document() -> None:
    assert "](docs/design.md)" in (ROOT / "README.md").read_text()
    design = (ROOT / "docs" / "design.md").read_text()
    for section in (
        "## The parties",
        "## What may go on the ledger",
        "## The events",
        "## The layers",
    ):
        assert section in design


def test_the_licence_is_apache_2_and_pyproject_says_so() -> None:
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert "Version 2.0" in (ROOT / "LICENSE").read_text()
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()
