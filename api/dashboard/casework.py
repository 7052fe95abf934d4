"""Caseworkers' pages: the agency's referral inbox, answering a referral, dismissing a
refused offline event once it is dealt with, a person's page and the search of the
agency's own registrations that leads to it.

The inbox and the search are an agency's (its writers and readers); answering needs the
right to write events; a person's page, like the API's history, anyone who may read
persons. Answers are the same events the API writes, through the same services; a
refused answer is shown on the inbox with its status, code and every field error.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response

from api.auth import audit_pid, caller, gateway
from api.dashboard.session import page
from api.dashboard.views import bp
from api.errors import problem_for
from api.ratelimit import expensive
from ledger_gw.errors import LedgerError
from ledger_gw.services import casework, outbox, queries, registrations
from ledger_gw.services.access import Action

PAGE_SIZE = 25


def _arg(name: str) -> str | None:
    return request.args.get(name, "").strip() or None


def _inbox(refusal: Any = None, status: int = 200) -> tuple[str, int]:
    state = casework.check_state(_arg("state"))
    found = queries.referrals_page(
        gateway(), caller(), "incoming", state, _arg("cursor"), PAGE_SIZE
    )
    html = render_template(
        "inbox.html",
        referrals=found["referrals"],
        next=found["next"],
        state=state or "",
        states=casework.REFERRAL_STATES,
        reasons=casework.REASONS,
        refusal=refusal,
        new_event_id=lambda: str(uuid.uuid4()),
    )
    return html, status


@bp.route("/referrals", methods=["GET"])
@page(Action.REGISTRATIONS_READ)
def inbox() -> tuple[str, int]:
    return _inbox()


@bp.route("/referrals/<uuid:referral_id>/answer", methods=["POST"])
@page(Action.EVENTS_WRITE)
def answer(referral_id: uuid.UUID) -> Response | tuple[str, int]:
    form = request.form
    try:
        result = casework.answer(
            gateway(),
            caller(),
            str(referral_id),
            form.get("answer", ""),
            form.get("event_id", ""),
            form.get("reason", "").strip() or None,
        )
    except LedgerError as error:
        found = problem_for(error)
        return _inbox(found, found.status)
    audit_pid(result.get("pid"))
    flash(f"Referral {result['referral_id']} is now {result['state']}.", "pass")
    return redirect(url_for("dashboard.inbox", state=_arg("state")))


@bp.route("/outbox", methods=["GET"])
@page(Action.EVENTS_WRITE)
def outbox_page() -> str:
    """Events captured offline that the contract refused once they reached the log
    node: never retried, so a caseworker must see them to record a corrected event."""
    listed = outbox.listing(gateway(), caller(), "failed", _arg("cursor"), PAGE_SIZE)
    return render_template(
        "outbox.html", failed=listed["failed"], totals=listed["totals"], next=listed["next"]
    )


@bp.route("/outbox/<int:seq>/dismiss", methods=["GET"])
@page(Action.EVENTS_WRITE)
def confirm_dismiss(seq: int) -> str:
    """Dismissing cannot be undone and the event was never logged: the caseworker sees
    what she is about to dismiss, and confirms."""
    return render_template("dismiss.html", item=outbox.refused(gateway(), caller(), seq))


@bp.route("/outbox/<int:seq>/dismiss", methods=["POST"])
@page(Action.EVENTS_WRITE)
def dismiss_outbox_item(seq: int) -> Response:
    """Once the corrected event is recorded, the refusal leaves the page."""
    try:
        item = outbox.dismiss(gateway(), caller(), seq)
    except LedgerError as error:  # dismissed already, in another tab say
        # What the API would say: a fault's message is the operator's, and a flash
        # travels in the session cookie, signed but readable.
        flash(f"Not dismissed: {problem_for(error).detail}", "fail")
    else:
        flash(f"Refused event {item['event_id']} dismissed.", "pass")
    return redirect(url_for("dashboard.outbox_page"))


@bp.route("/persons", methods=["GET", "POST"])
@page(Action.REGISTRATIONS_READ)
@expensive
def search() -> str:
    """The list, or with a POST a search: its terms, names and birth dates, come in the
    form and never in the URL, which the browser's history keeps on a shared field
    device. A `q` in the URL (an old bookmark) is not searched for."""
    posted = request.method == "POST"
    fields = request.form if posted else request.args
    q = (fields.get("q", "").strip() or None) if posted else None
    cursor = fields.get("cursor", "").strip() or None
    found = registrations.search(gateway(), caller(), q, cursor, PAGE_SIZE)
    return render_template("search.html", q=q or "", people=found.items, next=found.next)


@bp.route("/persons/<pid>", methods=["GET"])
@page(Action.PERSONS_READ)
def person(pid: str) -> str:
    found = casework.person(
        gateway(), caller(), pid, _arg("history_after"), _arg("entitlements_after"), PAGE_SIZE
    )
    return render_template("person.html", person=found, purpose=casework.PURPOSE)
