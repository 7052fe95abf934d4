"""What the judging commands of `ledger-gw` take from the operator, as she runs them: the
consortium file only from her (--consortium, never the directory handed over with the
ledger), a bearer token never on the command line, a report query checked before it is
signed, and every bad input refused in one clean line."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest

from ledger_gw.embedded.packing import unpack
from tests.support.canned_http import serving_handler
from tests.support.cli import clean_failure, own_pin, run_cli

pytestmark = pytest.mark.slow
TOO_LARGE = (256 << 20) + 1  # past what the commands read of any file


@dataclass(frozen=True)
class Demos:
    honest: Path
    forged: Path  # `ledger-gw demo` again: the same names and origin, other keys

    @property
    def pin(self) -> list[str]:
        return ["--consortium", str(self.honest / "consortium.json")]


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> Demos:
    root = tmp_path_factory.mktemp("verifier-inputs")
    for name in ("honest", "forged"):
        made = run_cli("demo", "--dir", str(root / name))
        assert made.returncode == 0, made.stderr
    return Demos(root / "honest", root / "forged")


def _first_result(directory: Path, key: str, **having: str) -> dict[str, str]:
    """The contract's result of the first log entry whose result has ``key``."""
    with closing(sqlite3.connect(directory / "ledger.db")) as db:
        for (entry,) in db.execute("SELECT entry FROM log ORDER BY seq"):
            result = json.loads(unpack(bytes(entry)))["result"]
            if key in result and all(result.get(k) == v for k, v in having.items()):
                return dict(result)
    raise AssertionError(f"no entry with {key}")


def _signed_report(directory: Path, path: Path) -> Path:
    made = run_cli("report", "accountability", "--dir", str(directory), "--sign-as", "AGENCY-A")
    assert made.returncode == 0, made.stderr
    path.write_text(made.stdout)
    return path


# -- trust roots from the caller ----------------------------------------------------------


def test_report_verify_takes_the_consortium_only_from_the_caller(
    demos: Demos, tmp_path: Path
) -> None:
    """A directory and a report forged together agree with each other: only the file the
    verifier pins tells them from the consortium's."""
    forged = _signed_report(demos.forged, tmp_path / "forged.json")
    verify = ("report", "verify", str(forged), "--dir", str(demos.forged))
    unpinned = run_cli(*verify)
    assert "trust_root_not_pinned" in clean_failure(unpinned)
    assert "report verifies" not in unpinned.stdout
    refused = run_cli(*verify, *demos.pin)
    assert "untrusted_certificate" in clean_failure(refused)
    assert "report verifies" not in refused.stdout

    honest = _signed_report(demos.honest, tmp_path / "honest.json")
    good = run_cli("report", "verify", str(honest), "--dir", str(demos.honest), *demos.pin)
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("report verifies: signed by AGENCY-A")


def test_audit_chain_and_watch_judge_the_log_under_the_pinned_file(
    demos: Demos, tmp_path: Path
) -> None:
    forged_rid = _first_result(demos.forged, "referral_id")["referral_id"]
    state = tmp_path / "watch.json"
    chain = ("audit", "chain", forged_rid, "--dir", str(demos.forged))
    watch = ("audit", "watch", "--dir", str(demos.forged), "--state", str(state), "--count", "1")
    for unpinned in (chain, watch):
        assert "trust_root_not_pinned" in clean_failure(run_cli(*unpinned))
    judged = run_cli(*chain, *demos.pin)
    clean_failure(judged)
    assert "PASS" not in judged.stdout
    assert "invalid_checkpoint" in clean_failure(run_cli(*watch, *demos.pin))
    assert not state.exists()  # nothing of the forged log trusted

    rid = _first_result(demos.honest, "referral_id")["referral_id"]
    good = run_cli("audit", "chain", rid, "--dir", str(demos.honest), *demos.pin)
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("PASS")
    watched = run_cli(
        "audit", "watch", "--dir", str(demos.honest), *demos.pin, "--state", str(state),
        "--count", "1",
    )  # fmt: skip
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout.startswith("first: size None -> ")


def test_verify_trusts_only_the_consortium_file_pinned(demos: Demos) -> None:
    """Never the copy that comes with the ledger, even one's own directory's unasked."""
    unpinned = clean_failure(run_cli("verify", "--dir", str(demos.forged)))
    assert unpinned.startswith("error trust_root_not_pinned (field --consortium): pin the")
    assert "the directory's own copy is not a trust root" in unpinned

    own = run_cli("verify", "--dir", str(demos.honest), *own_pin(demos.honest))
    assert own.returncode == 0, own.stderr
    told = " ".join(own.stdout.split())
    assert f"trusting the consortium file {demos.honest / 'consortium.json'}" in told
    assert "ledger verifies" in told

    handed_over = run_cli("verify", "--dir", str(demos.forged), *demos.pin)
    assert "signature check failed" in clean_failure(handed_over)
    assert "ledger verifies" not in handed_over.stdout
    assert f"trusting the consortium file {demos.pin[1]}" in " ".join(handed_over.stdout.split())


