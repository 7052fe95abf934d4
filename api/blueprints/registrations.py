"""/v1/registrations: a person's personal data, kept off-chain by this agency."""

from __future__ import annotations

import functools
from typing import Any, cast

from flask import request
from flask_smorest import Blueprint

from api.auth import audit_pid, caller, gateway
from api.blueprints.common import F, paged, protected
from api.schemas import (
    CorrectionIn,
    DocumentIn,
    DocumentOut,
    FromReferralIn,
    FromReferralOut,
    PageArgs,
    RegistrationIn,
    RegistrationListOut,
    RegistrationOut,
    RegistrationSearchIn,
)
from ledger_gw.errors import MalformedError
from ledger_gw.services import handover, registrations
from ledger_gw.services.access import Action

blp = Blueprint(
    "registrations",
    __name__,
    url_prefix="/v1/registrations",
    description="Personal data, off-chain, per organisation",
)


def _no_terms_in_url(view: F) -> F:
    """A search in the query string is refused before it is read, rather than run: the
    client learns to move it to the body, and no answer rewards the leak."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if "q" in request.args:
            raise MalformedError(
                "search terms go in the body of POST /v1/registrations/search, never in a URL",
                code="search_terms_in_url",
                field="q",
            )
        return view(*args, **kwargs)

    return cast(F, wrapper)


@blp.route("", methods=["GET"])
@protected(blp, Action.REGISTRATIONS_READ, 400, 422)
@_no_terms_in_url
@blp.arguments(PageArgs, location="query")
@blp.response(200, RegistrationListOut)
def listing(args: dict[str, Any]) -> Any:
    """This agency's own registrations, oldest first; never another agency's. A search
    is `POST /v1/registrations/search`: `q` here is refused (400 `search_terms_in_url`)."""
    page = registrations.search(gateway(), caller(), None, args.get("cursor"), args["limit"])
    return paged({"registrations": page.items, "next": page.next})


@blp.route("/search", methods=["POST"])
@protected(blp, Action.REGISTRATIONS_READ, 400, 422)
@_no_terms_in_url
@blp.arguments(RegistrationSearchIn)
@blp.response(200, RegistrationListOut)
def search(body: dict[str, Any]) -> Any:
    """This agency's own registrations, oldest first, that `q` finds in their attributes,
    pseudonymous ID or person ID; never another agency's. The terms are in the body, so
    that no URL (in a proxy's log, say) holds them. A search reads at most 5,000
    registrations a page: a page may then hold fewer than `limit`, or none, and `next`
    where the search goes on (send it back as `cursor`, with the same `q`)."""
    page = registrations.search(gateway(), caller(), body["q"], body.get("cursor"), body["limit"])
    return {"registrations": page.items, "next": page.next}


@blp.route("", methods=["POST"])
@protected(blp, Action.REGISTRATIONS_WRITE, 400, 404, 409, 422)
@blp.arguments(RegistrationIn)
@blp.response(201, RegistrationOut)
def create(body: dict[str, Any]) -> Any:
    """Register a person: her data stays here; returns her pseudonymous ID. 409
    `already_registered` names her existing registration in `person_id`. With
    `referral_id` (a referral to this organisation that it accepted) she is registered
    under the referral's pseudonymous ID, whatever her attributes now derive: 404
    `referral_not_found`, 403 `not_receiver`, 409 `referral_not_accepted` or
    `referral_closed` otherwise (422 `conflicting_fields` with a held ID), and nothing is
    created."""
    referral_id = body.get("referral_id")
    out = registrations.register(
        gateway(),
        caller(),
        body["attributes"],
        id_scheme=body["id_scheme"],
        held_id=body.get("held_id"),
        referral_id=None if referral_id is None else str(referral_id),
    )
    audit_pid(out["pid"])
    return out


@blp.route("/from-referral", methods=["POST"])
@protected(blp, Action.REGISTRATIONS_WRITE, 400, 404, 409, 422)
@blp.arguments(FromReferralIn)
@blp.response(200, FromReferralOut)
def from_referral(body: dict[str, Any]) -> Any:
    """Fetch the referring agency's sealed hand-over, check it against the ledger and
    answer with her registration pre-filled, for the caseworker to confirm (POST
    /v1/registrations then creates it). Nothing is created here."""
    out = handover.from_referral(gateway(), caller(), str(body["referral_id"]))
    audit_pid(out["pid"])
    return out


@blp.route("/<uuid:person_id>", methods=["GET"])
@protected(blp, Action.REGISTRATIONS_READ, 404)
@blp.response(200, RegistrationOut)
def read(person_id: Any) -> Any:
    """Read a registration."""
    out = registrations.get(gateway(), caller(), str(person_id))
    audit_pid(out["pid"])
    return out


@blp.route("/<uuid:person_id>", methods=["PATCH"])
@protected(blp, Action.REGISTRATIONS_WRITE, 400, 404, 409, 422)
@blp.arguments(CorrectionIn)
@blp.response(200, RegistrationOut)
def correct(body: dict[str, Any], person_id: Any) -> Any:
    """Correct her personal data; her pseudonymous ID stays the same, and she is found
    by her corrected attributes too. 409 `already_registered` when they are another
    registration's here, named in `person_id`; nothing is changed."""
    out = registrations.correct(gateway(), caller(), str(person_id), body["attributes"])
    audit_pid(out["pid"])
    return out


@blp.route("/<uuid:person_id>", methods=["DELETE"])
@protected(blp, Action.REGISTRATIONS_WRITE, 404, 409)
@blp.response(204)
def erase(person_id: Any) -> Any:
    """Erase her: first every consent this agency recorded for her that is still active
    is withdrawn on the ledger (`consent.revoked`, reason `person_request`), so that
    nothing it shared on her behalf is shared any more; then her personal data,
    documents and their salts are deleted (crypto-shredding). If the ledger refuses a
    withdrawal (409 `consent_not_withdrawn`) or cannot be reached (503), nothing is
    erased: send the request again. Her pseudonymous ID stays on the ledger's records."""
    audit_pid(registrations.erase(gateway(), caller(), str(person_id)))
    return None


@blp.route("/<uuid:person_id>/documents", methods=["POST"])
@protected(blp, Action.REGISTRATIONS_WRITE, 400, 404, 422)
@blp.arguments(DocumentIn)
@blp.response(201, DocumentOut)
def add_document(body: dict[str, Any], person_id: Any) -> Any:
    """Store a referral note or consent form off-chain; returns the keyed hash for events."""
    out = registrations.add_document(
        gateway(), caller(), str(person_id), body["kind"], body["content"].encode()
    )
    audit_pid(out["pid"])
    return out


@blp.route("/<uuid:person_id>/documents/<uuid:document_id>", methods=["GET"])
@protected(blp, Action.REGISTRATIONS_READ, 404)
@blp.response(200, DocumentOut)
def read_document(person_id: Any, document_id: Any) -> Any:
    """Read an off-chain document."""
    return registrations.get_document(gateway(), caller(), str(person_id), str(document_id))
