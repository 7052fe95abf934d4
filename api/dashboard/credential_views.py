"""The dashboard's credential check: a member drops the photo of a person's card (or its
text) and reads what it shows, whether it verifies and, if not, why, in one word."""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from api.auth import caller, gateway
from api.dashboard.session import page
from api.dashboard.views import bp
from api.ratelimit import expensive
from ledger_gw.errors import CredentialError, ForbiddenError, ValidationError
from ledger_gw.services import credentials
from ledger_gw.services.access import Action

_STATUS_UNKNOWN = "credential_status_unknown"


@bp.route("/credentials/verify", methods=["GET", "POST"])
@page(Action.CREDENTIALS_VERIFY)
@expensive
def verify_credential() -> str:
    result: dict[str, Any] | None = None
    if request.method == "POST":
        upload = request.files.get("card")
        data = upload.read() if upload is not None else b""
        if not data:
            raise ValidationError("choose a photo of the card", code="missing_field", field="card")
        try:
            result = credentials.verify(gateway(), caller(), data, "service_continuity")
        except CredentialError as exc:
            result = {"ok": False, "code": exc.code, "detail": str(exc)}
        except ForbiddenError as exc:
            if exc.code != _STATUS_UNKNOWN:
                raise
            result = {"ok": False, "code": exc.code, "detail": str(exc)}
    return render_template("credential.html", result=result)
