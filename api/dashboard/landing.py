"""The gateway's front page at `/`: what it is, and the screens the logged-in caller has."""

from __future__ import annotations

from flask import Blueprint, render_template

from api.dashboard.session import current_caller
from api.dashboard.views import dashboard_headers

bp = Blueprint("landing", __name__, template_folder="templates")
bp.after_request(dashboard_headers)


@bp.route("/", methods=["GET"])
def landing() -> str:
    return render_template("landing.html", caller=current_caller())
