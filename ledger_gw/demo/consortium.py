"""The demo consortium: three agencies, an independent auditor, a donor."""

from __future__ import annotations

from ledger_gw.consortium import Ceiling, Definition

#: Who they stand for in the story (shown by ``ledger-gw demo``).
DESCRIPTIONS = {
    "AGENCY-A": "a national Red Crescent society: cash assistance",
    "AGENCY-B": "a health NGO at the first service point",
    "AGENCY-C": "a health partner in the next country",
    "AUDITOR-X": "an independent auditor",
    "DONOR-Y": "a humanitarian donor",
}

DEMO = Definition(
    name="demo",
    members=(
        ("AGENCY-A", "agency"),
        ("AGENCY-B", "agency"),
        ("AGENCY-C", "agency"),
        ("AUDITOR-X", "auditor"),
        ("DONOR-Y", "donor"),
    ),
    programmes=("MPCA-2025", "MPCA-2026", "HEALTH-ACCESS", "WASH-2026", "SHELTER-2026"),
    # Illustrative admin 1-2 codes where the story and the synthetic people live.
    locations=("LB11", "LB12", "LB15", "LB21", "LB22", "LB31", "LB81", "SY02", "SY0203"),
    ceilings={
        "MPCA-2025": Ceiling("USD", "2000"),
        "MPCA-2026": Ceiling("USD", "2000"),
        "HEALTH-ACCESS": Ceiling("USD", "1000"),
        "WASH-2026": Ceiling("USD", "1000"),
        "SHELTER-2026": Ceiling("USD", "3000"),
    },
)

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
