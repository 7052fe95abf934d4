"""Dashboard pages: server-rendered, escaped by Jinja, built on the same services as /v1.

Auditors see referral chains with each step's verdict and can drop a bundle to verify;
donors (and auditors) see the accountability report with charts; an agency sees its
own organisation's report. No page shows personal data: at most event IDs, organisation
codes and states.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any
from urllib.parse import unquote

from flask import Blueprint, Response, g, json, redirect, render_template, request, url_for
from marshmallow import ValidationError as SchemaError
from werkzeug.exceptions import HTTPException

from api.auth import caller, gateway
from api.blueprints.reports import query_from, report_response
from api.dashboard import charts
from api.dashboard.session import StaleForm, can, csrf_ok, csrf_token, log_in, log_out, page
from api.errors import problem_for
from api.ratelimit import charge, expensive
from api.schemas import ReportArgs
from ledger_gw.errors import AuthenticationError, ValidationError
from ledger_gw.interfaces import AnchorName
from ledger_gw.services import bundles, reports
from ledger_gw.services.access import Action

PREFIX = "/dashboard"
bp = Blueprint(
    "dashboard",
    __name__,
    url_prefix=PREFIX,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
FUNNEL = (("made", "referrals_made"), ("accepted", "referrals_accepted"))
SERIES_WEEKS = 9  # the weeks the delivery chart draws when the filter names no `from`
MEDIAN = "median_days_to_completion"  # the summary's one figure that is not a count


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "can": can, "Action": Action, "caller": g.get("caller")}


@bp.after_request
def dashboard_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.after_app_request
def _unmatched_headers(response: Response) -> Response:
    """A dashboard path that no page answers (404, 405, the redirect to add a slash):
    Flask runs the blueprint's own hooks only for its routes."""
    path = request.path
    if request.blueprint is None and (path == PREFIX or path.startswith(f"{PREFIX}/")):
        return dashboard_headers(response)
    return response


@bp.errorhandler(HTTPException)
@bp.errorhandler(Exception)
def _error(error: Exception) -> tuple[str, int]:
    """The API's status and safe detail, as a page."""
    found = problem_for(error)
    html = render_template(
        "error.html", status=found.status, title=found.title, message=found.detail
    )
    return html, found.status


@bp.errorhandler(StaleForm)
def _stale_form(error: StaleForm) -> tuple[str, int]:
    """A form without its CSRF token: the page says what to do, not what the API would."""
    html = render_template("error.html", status=400, title="Bad request", message=error.description)
    return html, 400


@bp.route("/", methods=["GET"])
@page()
def home() -> str:
    return render_template("home.html", caller=caller())


# Where a log-in may lead: a path of this dashboard, in characters a URL keeps as they
# are (never another site, never a control character that would end the header).
_DASHBOARD_PATH = re.compile(r"/dashboard/[A-Za-z0-9/_.~%?=&+-]*")


def _climbs(target: str) -> bool:
    """Whether a path has a dot segment, even percent-encoded: the browser resolves
    `/dashboard/../docs/...` (or `%2e%2e`) to a page outside the dashboard."""
    path = unquote(target.partition("?")[0])
    return bool({".", ".."} & set(path.split("/")))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        if not csrf_ok():
            error = "The form expired: please try again."
        else:
            try:
                log_in(request.form.get("token", "").strip())
            except AuthenticationError:
                error = "That token is not valid (malformed, unknown or revoked)."
            else:
                target = request.args.get("next", "")
                ok = _DASHBOARD_PATH.fullmatch(target) is not None and not _climbs(target)
                return redirect(target if ok else url_for("dashboard.home"))
    return render_template("login.html", error=error), 401 if error else 200


@bp.route("/logout", methods=["POST"])
@page()
def logout() -> Any:
    log_out()
    return redirect(url_for("dashboard.login"))


def _referral_id() -> str | None:
    raw = request.args.get("referral_id", "").strip()
    if not raw:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ValidationError(
            "a referral ID is a UUID", code="invalid_value", field="referral_id"
        ) from None


