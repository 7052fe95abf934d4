"""`ledger-gw` given what it should not be: a FIFO nobody writes where a file is read, a
FIFO or a device where a file is written, numbers no log or report has, a certificate
or key file holding more than its one PEM block, JSON of another shape. Each is refused
in a line naming the option and the path, before anything changes: no command waits for
ever, none replaces a device, none takes 0 for "the latest"."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ledger_gw.cli import cli
from ledger_gw.embedded.packing import unpack
from ledger_gw.errors import ConfigError, LedgerError
from ledger_gw.witness import WitnessHome
from tests.support.cli import clean_failure, refused_to_serve, run_cli
from tests.support.disk import digests

pytestmark = pytest.mark.slow


def _invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def _refused(done: Result, code: str) -> str:
    """The command ended on a LedgerError of ``code`` (one line from `ledger-gw`, exit
    status 1), not a traceback: its message."""
    assert done.exit_code == 1, done.output
    assert isinstance(done.exception, LedgerError), done.exception
    assert done.exception.code == code, done.exception.diagnostics()
    return str(done.exception)


def _usage_error(done: Result, option: str) -> None:
    """Refused by click as a usage error (exit status 2) naming ``option``."""
    assert done.exit_code == 2, (done.output, done.exception)
    assert option in done.output, done.output
    assert "Traceback" not in done.output


def _first_result(directory: Path, key: str, **having: str) -> dict[str, str]:
    """The contract's result of the first log entry whose result has ``key``."""
    with closing(sqlite3.connect(directory / "ledger.db")) as db:
        for (entry,) in db.execute("SELECT entry FROM log ORDER BY seq"):
            result = json.loads(unpack(bytes(entry)))["result"]
            if key in result and all(result.get(k) == v for k, v in having.items()):
                return dict(result)
    raise AssertionError(f"no entry with {key}")