# -- secrets never on the command line, never echoed ----------------------------------------


class _Gateway(BaseHTTPRequestHandler):
    """Notes each request's Authorization header; refuses the tiles, vouches for cards."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self._reply(401, {"code": "unauthenticated", "detail": "no"})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._reply(200, {"status": "active"})

    def _reply(self, status: int, body: dict[str, str]) -> None:
        self.seen.append(self.headers.get("Authorization", ""))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[tuple[str, list[str]]]:
    seen: ClassVar[list[str]] = []
    handler = type("Handler", (_Gateway,), {"seen": seen})
    with serving_handler(handler) as url:
        yield url, seen


def test_bearer_tokens_come_from_a_file_or_the_environment(
    demos: Demos, gateway: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, seen = gateway
    token_file = tmp_path / "token"
    token_file.write_text("lgw.from-a-file\n")
    token_file.chmod(0o600)  # a secret: its owner's only
    watch = ("audit", "watch", "--url", url, *demos.pin, "--state", str(tmp_path / "w.json"))
    watch += ("--count", "1")
    card = ("credential", "verify", str(demos.honest / "fatima-card.png"), *demos.pin)
    card += ("--gateway", url)
    for command in (watch, card):
        on_argv = run_cli(*command, "--token", "lgw.on-argv")
        assert on_argv.returncode == 2
        assert "No such option '--token'" in on_argv.stderr
    assert seen == []

    assert "log_refused" in clean_failure(run_cli(*watch, "--token-file", str(token_file)))
    assert "log_refused" in clean_failure(run_cli(*watch, env={"LEDGER_GW_TOKEN": "lgw.env"}))
    checked = run_cli(*card, "--token-file", str(token_file))
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["status"] == "active"
    assert seen == ["Bearer lgw.from-a-file", "Bearer lgw.env", "Bearer lgw.from-a-file"]

    missing = run_cli(*card, env={"LEDGER_GW_TOKEN": ""})
    assert "token_missing" in clean_failure(missing)
    token_file.write_text("\n")
    assert "invalid_token" in clean_failure(run_cli(*card, "--token-file", str(token_file)))


def test_no_password_in_a_url_is_echoed(demos: Demos, tmp_path: Path) -> None:
    pin = own_pin(demos.honest)
    ledger = run_cli("verify", "--dir", str(demos.honest), *pin, "--ledger", "u:SECRETPW@x")
    assert "not a database URL" in clean_failure(ledger)
    assert "SECRETPW" not in ledger.stderr + ledger.stdout
    pinned = (*demos.pin, "--state", str(tmp_path / "w.json"), "--count", "1")
    watch = run_cli("audit", "watch", "--url", "http://u:SECRETPW@127.0.0.1:9", *pinned)
    assert "invalid_url" in clean_failure(watch)
    assert "SECRETPW" not in watch.stderr + watch.stdout


# -- a report query is checked before it is signed ------------------------------------------


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("--from", "yesterday"), "invalid_date"),
        (("--to", "2026-02-30"), "invalid_date"),
        (("--from", "2026-13-45"), "invalid_date"),
        (("--from", "20260101"), "invalid_date"),  # not as the report's query carries it
        (("--from", "0001-01-01"), "invalid_date"),
        (("--programme", "NOPE"), "unknown_programme"),
        (("--org", "NOPE"), "unknown_org"),
        (("--from", "2027-01-01", "--to", "2026-01-01"), "invalid_period"),
        (("--k", "0"), "k_too_small"),
    ],
)
def test_report_accountability_refuses_a_query_it_would_sign_as_empty(
    demos: Demos, args: tuple[str, ...], code: str
) -> None:
    asked = run_cli(
        "report", "accountability", "--dir", str(demos.honest), "--sign-as", "AGENCY-A", *args
    )
    assert code in clean_failure(asked)
    assert asked.stdout == ""


def test_a_well_formed_report_query_is_signed_as_asked(demos: Demos) -> None:
    programme = json.loads((demos.honest / "consortium.json").read_text())["programmes"][0]
    period = ("--from", "2026-01-01", "--to", "2099-12-31", "--programme", programme)
    asked = run_cli(
        "report", "accountability", "--dir", str(demos.honest), "--sign-as", "AGENCY-A", *period
    )
    assert asked.returncode == 0, asked.stderr
    query = json.loads(asked.stdout)["query"]
    assert (query["start"], query["end"], query["programme"]) == (
        "2026-01-01",
        "2099-12-31",
        programme,
    )


# -- a credential file is its holder's ------------------------------------------------------


def test_credential_issue_writes_for_its_owner_only_and_refuses_pid_with_event(
    demos: Demos, tmp_path: Path
) -> None:
    event = _first_result(demos.honest, "entitlement_id", state="active")["event_id"]
    issue = ["credential", "issue", "--dir", str(demos.honest), "--org", "AGENCY-A"]
    out = tmp_path / "her.credential"
    made = subprocess.run(
        [sys.executable, "-m", "ledger_gw.cli", *issue, "--event", event, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        umask=0,  # an operator's shell that shares every file it writes
    )
    assert made.returncode == 0, made.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["her.credential"]  # no temporary left

    both = run_cli(*issue, "--event", event, "--pid", "k1.someone", "--out", str(tmp_path / "x"))
    assert both.returncode == 2
    assert "give --event or --pid, not both" in both.stderr
    assert not (tmp_path / "x").exists()


# -- every bad input one clean line -------------------------------------------------------


@pytest.fixture(scope="module")
def files(demos: Demos, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A bundle to verify, a FIFO and a file too large for any command to read."""
    made = tmp_path_factory.mktemp("files")
    rid = _first_result(demos.honest, "referral_id")["referral_id"]
    bundle = made / "bundle.json"
    done = run_cli(
        "audit", "bundle", "--dir", str(demos.honest), "--subject", rid, "--out", str(bundle)
    )
    assert done.returncode == 0, done.stderr
    os.mkfifo(made / "fifo")
    with (made / "huge.json").open("wb") as f:
        f.truncate(TOO_LARGE)  # sparse: no disk, and far more than a bundle is
    return {"bundle": bundle, "fifo": made / "fifo", "huge": made / "huge.json", "dir": made}


