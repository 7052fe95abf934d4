"""deploy/nginx/gateways.conf in a real nginx, in front of a real `ledger-gw serve`.

The configuration is the one docker-compose.yml mounts, rendered only where a test
must differ: loopback ports instead of 8081-8083, the test's gateway instead of the
compose network's, and a temporary prefix for nginx's own files.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from conftest import serving
from e2e_server import Server

from api.http_framing import MAX_BODY
from tests.support import events as ev
from tests.support.gunicorn import free_port

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
)
CONF = Path(__file__).parents[2] / "deploy" / "nginx" / "gateways.conf"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (make nginx installs it)"),
]


def render(conf: str, upstream: str, ports: list[int], access_log: Path) -> str:
    """The gateways' servers on loopback ``ports``, each in front of ``upstream``,
    logging to ``access_log``."""
    listens = re.findall(r"listen (\d+);", conf)
    assert len(listens) == len(ports) == 3
    for theirs, ours in zip(listens, ports, strict=True):
        conf = conf.replace(f"listen {theirs};", f"listen 127.0.0.1:{ours};")
    rendered, proxied = re.subn(r"proxy_pass http://[^;]+;", f"proxy_pass {upstream};", conf)
    assert proxied == 3
    rendered, logged = re.subn(
        r"access_log \S+ gateway;", f"access_log {access_log} gateway;", rendered
    )
    assert logged == 3
    return rendered


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The gateway as docker-compose.yml configures it behind the proxy."""
    with serving(tmp_path_factory, {"LEDGER_GW_PROXIES": "1"}) as served:
        yield served


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """nginx's own files: its configuration, logs, pid and buffers."""
    return tmp_path_factory.mktemp("nginx")