def _kept(directory: Path) -> dict[str, str]:
    """What a refused command must leave as it was: the consortium file, the members'
    keys and certificates, the node's files."""
    found = digests(directory / "orgs") | digests(directory / "node")
    return found | {"consortium.json": (directory / "consortium.json").read_text()}


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A FIFO nobody writes: opened for reading, it waits for ever."""
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


# -- a FIFO where a file is read: refused, never waited on -------------------------------

READ_BY_NAME = {
    # name: (arguments, {demo} {fifo} {tmp} {witness} filled in; the option named)
    "a definition": ("init {tmp}/new --consortium {fifo}", "--consortium"),
    "a TOML definition": ("init {tmp}/new --consortium {tmp}/fifo.toml", "--consortium"),
    "a witness's consortium file": (
        "witness serve --org AGENCY-A --dir {witness} --consortium {fifo} --port 0",
        "--consortium",
    ),
    "a CA key": ("key rotate --dir {demo} --org AGENCY-A --ca-key {fifo}", "--ca-key"),
    "a certificate to revoke": ("log revoke-client --dir {demo} {fifo}", "CERTIFICATE"),
    "a Fabric profile": (
        "prove consistency 1 --dir {demo} --backend fabric --profile {fifo}",
        "--profile",
    ),
    "a watch's state": (
        "audit watch --dir {demo} --consortium {demo}/consortium.json --state {fifo} --count 1",
        "--state",
    ),
}


@pytest.mark.parametrize("case", READ_BY_NAME)
def test_a_fifo_where_a_file_is_read_is_refused_not_waited_on(
    demo_dir: Path, tmp_path: Path, fifo: Path, case: str
) -> None:
    template, option = READ_BY_NAME[case]
    (tmp_path / "fifo.toml").symlink_to(fifo)
    witness = tmp_path / "witness"
    WitnessHome.create(witness, "AGENCY-A")
    before = _kept(demo_dir)
    given = {"demo": demo_dir, "fifo": fifo, "tmp": tmp_path, "witness": witness}
    done = run_cli(*template.format(**given).split(), timeout=20)  # a wait fails the test
    line = clean_failure(done)
    assert line.startswith(f"error not_a_file (field {option}): {option} "), line
    assert line.endswith(" is not a regular file"), line
    assert done.stdout == ""
    assert _kept(demo_dir) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "fifo.toml", "witness"]


# -- a FIFO or a device where a file is written: refused, left as it is --------------------


def test_an_output_is_never_put_in_place_of_a_fifo(demo_dir: Path, tmp_path: Path) -> None:
    """A file is written beside its path and renamed over it: over a FIFO, a socket or a
    device it would replace it with a regular file (over /dev/null, as root, for every
    process on the machine)."""
    pin = ("--consortium", demo_dir / "consortium.json")
    referral = _first_result(demo_dir, "referral_id")["referral_id"]
    event = _first_result(demo_dir, "entitlement_id", state="active")["event_id"]
    card = demo_dir / "fatima-card.png"
    writers = {
        "audit bundle": ("audit", "bundle", "--dir", demo_dir, "--subject", referral, "--out"),
        "credential card": ("credential", "card", card, *pin, "--out"),
        "credential issue": (
            *("credential", "issue", "--dir", demo_dir, "--org", "AGENCY-A"),
            *("--event", event, "--out"),
        ),
    }
    for name, command in writers.items():
        out = tmp_path / f"{name.replace(' ', '-')}.png"  # a card's suffix, for `card`
        os.mkfifo(out)
        message = _refused(_invoke(*command, out), "not_a_file")
        assert message == f"--out {out} is not a regular file: it is not replaced", name
        assert out.is_fifo(), name
    assert len(list(tmp_path.iterdir())) == len(writers)  # no temporary left

    under_a_file = tmp_path / "audit-bundle.png" / "bundle.json"  # a FIFO on the way
    message = _refused(_invoke(*writers["audit bundle"], under_a_file), "unwritable_file")
    assert message == f"--out {under_a_file}: Not a directory"


# -- numbers no log or report has ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("prove", "inclusion", "--index", "0", "--size", "0"), "--size"),
        (("prove", "inclusion", "--index", "0", "--size", "0", "--format", "tlog-proof"), "--size"),
        (("prove", "consistency", "3", "0"), "SIZE2"),
    ],
)  # fmt: skip
def test_a_tree_size_of_zero_is_refused_not_taken_for_the_latest(
    demo_dir: Path, args: tuple[str, ...], option: str
) -> None:
    done = _invoke(*args, "--dir", demo_dir)
    _usage_error(done, option)
    assert "checkpoint" not in done.output  # no proof printed


@pytest.mark.parametrize("k", ["101", str(2**53), "99999999999999999999999"])
def test_a_report_k_past_the_gateways_limit_is_refused(demo_dir: Path, k: str) -> None:
    """Past 2**53 the signing would end in a traceback; past 100 the gateway refuses it."""
    for signed in ((), ("--sign-as", "AGENCY-A")):
        done = _invoke("report", "accountability", "--dir", demo_dir, "--k", k, *signed)
        _usage_error(done, "--k")
        assert "anchor" not in done.output  # no report printed


@pytest.mark.parametrize("policy", ["0:AGENCY-A", "-1:AGENCY-A", "3:AGENCY-A,AGENCY-B", "1:"])
def test_audit_verify_refuses_a_pinned_policy_no_transaction_can_fail_or_pass(
    demo_dir: Path, tmp_path: Path, policy: str
) -> None:
    """An endorsement policy the auditor pins is a trust root: one of 0 endorsements (or
    fewer) would accept any transaction's, one of more than it lists none."""
    bundle = tmp_path / "bundle.json"
    referral = _first_result(demo_dir, "referral_id")["referral_id"]
    made = _invoke("audit", "bundle", "--dir", demo_dir, "--subject", referral, "--out", bundle)
    assert made.exit_code == 0, made.output
    pin = ("--consortium", demo_dir / "consortium.json")
    done = _invoke("audit", "verify", bundle, *pin, "--policy", policy)
    message = _refused(done, "invalid_value")
    assert message.startswith(f"--policy {policy!r}: N must be from 1 to the number of ")
    good = _invoke("audit", "verify", bundle, *pin, "--policy", "2:AGENCY-A,AGENCY-B")
    assert good.exit_code == 0, good.output


@pytest.mark.parametrize("timeout", ["nan", "inf", "1e12"])
def test_a_witness_read_timeout_no_socket_takes_is_refused_before_serving(
    demo_dir: Path, tmp_path: Path, timeout: str
) -> None:
    """Such a timeout would be set on each connection as it comes: every one dropped."""
    home = tmp_path / "witness"
    WitnessHome.create(home, "AGENCY-A")
    done = refused_to_serve(
        *("witness", "serve", "--org", "AGENCY-A", "--dir", str(home), "--port", "0"),
        *("--consortium", str(demo_dir / "consortium.json"), "--read-timeout", timeout),
        wait_s=20,
    )
    assert done.returncode == 2, done
    assert "--read-timeout" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("org", ["", "A", "agency a"])
def test_a_witness_key_is_made_only_for_an_organisation_id(tmp_path: Path, org: str) -> None:
    """A key named for no ID a consortium file can list is a witness nobody can list."""
    home = tmp_path / "witness"
    _usage_error(_invoke("witness", "init", "--org", org, "--dir", home), "--org")
    assert not home.exists()


# -- one PEM block, and nothing else ---------------------------------------------------------