@bp.route("/audit/chain", methods=["GET"])
@page(Action.AUDIT_BUNDLES)
@expensive
def chain() -> str:
    referral_id = _referral_id()
    result = bundles.chain(gateway(), referral_id) if referral_id else None
    return render_template("chain.html", referral_id=referral_id or "", result=result)


@bp.route("/audit/bundle", methods=["GET"])
@page(Action.AUDIT_BUNDLES)
@expensive
def bundle() -> Response:
    referral_id = _referral_id()
    if referral_id is None:
        raise ValidationError("referral_id is required", code="missing_field", field="referral_id")
    out = bundles.bundle(gateway(), "referral_chain", referral_id)
    response = Response(json.dumps(out, indent=2) + "\n", mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="bundle-{referral_id}.json"'
    return response


@bp.route("/audit/verify", methods=["GET", "POST"])
@page(Action.AUDIT_VERIFY)
@expensive
def verify() -> str:
    result = None
    if request.method == "POST":
        upload = request.files.get("bundle")
        data = upload.read() if upload is not None else b""
        if not data:
            raise ValidationError("choose a bundle file", code="missing_field", field="bundle")
        result = bundles.verify(gateway(), data).to_dict()
    return render_template("verify.html", result=result)


def _report_args() -> dict[str, Any]:
    try:
        args: dict[str, Any] = ReportArgs().load({k: v for k, v in request.args.items() if v != ""})
    except SchemaError as exc:
        field = sorted(exc.messages_dict)[0]
        raise ValidationError(f"{field}: not valid", code="invalid_request", field=field) from None
    return args


@bp.route("/reports", methods=["GET"])
@page(Action.REPORTS_READ)
def report() -> str:
    """Each report it computes is charged as one of the API's expensive requests, before
    any is: a chart of two years' weeks is a hundred reports under the process's lock."""
    args = _report_args()
    gw, who = gateway(), caller()
    query = query_from(args)
    today = dt.datetime.now(dt.UTC).date()
    charge(1 + len(reports.series_periods(query, SERIES_WEEKS, today)))  # and the chart's
    data = reports.signed(gw, who, query)
    weeks = reports.weekly_deliveries(gw, query, SERIES_WEEKS, today)
    summary, k = data["summary"], query.k
    referrals = data["tables"]["referrals"]
    funnel = [(label, summary[name]) for label, name in FUNNEL]
    funnel.append(("completed", summary["referrals_completed"]))
    figures = {
        "weeks": charts.vertical(
            f"Deliveries per {'month' if query.on_lattice else 'week'}",
            [(w.label, w.deliveries) for w in weeks],
            k,
        ),
        "funnel": charts.horizontal("Referral funnel", funnel, k),
        "sectors": charts.horizontal(
            "Referrals by sector",
            list(zip(referrals["rows"], referrals["referrals"]["row_totals"], strict=True)),
            k,
        ),
    }
    consortium = gw.workspace.consortium
    orgs = [o for o, m in consortium.organisations.items() if m.role == "agency"]
    filters: dict[str, Any] = _echo(args)
    downloads = {
        fmt: url_for("dashboard.download", format=fmt, **filters) for fmt in reports.FORMATS
    }
    return render_template(
        "report.html",
        report=data,
        anchor=AnchorName.of(data["anchor"]),
        query=query,
        charts=figures,
        weeks=weeks,
        orgs=orgs if query.org is None or who.role.value in ("donor", "auditor") else [],
        own_only=who.role.value.startswith("agency"),
        programmes=consortium.programmes,
        args=_echo(args),
        downloads=downloads,
        nothing_counted=all(v == 0 for name, v in summary.items() if name != MEDIAN),
    )


def _echo(args: dict[str, Any]) -> dict[str, str]:
    """The filter as query-string values, for the form and the download links."""
    out = {
        "org": args.get("org"),
        "programme": args.get("programme"),
        "from": args["start"].isoformat() if args.get("start") else None,
        "to": args["end"].isoformat() if args.get("end") else None,
        "k": str(args["k"]),
    }
    return {key: value for key, value in out.items() if value}


@bp.route("/reports/download", methods=["GET"])
@page(Action.REPORTS_READ)
@expensive
def download() -> Response:
    return report_response(_report_args())
