"""POST /v1/credentials and /v1/credentials/verify: the same use cases over HTTP, every
refusal a problem+json with its stable code."""

from __future__ import annotations

import base64
import datetime as dt
import struct
import zlib
from typing import Any

from api_helpers import Api

from ledger_gw.services import credentials
from ledger_gw.services.gateway import Gateway
from tests.support import credentials as forge
from tests.support import events as ev
from tests.support.witnesses import settled


def _granted(api: Api, gateway: Gateway, **terms: Any) -> dict[str, Any]:
    grant = ev.entitlement_granted(ev.pid(), **terms)
    assert api.as_("AGENCY-A").post("/v1/events", json=grant).status_code == 201
    settled(gateway.ledger)
    return grant


def _issue(api: Api, grant: dict[str, Any], **body: Any) -> Any:
    return api.as_("AGENCY-A").post(
        "/v1/credentials",
        json={"event_id": grant["event_id"], "purpose": "service_continuity", **body},
    )


def test_issue_and_verify_over_http(api: Api, gateway: Gateway) -> None:
    grant = _granted(api, gateway)
    r = _issue(api, grant, disclose=["assistance_type"])
    assert r.status_code == 201, r.json
    text = r.json["credential"]
    assert r.json["verified"]["disclosed"] == {"assistance_type": "cash"}
    checked = api.as_("AUDITOR-X", "auditor").post(
        "/v1/credentials/verify", json={"credential": text}
    )
    assert checked.status_code == 200, checked.json
    assert (checked.json["status"], checked.json["pid"]) == ("active", grant["pid"])

    png = gateway.workspace.root / "card.png"
    png.write_bytes(credentials.render_card(text.encode(), gateway.workspace.consortium, "png"))
    photo = base64.b64encode(png.read_bytes()).decode()
    by_image = api.as_("AGENCY-A").post("/v1/credentials/verify", json={"image": photo})
    assert by_image.status_code == 200, by_image.json
    assert by_image.json["event"] == checked.json["event"]


