"""Hostile clients against every /v1 route, with each role's token and with none.

Wrong content types, bodies that are no object, huge numbers, deep nesting, repeated
keys, NUL bytes and lone surrogates, repeated or mistyped query parameters, path IDs
that are no UUID or another organisation's, look-alikes of codes: each answer is a
refusal as problem+json with a stable code (never a 500, never an HTML page), and the
store and the ledger are as they were. The routes are read from the app, so a route
added later is swept too.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from api_helpers import Api, Tokens, bearer, dashboard_csrf, sealed_referral
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from ledger_gw.demo.seed import seed_fatima
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from tests.support.witnesses import settled

#: What a request may change, whatever it is refused for: the audit log, the rate
#: limits' counts and the nonces seen are a refusal's own record.
STATE = ("persons", "person_aliases", "documents", "api_tokens", "handovers", "store_owner")
JSON = "application/json"
#: Bodies a hostile client sends, with the content type it claims.
BODIES: dict[str, tuple[bytes, str]] = {
    "text": (b"referral_id=1", "text/plain"),
    "form": (b"attributes=1&q=Fatima", "application/x-www-form-urlencoded"),
    "multipart": (
        b'--X\r\nContent-Disposition: form-data; name="bundle"; filename="b"\r\n\r\n'
        b"\x00\xff\r\n--X--\r\n",
        "multipart/form-data; boundary=X",
    ),
    "broken multipart": (b"--X\r\nnonsense", "multipart/form-data; boundary=X"),
    "no body": (b"", JSON),
    "array": (b'[{"attributes": {"given_name": "Fatima"}}]', JSON),
    "string": (b'"Fatima"', JSON),
    "null": (b"null", JSON),
    "huge numbers": (b'{"size": 1e400, "limit": 99999999999999999999, "quorum": -1e308}', JSON),
    "deep": (b'{"attributes": ' + b"[" * 40 + b"]" * 40 + b"}", JSON),
    "repeated key": (
        b'{"referral_id": "00000000-0000-4000-8000-000000000000", "referral_id": "x"}',
        JSON,
    ),
    "NUL": (
        b'{"q": "a\\u0000", "note": "\\u0000", "attributes": {"given_name": "F\\u0000"},'
        b' "referral_id": "\\u0000", "credential": "\\u0000", "kind": "\\u0000",'
        b' "content": "\\u0000", "pid": "h.\\u0000"}',
        JSON,
    ),
    "lone surrogate": (b'{"q": "\\ud800", "note": "\\udfff", "credential": "\\udc00"}', JSON),
    "not UTF-8": (b'{"q": "\xff\xfe"}', JSON),
    "wrong types": (
        b'{"q": 1, "cursor": [], "limit": "x", "attributes": [], "referral_id": 5,'
        b' "note": {}, "credential": 1, "image": 2, "kind": [], "event_id": {}, "pid": 1,'
        b' "purpose": 1, "disclose": "x", "expires": 1, "size": "x", "events": {},'
        b' "online": "x", "held_id": 1, "content": 1}',
        JSON,
    ),
    "look-alike codes": (
        # Cyrillic e, script l, Cyrillic i: what a reader takes for the codes
        '{"purpose": "referra\u2113", "kind": "\u0435ntitlement", "state": "p\u0435nding",'
        ' "id_scheme": "h\u0435ld", "attributes": {"given_name": "Fatima"}}'.encode(),
        JSON,
    ),
    "+json": (b'{"attributes": {"given_name": "Fatima"}, "referral_id": 7}', "text/x+json"),
}
#: Query strings a hostile client appends, to reads and writes alike.
QUERIES = (
    "",
    "?limit=0&limit=5&cursor=a&cursor=b&purpose=referral&purpose=x",
    "?limit=x&size=x&size1=x&index=x&k=x&quorum=x&min_tree_size=x&online=x",
    "?limit=99999999999999999999&size=99999999999999999999&size1=1e3&index=-1&k=1e99",
    "?purpose=referra%E2%84%93&direction=%D1%96ncoming&state=%00&format=%00&kind=%00",
    "?cursor=%ED%A0%80&subject=zz&from=2024-02-30&to=x&org=agency-a&glide=%00&tx_id=%00",
    "?size1=%EF%BC%91&trust=bundle&cursor=" + "A" * 3000,
)
_PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")


@dataclass(frozen=True)
class Victim:
    """AGENCY-A's objects, whose IDs the other callers put in their paths."""

    person_id: str
    pid: str
    document_id: str
    referral_id: str


