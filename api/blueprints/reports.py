"""/v1/reports: donor accountability figures, anchored to a checkpoint and signed."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_smorest import Blueprint

from api.auth import caller, gateway
from api.blueprints.common import protected
from api.schemas import ReportArgs, ReportOut
from ledger_gw.interfaces import AnchorName
from ledger_gw.services import reports
from ledger_gw.services.access import Action

blp = Blueprint("reports", __name__, url_prefix="/v1/reports", description="Donor reports")

_FORMATS = {
    "application/json": {"schema": ReportOut},
    "text/csv": {"schema": {"type": "string"}},
    "application/xml": {"schema": {"type": "string"}},
}


def query_from(args: dict[str, Any]) -> reports.ReportQuery:
    """The report the caller asks for, held to what its role may see (shared with the
    dashboard)."""
    start, end = args.get("start"), args.get("end")
    return reports.query_for(
        gateway(),
        caller(),
        org=args.get("org"),
        programme=args.get("programme"),
        start=start.isoformat() if start else None,
        end=end.isoformat() if end else None,
        k=args["k"],
    )


def report_response(args: dict[str, Any]) -> Response:
    """The signed report in the asked format, as a download (shared with the dashboard)."""
    gw, who = gateway(), caller()
    query = query_from(args)
    report = reports.signed(gw, who, query)
    consortium = gw.workspace.consortium
    implementing, funding = reports.participants(consortium, who.org, query.org)
    body, mimetype, suffix = reports.export(
        report,
        args["format"],
        consortium.profile(who.org),
        args.get("glide"),
        reports.first_day(gw.log, query) if args["format"] == "iati" else None,
        implementing=implementing,
        funding=funding,
    )
    response = Response(body, mimetype=mimetype)
    name = f"accountability-{query.org or 'all'}-{AnchorName.of(report['anchor']).size}.{suffix}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@blp.route("/accountability", methods=["GET"])
@protected(blp, Action.REPORTS_READ, 422)
@blp.arguments(ReportArgs, location="query")
@blp.response(200, ReportOut)
@blp.doc(responses={"200": {"content": _FORMATS}})
def accountability(args: dict[str, Any]) -> Any:
    """Counts and sums over the log up to the latest checkpoint (its origin, size and
    root are in `anchor`), every count of people below `k` suppressed (null in JSON,
    empty in CSV), signed by the gateway for the caller's organisation. `format`: json,
    csv, hxl (HXL-tagged CSV) or iati (IATI 2.03 activity XML). Recompute and check it
    with `ledger-gw report verify`. Agencies get only their own organisation's report."""
    return report_response(args)
