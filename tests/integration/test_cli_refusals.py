"""What `ledger-gw` refuses up front, in one line and with nothing changed on disk: a node
host no certificate can name, a token file others may read, a report signer who is no
member, an endorsement list given as a string, a witness key named for someone else;
and the files it writes, replaced whole, never written through a symlink."""

from __future__ import annotations

import json
import resource
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from cryptography import x509

from ledger_gw.demo.consortium import DEFINITION_FILE
from ledger_gw.embedded.packing import unpack
from ledger_gw.log.note import SigType, generate_signer
from tests.support.cli import clean_failure, run_cli

pytestmark = pytest.mark.slow

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nobody answers there


@pytest.fixture
def consortium_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "consortium"
    done = run_cli("init", str(directory))
    assert done.returncode == 0, done.stderr
    return directory


def _bundle_args(demo_dir: Path) -> tuple[str, ...]:
    """`audit bundle` of the demo's first referral chain."""
    with closing(sqlite3.connect(demo_dir / "ledger.db")) as db:
        rows = db.execute("SELECT entry FROM log").fetchall()
    results = [json.loads(unpack(bytes(entry)))["result"] for (entry,) in rows]
    referral = next(r["referral_id"] for r in results if "referral_id" in r)
    return ("audit", "bundle", "--dir", str(demo_dir), "--subject", referral)


def _entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# -- consortium prepare --node-host ---------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["é.example", "node_1.example", "-node.example", "node..example", "", "10.0.0.999",
     "fe80::1%eth0"],
)  # fmt: skip
def test_prepare_refuses_a_node_host_no_certificate_can_name(tmp_path: Path, host: str) -> None:
    directory, site = tmp_path / "c", tmp_path / "site"
    done = run_cli(
        "consortium", "prepare", "--dir", str(directory), "--site", str(site),
        "--node-host", "node.example", "--node-host", host,
    )  # fmt: skip
    line = clean_failure(done)
    assert line.startswith("error invalid_host (field --node-host): "), line
    assert repr(host) in line
    assert _entries(tmp_path) == []  # neither the site nor a demo consortium in --dir


