"""Flat exports of a report: JSON, plain CSV and HXL-tagged CSV.

Suppressed figures are written as empty cells, never as zero. HXL puts a row of
hashtags under the header (https://hxlstandard.org) so humanitarian tools
(HDX, the HXL Proxy) recognise the columns.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from ledger_gw.interfaces import AnchorName

COLUMNS = (
    ("org", "Organisation", "#org+code"),
    ("programme", "Programme", "#activity+code"),
    ("table", "Table", "#meta+table"),
    ("row", "Location or sector", "#adm1+code"),
    ("column", "Modality or state", "#indicator+category"),
    ("measure", "Measure", "#indicator+name"),
    ("currency", "Currency", "#currency"),
    ("value", "Value", "#indicator+value+num"),
    ("from", "Period start", "#date+start"),
    ("to", "Period end", "#date+end"),
    ("tree_size", "Ledger tree size", "#meta+tree_size"),
    ("root", "Ledger root", "#meta+root"),
)
TOTAL = "total"


def _grid(
    name: str, table: dict[str, Any], measure: str, grid: dict[str, Any], cur: str
) -> Iterator[dict[str, Any]]:
    rows, cols = table["rows"], table["columns"]
    for r, row in enumerate(rows):
        for c, col in enumerate(cols):
            yield {
                "table": name,
                "row": row,
                "column": col,
                "measure": measure,
                "currency": cur,
                "value": grid["cells"][r][c],
            }
        yield {
            "table": name,
            "row": row,
            "column": TOTAL,
            "measure": measure,
            "currency": cur,
            "value": grid["row_totals"][r],
        }
    for c, col in enumerate(cols):
        yield {
            "table": name,
            "row": TOTAL,
            "column": col,
            "measure": measure,
            "currency": cur,
            "value": grid["column_totals"][c],
        }
    yield {
        "table": name,
        "row": TOTAL,
        "column": TOTAL,
        "measure": measure,
        "currency": cur,
        "value": grid["total"],
    }


def records(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One record per published (or suppressed: value None) figure."""
    q, anchor = report["query"], report["anchor"]
    common = {
        "org": q["org"],
        "programme": q["programme"],
        "from": q["start"],
        "to": q["end"],
        "tree_size": AnchorName.of(anchor).size,
        "root": AnchorName.of(anchor).head,
    }
    out = [
        {
            **common,
            "table": "summary",
            "row": TOTAL,
            "column": TOTAL,
            "measure": name,
            "currency": None,
            "value": value,
        }
        for name, value in report["summary"].items()
    ]
    reached = report["tables"]["reached"]
    for measure in ("people", "deliveries"):
        out += [{**common, **r} for r in _grid("reached", reached, measure, reached[measure], "")]
    for cur, grid in reached["amounts"].items():
        out += [{**common, **r} for r in _grid("reached", reached, "amount", grid, cur)]
    ref = report["tables"]["referrals"]
    out += [{**common, **r} for r in _grid("referrals", ref, "referrals", ref["referrals"], "")]
    return out


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


def to_csv(report: dict[str, Any], *, hxl: bool = False) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([label for _, label, _ in COLUMNS])
    if hxl:
        writer.writerow([tag for _, _, tag in COLUMNS])
    for rec in records(report):
        writer.writerow(["" if rec.get(key) is None else rec[key] for key, _, _ in COLUMNS])
    return buf.getvalue()