BAD_INPUTS = {
    # name: (arguments, where {pin} {bundle} {fifo} {huge} {dir} {demo} are filled in; code)
    "a FIFO as the pinned file": ("audit verify {bundle} --consortium {fifo}", "not_a_file"),
    "a bundle too large": ("audit verify {huge} {pin}", "file_too_large"),
    "a --doc of no form": (
        "audit verify {bundle} {pin} --doc garbage",
        "REFERRAL_ID=PATH:SALT_HEX",
    ),
    "k of 0": ("report accountability --dir {demo} --k 0", "k_too_small"),
    "a watch URL of no scheme": ("audit watch --url notaurl {pin} --state {dir}/w", "invalid_url"),
    "a gateway URL that is none": (
        "credential verify {demo}/fatima-card.png {pin} --gateway http://[x",
        "invalid_url",
    ),
    # The token, and her card, readable on the way: refused before any connection.
    "a watch URL in plain http to another machine": (
        "audit watch --url http://gateway.example.org {pin} --state {dir}/w",
        "insecure_url",
    ),
    "a gateway URL in plain http to another machine": (
        "credential verify {demo}/fatima-card.png {pin} --gateway http://10.0.0.5:8000",
        "insecure_url",
    ),
    "a loopback-looking name": (
        "audit watch --url http://127.0.0.1.example.org {pin} --state {dir}/w",
        "insecure_url",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_a_bad_input_is_refused_in_one_line(
    demos: Demos, files: dict[str, Path], case: str
) -> None:
    template, code = BAD_INPUTS[case]
    given = {name: str(path) for name, path in files.items()}
    args = template.format(pin=" ".join(demos.pin), demo=demos.honest, **given).split()
    # With a token, so that the old check for one is passed; 30 s for a FIFO never opened.
    done = run_cli(*args, env={"LEDGER_GW_TOKEN": "lgw.t"}, timeout=30)
    assert code in clean_failure(done)


@pytest.mark.parametrize(
    "option",
    [
        ("--quorum", "-1"),
        ("--count", "-1"),
        ("--interval", "-1"),
        ("--interval", "0"),
        ("--interval", "nan"),
    ],
)
def test_watch_refuses_numbers_out_of_range(
    demos: Demos, tmp_path: Path, option: tuple[str, str]
) -> None:
    watch = ("audit", "watch", "--dir", str(demos.honest), *demos.pin)
    watch += ("--state", str(tmp_path / "w.json"), "--count", "1")  # never forever
    refused = run_cli(*watch, *option)  # the last --count given counts
    assert refused.returncode == 2, refused
    assert "is not in the range" in refused.stderr or "not a number" in refused.stderr