def test_prepare_names_each_good_host_in_the_nodes_certificate(tmp_path: Path) -> None:
    site = tmp_path / "site"
    hosts = ("node.example", "xn--9ca.example", "::1", "192.0.2.7")
    done = run_cli(
        "consortium", "prepare", "--dir", str(tmp_path / "c"), "--site", str(site),
        *(arg for host in hosts for arg in ("--node-host", host)),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    cert = x509.load_pem_x509_certificate((site / "node" / "node" / "tls.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    listed = {str(n) for n in names.get_values_for_type(x509.IPAddress)}
    listed |= set(names.get_values_for_type(x509.DNSName))
    assert set(hosts) <= listed


# -- output files: replaced whole, never through a symlink ---------------------------------


def test_audit_bundle_replaces_its_output_whole_and_never_writes_through_a_symlink(
    demo_dir: Path, tmp_path: Path
) -> None:
    bundle = _bundle_args(demo_dir)
    out = tmp_path / "bundle.json"
    out.write_bytes(b"x" * (1 << 20))  # an earlier, larger file: nothing of it may remain
    done = run_cli(*bundle, "--out", str(out))
    assert done.returncode == 0, done.stderr
    written = out.read_bytes()
    assert json.loads(written)["format"] == "ledger-gw/audit-bundle/v1"
    assert out.stat().st_mode & 0o777 == 0o644

    precious = tmp_path / "precious"
    precious.write_bytes(b"someone else's file\n")
    link = tmp_path / "linked.json"
    link.symlink_to(precious)
    done = run_cli(*bundle, "--out", str(link))
    assert done.returncode == 0, done.stderr
    assert precious.read_bytes() == b"someone else's file\n"
    assert not link.is_symlink()
    assert link.read_bytes() == written
    assert _entries(tmp_path) == ["bundle.json", "linked.json", "precious"]  # no temporary


def _card(demo_dir: Path, out: Path, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    """`credential card` of the demo's card, in a process whose files may not grow past
    ``limit`` bytes: a write that fails part-way, as on a full disk."""
    args = ("credential", "card", str(demo_dir / "fatima-card.png"))
    args += ("--consortium", str(demo_dir / "consortium.json"), "--out", str(out))

    def limited() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "ledger_gw.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=limited,
    )


def test_credential_card_is_written_whole_or_not_at_all(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "card.png"
    out.write_bytes(b"the card printed yesterday\n")
    cut_short = _card(demo_dir, out, limit=8192)  # a card is some 30 kB
    assert "File too large" in clean_failure(cut_short)
    assert out.read_bytes() == b"the card printed yesterday\n"
    assert _entries(tmp_path) == ["card.png"]

    precious = tmp_path / "precious"
    precious.write_bytes(b"someone else's file\n")
    link = tmp_path / "linked.png"
    link.symlink_to(precious)
    done = _card(demo_dir, link)
    assert done.returncode == 0, done.stderr
    assert precious.read_bytes() == b"someone else's file\n"
    assert not link.is_symlink()
    assert link.read_bytes().startswith(b"\x89PNG")
    assert link.stat().st_mode & 0o777 == 0o600  # its code is the credential


# -- a bearer token file is its owner's ----------------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620], ids=oct)
def test_a_token_file_group_or_others_may_open_is_refused(
    demo_dir: Path, tmp_path: Path, mode: int
) -> None:
    token = tmp_path / "token"
    token.write_text("lgw.secret-token\n")
    token.chmod(mode)
    pin = ("--consortium", str(demo_dir / "consortium.json"))
    state = tmp_path / "watch.json"
    commands = (
        ("credential", "verify", str(demo_dir / "fatima-card.png"), *pin, "--gateway", UNREACHABLE),
        ("audit", "watch", "--url", UNREACHABLE, *pin, "--state", str(state), "--count", "1"),
    )
    for command in commands:
        done = run_cli(*command, "--token-file", str(token))
        line = clean_failure(done)
        assert line.startswith("error file_not_private (field --token-file): "), line
        assert f"(mode {mode:04o})" in line
        assert f"chmod 600 {token}" in line
        assert "secret-token" not in done.stdout + done.stderr
    assert _entries(tmp_path) == ["token"]

    token.chmod(0o600)  # its owner's only: read, and the gateway asked
    for command in commands:
        assert "cannot reach" in clean_failure(run_cli(*command, "--token-file", str(token)))


# -- report accountability --sign-as -------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "iati"])
def test_report_signed_as_a_non_member_is_refused_naming_the_option(
    demo_dir: Path, fmt: str
) -> None:
    for who in ("NOPE", "", "agency-a"):
        done = run_cli(
            "report", "accountability", "--dir", str(demo_dir), "--sign-as", who, "--format", fmt
        )
        line = clean_failure(done)
        assert line == (
            f"error unknown_org (field --sign-as): --sign-as {who!r} is not a member of "
            "consortium demo"
        ), line
        assert done.stdout == ""


def test_report_signed_as_a_member_whose_key_is_elsewhere_names_the_option(
    demo_dir: Path, tmp_path: Path
) -> None:
    """A gateway's directory holds its own member's keys only."""
    directory = tmp_path / "gateway-of-a"
    shutil.copytree(demo_dir, directory)
    shutil.rmtree(directory / "orgs" / "AGENCY-B")
    line = clean_failure(
        run_cli("report", "accountability", "--dir", str(directory), "--sign-as", "AGENCY-B")
    )
    assert line.startswith(
        f"error no_signing_key: --sign-as AGENCY-B: no usable signing key of AGENCY-B in "
        f"{directory}: cannot read certificate"
    ), line


def test_an_iati_export_naming_no_organisation_is_refused_before_any_ledger_is_read(
    tmp_path: Path,
) -> None:
    """The usage error comes first, even where the ledger cannot be read at all."""
    directory = tmp_path / "no-ledger"
    directory.mkdir()
    done = run_cli("report", "accountability", "--dir", str(directory), "--format", "iati")
    assert done.returncode == 2, done
    assert "an IATI export names its reporting organisation: --org or --sign-as" in done.stderr
    assert "Traceback" not in done.stderr


# -- endorsement.among is a list -------------------------------------------------------------


def test_a_definitions_endorsers_given_as_a_string_are_refused(tmp_path: Path) -> None:
    text = DEFINITION_FILE.read_text()
    listed = 'among = ["AGENCY-A", "AGENCY-B", "AGENCY-C"]'
    assert listed in text
    definition = tmp_path / "consortium.toml"
    definition.write_text(text.replace(listed, 'among = "AGENCY-A"'))
    line = clean_failure(run_cli("init", str(tmp_path / "c"), "--consortium", str(definition)))
    assert "endorsement.among: Not a valid list" in line
    assert _entries(tmp_path) == ["consortium.toml"]


def test_a_consortium_files_endorsers_given_as_a_string_are_refused(consortium_dir: Path) -> None:
    path = consortium_dir / "consortium.json"
    data = json.loads(path.read_text())
    data["endorsement"] = {"required": 1, "among": "AGENCY-A"}
    path.write_text(json.dumps(data))
    line = clean_failure(run_cli("verify", "--dir", str(consortium_dir)))
    assert "endorsement.among must be a list of member IDs, not 'AGENCY-A'" in line


# -- consortium add-witness --vkey ------------------------------------------------------------


def test_add_witness_refuses_a_key_named_for_another_witness(
    consortium_dir: Path, tmp_path: Path
) -> None:
    made = run_cli("witness", "init", "--org", "AGENCY-A", "--dir", str(tmp_path / "wa"))
    assert made.returncode == 0, made.stderr
    agency_a = made.stdout.strip()
    _, elsewhere = generate_signer("witness.elsewhere", SigType.COSIGNATURE_V1)
    add = ("consortium", "add-witness", "--dir", str(consortium_dir), "--url", UNREACHABLE)
    before = (consortium_dir / "consortium.json").read_bytes()
    for vkey, named in ((agency_a, "witness.agency-a"), (elsewhere, "witness.elsewhere")):
        line = clean_failure(run_cli(*add, "--org", "AGENCY-B", "--vkey", vkey))
        assert line.startswith("error witness_key_mismatch (field --vkey): "), line
        assert f"named {named!r}, not 'witness.agency-b'" in line
        assert (consortium_dir / "consortium.json").read_bytes() == before

    made = run_cli("witness", "init", "--org", "AGENCY-B", "--dir", str(tmp_path / "wb"))
    agency_b = made.stdout.strip()
    done = run_cli(*add, "--org", "AGENCY-B", "--vkey", agency_b)
    assert done.returncode == 0, done.stderr
    assert agency_b in (consortium_dir / "consortium.json").read_text()