def _fills(converter: str | None, name: str, victim: Victim) -> list[str]:
    """Values for one path parameter: hostile ones, and the victim's real ID."""
    real = {
        "person_id": victim.person_id,
        "document_id": victim.document_id,
        "referral_id": victim.referral_id,
        "event_id": victim.referral_id,
        "pid": victim.pid,
    }
    if converter == "uuid":
        return ["not-a-uuid", "%00", "0" * 32, real.get(name, "00000000-0000-4000-8000-0")]
    if converter == "int":
        return ["99999999999999999999", "-1", "1"]
    if converter == "path":
        return ["%00", "../../etc/passwd", "0/x.p/0"]
    return ["h.%00", "x" * 300, "%ED%A0%80", "k1.%D0%B0" + "a" * 25, real.get(name, "x")]


def _urls(app: Flask, victim: Victim) -> Iterator[tuple[str, str]]:
    """(method, URL) of every /v1 route, each path parameter filled every way."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/"):
            continue
        urls = [rule.rule]
        for converter, name in _PARAMETER.findall(rule.rule):
            pattern = f"<{converter}:{name}>" if converter else f"<{name}>"
            fills = _fills(converter or None, name, victim)
            urls = [url.replace(pattern, fill) for url in urls for fill in fills]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for url in urls:
                yield method, url


def _snapshot(tmp_path: Path, gateway: Gateway) -> str:
    digest = hashlib.sha256(str(gateway.ledger.size()).encode())
    for path in sorted(tmp_path.glob("offchain-*.db")):
        with sqlite3.connect(path) as db:
            for table in STATE:
                rows = sorted(db.execute(f"SELECT * FROM {table}").fetchall(), key=repr)  # noqa: S608
                digest.update(repr((path.name, table, rows)).encode())
    return digest.hexdigest()


@pytest.fixture
def hostile(config: GatewayConfig, gateway: Gateway) -> FlaskClient:
    """The gateway with its rate limits out of the way: thousands of requests here are
    the sweep, not a flood to answer 429."""
    limits = {name: "1000000/minute" for name in ("EXPENSIVE_LIMIT", "AUTH_FAILURE_LIMIT")}
    limits["PUBLIC_LIMIT"] = "1000000/minute"
    return create_app(replace(config, extra={**config.extra, **limits}), gateway).test_client()


@pytest.fixture
def victim(hostile: FlaskClient, tokens: Tokens) -> Victim:
    api = Api(hostile, tokens)
    referral_id = sealed_referral(api)
    a = api.as_("AGENCY-A")
    amina = {"given_name": "Amina", "family_name": "Yusuf", "date_of_birth": "1990-05-05"}
    person = a.post("/v1/registrations", json={"attributes": amina}).json
    url = f"/v1/registrations/{person['person_id']}/documents"
    document = a.post(url, json={"kind": "other", "content": "a note"}).json
    return Victim(person["person_id"], person["pid"], document["document_id"], referral_id)


def _refusal_or_read(r: Any, what: str) -> None:
    """A refusal is problem+json with a stable code; anything else is a read."""
    assert r.status_code < 500, (what, r.status_code, r.get_data()[:300])
    assert "html" not in r.headers.get("Content-Type", ""), (what, r.get_data()[:300])
    if r.status_code >= 400:
        assert r.headers["Content-Type"] == "application/problem+json", what
        assert re.fullmatch(r"[a-z][a-z0-9_]*", r.json["code"]), (what, r.json)


CALLERS = [None, *[(org, role) for org in ("AGENCY-A", "AGENCY-B") for role in
                   ("agency-writer", "agency-reader", "admin")],
           ("AUDITOR-X", "auditor"), ("AUDITOR-X", "admin"), ("DONOR-Y", "donor")]  # fmt: skip


@pytest.mark.parametrize("who", CALLERS, ids=lambda who: "-".join(who) if who else "no-token")
def test_every_route_refuses_hostile_requests_and_changes_nothing(
    hostile: FlaskClient,
    tokens: Tokens,
    gateway: Gateway,
    tmp_path: Path,
    victim: Victim,
    who: tuple[str, str] | None,
) -> None:
    headers = bearer(tokens[who]) if who else {}
    before = _snapshot(tmp_path, gateway)
    sent = 0
    for method, url in _urls(hostile.application, victim):
        if who == ("AGENCY-A", "agency-writer") and method == "DELETE" and victim.person_id in url:
            continue  # her own agency's writer may erase her, whatever the body says
        bodies = BODIES.items() if method != "GET" else [("no body", (b"", ""))]
        for query in QUERIES if method == "GET" else QUERIES[:2]:
            for name, (body, content_type) in bodies:
                r = hostile.open(
                    url + query,
                    method=method,
                    headers=headers,
                    data=body,
                    content_type=content_type or None,
                )
                _refusal_or_read(r, f"{who} {method} {url}{query} {name}")
                sent += 1
    assert sent > 1_000
    assert _snapshot(tmp_path, gateway) == before


def test_the_sweep_reaches_every_kind_of_route(hostile: FlaskClient, victim: Victim) -> None:
    """The sweep's routes are the app's: the newer ones are among them."""
    swept = {url for _, url in _urls(hostile.application, victim)}
    for route in (
        "/v1/outbox/1",
        f"/v1/handovers/{victim.referral_id}",
        "/v1/credentials/verify",
        f"/v1/registrations/{victim.person_id}",
        f"/v1/persons/{victim.pid}/history",
        "/v1/reports/accountability",
        f"/v1/audit/referrals/{victim.referral_id}/chain",
        "/v1/validity/1",
    ):
        assert route in swept, route


AMINA_CORRECTED = {"given_name": "Amina", "family_name": "Yusuf", "date_of_birth": "1990-05-06"}


@pytest.mark.parametrize(
    ("org", "role"),
    [
        ("AGENCY-B", "agency-writer"),
        ("AGENCY-C", "agency-writer"),
        ("AGENCY-A", "agency-reader"),
        ("AGENCY-A", "admin"),
        ("AUDITOR-X", "auditor"),
        ("DONOR-Y", "donor"),
    ],
)
def test_well_formed_requests_on_another_organisations_ids_change_nothing(
    hostile: FlaskClient,
    tokens: Tokens,
    gateway: Gateway,
    tmp_path: Path,
    victim: Victim,
    org: str,
    role: str,
) -> None:
    """Bodies a writer of AGENCY-A would send, from everyone else: another agency's
    writer is told such a registration does not exist (404, as for an unknown one), a
    role that may not write is refused (403); nothing is corrected, erased, added or
    sealed."""
    caller = Api(hostile, tokens).as_(org, role)
    person = f"/v1/registrations/{victim.person_id}"
    before = _snapshot(tmp_path, gateway)
    answers = {
        "correct": caller.patch(person, json={"attributes": AMINA_CORRECTED}),
        "erase": caller.delete(person),
        "add document": caller.post(f"{person}/documents", json={"kind": "other", "content": "x"}),
        "read document": caller.get(f"{person}/documents/{victim.document_id}"),
        "read": caller.get(person),
        "seal": caller.post("/v1/handovers", json={"referral_id": victim.referral_id}),
    }
    for what, r in answers.items():
        _refusal_or_read(r, what)
        if role == "agency-reader" and what.startswith("read"):
            assert r.status_code == 200, (what, r.json)  # her own agency's reader
        elif role == "agency-writer":
            assert r.status_code in (403, 404), (what, r.json)
            if what != "seal":
                assert r.json["code"].endswith("_not_found"), (what, r.json)
        else:
            assert (r.status_code, r.json["code"]) == (403, "role_forbidden"), (what, r.json)
    assert _snapshot(tmp_path, gateway) == before


def test_a_body_past_the_limit_is_413_problem_json(hostile: FlaskClient, tokens: Tokens) -> None:
    from api.http_framing import MAX_BODY

    body = b'{"q": "' + b"a" * MAX_BODY + b'"}'
    r = hostile.post(
        "/v1/registrations/search",
        headers=bearer(tokens["AGENCY-A", "agency-writer"]),
        data=body,
        content_type=JSON,
    )
    assert (r.status_code, r.headers["Content-Type"]) == (413, "application/problem+json")
    assert (r.json or {}).get("code") == "request_entity_too_large"


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/v1//registrations"),
        ("GET", "/v1/persons/{pid}//history?purpose=referral"),
        ("POST", "/v1//registrations"),
        ("DELETE", "/v1/registrations//{person_id}"),
        ("GET", "/dashboard//referrals"),
    ],
)
def test_a_path_with_an_empty_segment_is_no_route(
    hostile: FlaskClient,
    tokens: Tokens,
    gateway: Gateway,
    tmp_path: Path,
    victim: Victim,
    method: str,
    url: str,
) -> None:
    """Not werkzeug's redirect to the path without it: an HTML page, past the problem
    handlers, to an absolute URL made of the Host header and the scheme the gateway was
    reached by, plain http behind a proxy that ends TLS (the path, a person's ID in it,
    and the token of a client that follows, sent in the clear)."""
    before = _snapshot(tmp_path, gateway)
    r = hostile.open(
        url.format(pid=victim.pid, person_id=victim.person_id),
        method=method,
        headers={**bearer(tokens["AGENCY-A", "agency-writer"]), "Host": "elsewhere.example"},
        json={"attributes": {"given_name": "Amina", "date_of_birth": "1990-05-05"}},
    )
    assert r.status_code == 404, (r.status_code, r.headers.get("Location"))
    assert "Location" not in r.headers
    if url.startswith("/v1/"):
        assert r.headers["Content-Type"] == "application/problem+json"
        assert (r.json or {}).get("code") == "not_found"
    assert _snapshot(tmp_path, gateway) == before


FORMULA = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet runs, or reads past


@pytest.mark.parametrize(
    "query",
    [
        "programme=%3DHYPERLINK(%22http://x%22)",
        "org=%2BAGENCY-A",
        "org=AGENCY-A&programme=-1%2B1",
        "org=%40SUM(A1)",
        "glide=%3DEP-2024-000001-SDN&format=iati",
        "org=AGENCY%E2%80%90A",  # a hyphen that is not one
    ],
)
def test_report_filters_that_would_be_formulas_are_refused(
    hostile: FlaskClient, tokens: Tokens, query: str
) -> None:
    for fmt in ("csv", "hxl"):
        url = f"/v1/reports/accountability?format={fmt}&{query}"
        r = hostile.get(url, headers=bearer(tokens["AGENCY-A", "agency-reader"]))
        assert r.status_code == 422, (url, r.get_data(as_text=True)[:200])
        assert r.headers["Content-Type"] == "application/problem+json"
        assert (r.json or {}).get("code") == "invalid_request"


def test_no_cell_of_a_download_starts_a_formula(
    hostile: FlaskClient, tokens: Tokens, gateway: Gateway
) -> None:
    """Every cell is a code the contract or the consortium file holds to a pattern, a
    date or a number: none a spreadsheet would run."""
    seed_fatima(gateway)
    settled(gateway.ledger)
    for fmt in ("csv", "hxl"):
        r = hostile.get(
            f"/v1/reports/accountability?format={fmt}&k=5",
            headers=bearer(tokens["AGENCY-A", "agency-writer"]),
        )
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
        assert len(rows) > 10
        cells = [cell for row in rows[2 if fmt == "hxl" else 1 :] for cell in row]
        assert not [cell for cell in cells if cell.startswith(FORMULA)]


@pytest.mark.parametrize(
    "target",
    [
        "/dashboard/.%2e/docs",
        "/dashboard/%2E./docs",
        "/dashboard/%2F..%2F..%2Fdocs",
        "/dashboard/%5C%5Cevil.example",
        "https://evil.example/dashboard/",
        "/dashboard/@evil.example",
    ],
)
def test_a_log_in_leads_nowhere_outside_the_dashboard(
    hostile: FlaskClient, tokens: Tokens, target: str
) -> None:
    csrf = dashboard_csrf(hostile)
    r = hostile.post(
        "/dashboard/login",
        query_string={"next": target},
        data={"csrf": csrf, "token": tokens["AGENCY-A", "agency-reader"]},
    )
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location == "/dashboard/" or (
        # a percent-encoded backslash stays one: no browser reads it as a slash
        location == target and "\\" not in location and ".." not in unquote(location)
    ), location
