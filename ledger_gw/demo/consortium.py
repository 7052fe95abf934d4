"""The demo consortium: three agencies, an independent auditor, a donor."""

from __future__ import annotations

from pathlib import Path

from ledger_gw.consortium_toml import load_definition

#: The demo's definition file, as a consortium of its own would write one.
DEFINITION_FILE = Path(__file__).with_name("consortium.toml")

#: Who they stand for in the story (shown by ``ledger-gw demo``).
DESCRIPTIONS = {
    "AGENCY-A": "a national Red Crescent society: cash assistance",
    "AGENCY-B": "a health NGO at the first service point",
    "AGENCY-C": "a health partner in the next country",
    "AUDITOR-X": "an independent auditor",
    "DONOR-Y": "a humanitarian donor",
}

DEMO = load_definition(DEFINITION_FILE)

#: The bearer tokens ``serve --demo`` issues: one per (organisation, API role).
DEMO_TOKENS: tuple[tuple[str, str], ...] = (
    ("AGENCY-A", "agency-writer"),
    ("AGENCY-A", "agency-reader"),
    ("AGENCY-A", "admin"),
    ("AGENCY-B", "agency-writer"),
    ("AGENCY-C", "agency-writer"),
    ("AUDITOR-X", "auditor"),
    ("DONOR-Y", "donor"),
)