def test_revoke_client_takes_one_certificate_and_nothing_else(
    demo_dir: Path, tmp_path: Path
) -> None:
    """Of two certificates only the first would be revoked, the other left to open
    connections while the operator thinks it closed."""
    first = (demo_dir / "orgs" / "AGENCY-A" / "signer.pem").read_bytes()
    second = (demo_dir / "orgs" / "AGENCY-B" / "signer.pem").read_bytes()
    listed = demo_dir / "node" / "revoked-clients"
    assert not listed.exists()
    given = {
        "two certificates": first + second,
        "text after it": first + b"and the key is in the safe\n",
        "not UTF-8": b"\xff\xfe" + first,
        "a key": (demo_dir / "orgs" / "AGENCY-A" / "signer.key").read_bytes(),
        "nothing": b"",
    }
    for name, data in given.items():
        path = tmp_path / "certificate.pem"
        path.write_bytes(data)
        done = _invoke("log", "revoke-client", "--dir", demo_dir, path)
        message = _refused(done, "not_a_certificate")
        assert message.startswith(f"CERTIFICATE {path} must hold one PEM certificate"), name
        assert not listed.exists(), name

    path.write_bytes(b"\n" + first.replace(b"\n", b"\r\n") + b"\n\n")  # blank space around
    done = _invoke("log", "revoke-client", "--dir", demo_dir, path)
    assert done.exit_code == 0, done.output
    assert len(listed.read_text().splitlines()) == 1


@pytest.mark.parametrize("extra", ["garbage", "a certificate", "another key"])
def test_key_rotate_takes_a_ca_key_file_of_one_pem_block(
    demo_dir: Path, tmp_path: Path, extra: str
) -> None:
    """cryptography reads the first block and ignores the rest: a file holding more is
    not the CA key file the operator meant, whatever its first block."""
    directory = tmp_path / "consortium"
    shutil.copytree(demo_dir, directory)
    ca = directory / "orgs" / "AGENCY-A"
    after = {
        "garbage": b"\x00\xffnot a key\n",
        "a certificate": (ca / "ca.pem").read_bytes(),
        "another key": (directory / "orgs" / "AGENCY-B" / "ca.key").read_bytes(),
    }[extra]
    key = tmp_path / "ca.key"
    key.write_bytes((ca / "ca.key").read_bytes() + after)
    key.chmod(0o600)
    before = _kept(directory)
    done = _invoke("key", "rotate", "--dir", directory, "--org", "AGENCY-A", "--ca-key", key)
    message = _refused(done, "malformed_key")
    assert message == f"--ca-key {key} must hold one PEM private key and nothing else"
    assert _kept(directory) == before

    key.write_bytes((ca / "ca.key").read_bytes())
    done = _invoke("key", "rotate", "--dir", directory, "--org", "AGENCY-A", "--ca-key", key)
    assert done.exit_code == 0, done.output


# -- JSON of another shape -------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["[]", '"a profile"', '{"peers": []}', '{"peers": {"A": 1}}'])
def test_a_fabric_profile_of_another_shape_is_one_error(
    demo_dir: Path, tmp_path: Path, shape: str
) -> None:
    pytest.importorskip("grpc")  # the Fabric backend's extra
    profile = tmp_path / "profile.json"
    profile.write_text(shape)
    done = _invoke(
        "prove", "consistency", "1", "--dir", demo_dir, "--backend", "fabric", "--profile", profile
    )
    assert done.exit_code == 1, done.output
    assert isinstance(done.exception, ConfigError), done.exception
    assert str(done.exception).startswith(f"cannot read Fabric profile {profile}: ")


# -- a log node's URL ------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["notaurl", "https://user:SECRETPW@node.example:8443"])
def test_serve_refuses_a_log_url_before_its_banner(demo_dir: Path, url: str) -> None:
    done = refused_to_serve("serve", "--dir", str(demo_dir), "--port", "0", "--log-url", url)
    line = clean_failure(done)
    assert line.startswith("error invalid_url (field --log-url): --log-url "), line
    assert done.stdout == ""  # no banner, no gunicorn
    assert "SECRETPW" not in done.stdout + done.stderr


@pytest.mark.parametrize("label", ["ops\tlaptop", "ops\nfake-id\tadmin\tforged", "x" * 101])
def test_a_token_label_token_list_cannot_show_as_given_is_refused(
    demo_dir: Path, tmp_path: Path, label: str
) -> None:
    """`token list` prints a label as one field of a tab-separated line: a tab or a line
    break in it would print a row of its own, and the store keeps 100 characters."""
    directory = tmp_path / "consortium"
    shutil.copytree(demo_dir, directory)
    listed = _invoke("token", "list", "--dir", directory, "--org", "AGENCY-A")
    assert listed.exit_code == 0, listed.output
    issue = ("token", "issue", "--dir", directory, "--org", "AGENCY-A", "--role", "admin")
    _usage_error(_invoke(*issue, "--label", label), "--label")
    assert _invoke("token", "list", "--dir", directory, "--org", "AGENCY-A").output == (
        listed.output
    )
    assert _invoke(*issue, "--label", "ops laptop, é").exit_code == 0