@pytest.fixture(scope="module")
def proxy(server: Server, prefix: Path) -> Iterator[str]:
    assert NGINX is not None
    ports = [free_port() for _ in range(3)]
    rendered = render(CONF.read_text(), server.url, ports, prefix / "access.log")
    (prefix / "gateways.conf").write_text(rendered)
    temp = "\n".join(
        f"  {kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    temp += f"\n  uwsgi_temp_path {prefix / 'uwsgi'};\n  scgi_temp_path {prefix / 'scgi'};"
    (prefix / "nginx.conf").write_text(
        f"""{"user root root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} info;
events {{ worker_connections 512; }}
http {{
  log_format main '$request';  # the stock image's, in its kind: the servers log otherwise
  access_log {prefix / "access.log"} main;
{temp}
  include {prefix / "gateways.conf"};
}}
"""
    )
    proc = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{ports[0]}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                error_log = prefix / "error.log"
                raise RuntimeError(error_log.read_text() if error_log.exists() else "no log")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _quick_healthz(url: str) -> None:
    started = time.monotonic()
    answer = requests.get(f"{url}/healthz", timeout=2)
    assert answer.status_code == 200
    assert time.monotonic() - started < 1


def test_requests_pass_through_with_the_gateways_headers(proxy: str, server: Server) -> None:
    token = server.headers("AGENCY-A")
    grant = ev.entitlement_granted(ev.pid())
    created = requests.post(f"{proxy}/v1/events", json=grant, headers=token, timeout=10)
    assert created.status_code == 201, created.text
    again = requests.post(f"{proxy}/v1/events", json=grant, headers=token, timeout=10)
    assert (again.status_code, again.json()) == (200, created.json())
    read = requests.get(f"{proxy}/v1/events/{grant['event_id']}", headers=token, timeout=10)
    assert read.status_code == 200
    assert read.json()["event"] == grant
    for name, value in {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }.items():
        assert read.headers[name] == value
    assert read.headers["Server"] == "nginx"  # server_tokens off: no version


def _log_once_it_has(prefix: Path, request_ids: list[str]) -> str:
    """nginx's access log, read again until it holds these requests' lines: nginx writes
    them after answering."""
    deadline = time.monotonic() + 10
    while not set(request_ids) <= set((logged := (prefix / "access.log").read_text()).split()):
        assert time.monotonic() < deadline, request_ids
        time.sleep(0.05)
    return logged


def test_the_request_id_is_the_callers_or_nginxs_own(proxy: str, prefix: Path) -> None:
    given = requests.get(f"{proxy}/healthz", headers={"X-Request-ID": "probe-nginx-1"}, timeout=5)
    assert given.headers["X-Request-ID"] == "probe-nginx-1"
    made = requests.get(f"{proxy}/healthz", timeout=5)
    request_id = made.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    logged = _log_once_it_has(prefix, [request_id])
    assert request_id in logged.split()  # nginx's own, not the gateway's


def test_clients_that_never_finish_their_headers_stall_no_one(proxy: str) -> None:
    parts = urlsplit(proxy)
    with ExitStack() as stack:
        for _ in range(60):
            s = stack.enter_context(socket.create_connection((parts.hostname, parts.port)))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Slow: ")
        time.sleep(0.3)
        for _ in range(5):
            _quick_healthz(proxy)


def _answer_to(proxy: str, head: bytes, body: Iterator[bytes]) -> bytes:
    """Send ``head`` then ``body`` (as far as nginx lets us), and read the answer."""
    parts = urlsplit(proxy)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(head)

        def send() -> None:
            try:
                for piece in body:
                    s.sendall(piece)
            except OSError:  # nginx answered and closed: the rest is not wanted
                pass

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                got = s.recv(4096)
                if not got:
                    break
                answer += got
        except ConnectionResetError:
            pass
        sender.join(timeout=10)
    return answer


def test_an_oversized_body_is_413_before_the_gateway_sees_it(proxy: str) -> None:
    head = (
        b"POST /v1/events HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(MAX_BODY + 1).encode() + b"\r\n\r\n"
    )
    megabyte = b" " * (1 << 20)
    answer = _answer_to(proxy, head, iter([megabyte] * 9))
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"Content-Type: text/html" in answer  # nginx's page, not the gateway's problem
    _quick_healthz(proxy)


def test_a_chunked_body_over_the_limit_is_413(proxy: str) -> None:
    head = (
        b"POST /v1/events HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n" % (1 << 20) + b" " * (1 << 20) + b"\r\n"  # 1 MiB chunks, each legal
    answer = _answer_to(proxy, head, iter([chunk] * 10 + [b"0\r\n\r\n"]))
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"Content-Type: text/html" in answer
    _quick_healthz(proxy)


def test_a_body_within_the_limit_reaches_the_gateway(proxy: str, server: Server) -> None:
    """Buffered by nginx (to a file above its memory buffer), then judged by the gateway."""
    body = b'{"padding": "' + b"x" * (1 << 20) + b'"}'
    r = requests.post(
        f"{proxy}/v1/events",
        data=body,
        headers={**server.headers("AGENCY-A"), "Content-Type": "application/json"},
        timeout=10,
    )
    assert r.status_code in (400, 422), r.text
    assert r.headers["Content-Type"] == "application/problem+json"


def _status_from(source: str, proxy: str, token: str) -> int:
    """GET through nginx from the loopback address ``source``: nginx sees another client."""
    parts = urlsplit(proxy)
    conn = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=10, source_address=(source, 0)
    )
    try:
        conn.request("GET", "/v1/outbox", headers={"Authorization": f"Bearer {token}"})
        return conn.getresponse().status
    finally:
        conn.close()


def test_a_client_sending_bad_tokens_through_the_proxy_holds_back_only_itself(
    proxy: str, server: Server
) -> None:
    """Every client reaches the gateway from nginx's address. Counted by it, one client
    refused often enough shut out everyone (429 for any token); counted by the address
    nginx names, only that client is held back."""
    refused: list[int] = []
    while refused[-8:] != [429] * 8:  # each worker counts alone: until every one is over
        refused.append(_status_from("127.0.0.2", proxy, "lgw.AGENCY-A.0.x"))
        assert len(refused) < 600, refused
    assert set(refused) == {401, 429}
    token = server.tokens["AGENCY-A"]
    assert {_status_from("127.0.0.3", proxy, token) for _ in range(20)} == {200}
    assert _status_from("127.0.0.2", proxy, token) == 429


def test_nginx_logs_no_path_or_query_of_a_request(proxy: str, server: Server, prefix: Path) -> None:
    """A search carries what a caseworker typed and a path names a person: neither is
    in nginx's log, which goes wherever the container's output goes."""
    person = "h.abcdefghijklmnopqrstuvwxyz"
    request_ids = [
        requests.get(f"{proxy}{path}", headers=server.headers("AGENCY-A"), timeout=10).headers[
            "X-Request-ID"
        ]
        for path in ("/v1/registrations?q=Fatima%20Al-Hassan%201991-03-14", f"/v1/persons/{person}")
    ]
    logged = _log_once_it_has(prefix, request_ids)
    assert "GET" in logged
    for secret in ("Fatima", "Hassan", "1991-03-14", person, "/v1/"):
        assert secret not in logged  # a request ID, in hex, may hold "1991" by chance