def test_what_she_hides_of_the_period_is_not_told_by_when_the_card_is_valid(
    api: Api, gateway: Gateway
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    short = _granted(
        api, gateway, start=ev.PERIOD[0], end=(today + dt.timedelta(days=9)).isoformat()
    )
    later = _granted(
        api, gateway, start=(today + dt.timedelta(days=4)).isoformat(), end=ev.PERIOD[1]
    )
    for grant, disclose, code in (
        (short, ["programme"], "credential_outlasts_subject"),
        (later, ["valid_until"], "credential_before_subject"),
    ):
        r = _issue(api, grant, disclose=disclose)
        assert (r.status_code, r.json["code"]) == (422, code), r.json
        assert r.headers["Content-Type"] == "application/problem+json"
    asked = f"{today + dt.timedelta(days=2)}T00:00:00Z"
    r = _issue(api, short, disclose=["programme"], expires=asked)
    assert (r.status_code, r.json["verified"]["expires"]) == (201, asked), r.json
    r = _issue(api, later, disclose=["valid_from"])
    assert r.status_code == 201, r.json
    begins = f"{today + dt.timedelta(days=4)}T00:00:00Z"
    assert r.json["verified"]["not_before"] == begins
    checked = api.as_("AUDITOR-X", "auditor").post(
        "/v1/credentials/verify", json={"credential": r.json["credential"]}
    )
    assert (checked.status_code, checked.json["code"]) == (422, "credential_not_yet_valid")


def test_each_failure_is_a_problem_with_its_code(api: Api, gateway: Gateway) -> None:
    grant = _granted(api, gateway)
    text = _issue(api, grant, disclose=["programme"]).json["credential"]
    jwt, disclosures, proof = forge.split(text)
    verify = api.as_("AGENCY-A").post
    cases = [
        ("credential_altered", forge.join(jwt, [forge.disclosure("programme", "X")], proof)),
        # nested past the parser's stack: the library reads disclosures before the signature
        ("credential_altered", forge.join(jwt, [forge.b64url(b"[" * 3000)], proof)),
        (
            "credential_forged",
            forge.join(forge.with_payload(jwt, sub=ev.pid()), disclosures, proof),
        ),
        (
            "credential_wrong_issuer",
            forge.join(forge.resign(jwt, gateway.workspace.signer("AGENCY-B")), disclosures, proof),
        ),
        ("credential_malformed", "not a credential"),
    ]
    for code, forged in cases:
        r = verify("/v1/credentials/verify", json={"credential": forged})
        assert (r.status_code, r.json["code"]) == (422, code), r.json
        assert r.headers["Content-Type"] == "application/problem+json"
    steps = api.as_("AGENCY-A").post(
        "/v1/events", json=ev.entitlement_step("revoked", grant["entitlement_id"])
    )
    assert steps.status_code == 201
    r = verify("/v1/credentials/verify", json={"credential": text})
    assert (r.status_code, r.json["code"]) == (422, "credential_revoked")
    offline = verify("/v1/credentials/verify", json={"credential": text, "online": False})
    assert (offline.status_code, offline.json["status"]) == (200, "not checked")
    again = _issue(api, grant)
    assert (again.status_code, again.json["code"]) == (422, "credential_revoked")


def test_issue_refusals(api: Api, gateway: Gateway) -> None:
    grant = _granted(api, gateway)
    r = api.as_("AGENCY-B").post(
        "/v1/credentials", json={"event_id": grant["event_id"], "purpose": "referral"}
    )
    assert (r.status_code, r.json["code"]) == (404, "event_not_found")  # no consent: unknown
    r = _issue(api, grant, disclose=["amount"])
    assert (r.status_code, r.json["code"]) == (422, "invalid_request")
    r = api.as_("DONOR-Y", "donor").post("/v1/credentials/verify", json={"credential": "x"})
    assert (r.status_code, r.json["code"]) == (403, "role_forbidden")
    r = api.as_("AGENCY-A").post("/v1/credentials/verify", json={})
    assert (r.status_code, r.json["field"]) == (422, "credential")
    for image in ("not base64!", "\u8405", "QUJD\u00e9"):  # a character beyond ASCII too
        r = api.as_("AGENCY-A").post("/v1/credentials/verify", json={"image": image})
        assert (r.status_code, r.json["field"]) == (422, "image"), r.json
        assert r.headers["Content-Type"] == "application/problem+json"


def _png(width: int, height: int) -> bytes:
    """A greyscale PNG of one colour: a few hundred kB that claim width × height pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = zlib.compress(bytes(width + 1) * height, 9)  # filter byte 0, then the row
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def test_a_photo_claiming_more_pixels_than_a_photo_is_refused_unread(api: Api) -> None:
    """Pillow would decode up to 179 Mpx; this one is 81 Mpx in a few hundred kB."""
    bomb = _png(9_000, 9_000)
    assert len(bomb) < 200_000
    image = base64.b64encode(bomb).decode()
    r = api.as_("AGENCY-A").post("/v1/credentials/verify", json={"image": image})
    assert (r.status_code, r.json["code"]) == (422, "credential_malformed"), r.json
    assert "far larger than a photo" in r.json["detail"]


def test_an_image_pillow_reads_and_cannot_decode_is_refused(api: Api) -> None:
    """A BMP header of RLE8 at 24 bits: Pillow raises ValueError, not its own error."""
    info = struct.pack("<IiiHHIIiiII", 40, 2, 2, 1, 24, 1, 0, 0, 0, 0, 0)
    bmp = b"BM" + struct.pack("<IHHI", 14 + 40 + 4, 0, 0, 14 + 40) + info + bytes(4)
    image = base64.b64encode(bmp).decode()
    r = api.as_("AGENCY-A").post("/v1/credentials/verify", json={"image": image})
    assert (r.status_code, r.json["code"]) == (422, "credential_malformed"), r.json


def test_a_verifier_is_told_when_the_card_was_issued_and_how_fresh_its_status_is(
    api: Api, gateway: Gateway
) -> None:
    """The card's anchor is as old as the card; what the gateway read its status in is
    the ledger as it had grown since, by then."""
    grant = _granted(api, gateway)
    issued = _issue(api, grant)
    assert issued.status_code == 201, issued.json
    text = issued.json["credential"]
    iat = forge.unb64url(forge.split(text)[0].split(".")[1])["iat"]
    stated = dt.datetime.fromtimestamp(iat, dt.UTC).isoformat().replace("+00:00", "Z")
    assert issued.json["verified"]["issued_at"] == stated
    for _ in range(3):
        _granted(api, gateway)
    auditor = api.as_("AUDITOR-X", "auditor")
    offline = auditor.post("/v1/credentials/verify", json={"credential": text, "online": False})
    assert offline.status_code == 200, offline.json
    assert offline.json["issued_at"] == stated
    assert "status_as_of" not in offline.json  # nothing was read
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    online = auditor.post("/v1/credentials/verify", json={"credential": text})
    assert online.status_code == 200, online.json
    as_of = online.json["status_as_of"]
    assert as_of["ledger_size"] == gateway.ledger.size() == 4 > online.json["tree_size"]
    at = dt.datetime.fromisoformat(as_of["at"])
    assert before <= at <= dt.datetime.now(dt.UTC)
    spec: Any = api.client.get("/openapi.json").json
    shape = spec["components"]["schemas"]["VerifiedOut"]["properties"]
    assert {"issued_at", "status_as_of"} <= set(shape)
