"""Each request has an ID, echoed and on its log lines; its access line names no person."""

from __future__ import annotations

import json
import logging

import pytest
from api_helpers import Api
from flask.testing import FlaskClient

from api.logs import JsonFormatter
from ledger_gw.pseudonym import new_held_id


def test_a_plain_request_id_is_kept_and_echoed(client: FlaskClient) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "caller-42.a:b"})
    assert r.headers["X-Request-ID"] == "caller-42.a:b"


@pytest.mark.parametrize("given", ["", "a b", "x" * 129, "<script>", "é"])
def test_any_other_request_id_is_replaced(client: FlaskClient, given: str) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": given})
    assert r.headers["X-Request-ID"] != given
    assert len(r.headers["X-Request-ID"]) == 32


def test_access_line_names_the_route_not_the_person_nor_the_token(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    pid = new_held_id()
    caller = api.as_("AGENCY-A")
    with caplog.at_level(logging.INFO, logger="api.access"):
        r = caller.get(f"/v1/persons/{pid}/history?purpose=referral")
    [line] = [rec for rec in caplog.records if rec.name == "api.access"]
    formatted = json.loads(JsonFormatter().format(line))
    assert formatted["route"] == "/v1/persons/<pid>/history"
    assert (formatted["method"], formatted["status"]) == ("GET", r.status_code)
    assert formatted["duration_ms"] >= 0
    text = JsonFormatter().format(line)
    assert pid not in text
    assert "referral" not in text
    assert caller.headers["Authorization"].split()[1] not in text


def test_a_line_outside_a_request_has_no_request_id() -> None:
    record = logging.makeLogRecord({"msg": "hello %s", "args": ("you",), "levelname": "INFO"})
    out = json.loads(JsonFormatter().format(record))
    assert (out["message"], out["request_id"], out["level"]) == ("hello you", None, "info")


def test_an_exception_is_in_the_same_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.makeLogRecord({"msg": "failed", "exc_info": sys.exc_info()})
    text = JsonFormatter().format(record)
    assert "\n" not in text
    assert "ValueError: boom" in json.loads(text)["exception"]
