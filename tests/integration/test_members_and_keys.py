"""`ledger-gw member add` and `ledger-gw key rotate` on a real workspace and ledger."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ledger_gw.bootstrap import embedded_ledger, open_gateway
from ledger_gw.consortium import Consortium
from ledger_gw.embedded.consortium_file import CHECK_EVERY_S
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.errors import AuthenticationError, ConfigError
from ledger_gw.handover import request as handover_request
from ledger_gw.identity import Profile, Signer, cert_pem, issue_member, load_signing_key
from ledger_gw.interfaces import Outcome
from ledger_gw.remote import tls
from ledger_gw.services.config import GatewayConfig
from ledger_gw.transaction import sign_proposal
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.certificates import reassembled
from tests.support.cli import clean_failure, own_pin, run_cli
from tests.support.disk import digests
from tests.support.east_basin import SMALL, init_east_basin


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return init_east_basin(tmp_path, SMALL)


def test_init_refuses_unknown_malformed_and_incomplete_files_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('name = "x"\n[[members]\n')
    (tmp_path / "short.toml").write_text('name = "x"\n')
    for name, said in [
        ("absent.toml", "cannot read consortium definition"),
        ("bad.toml", "is not valid TOML"),
        ("short.toml", "members: Missing data for required field"),
    ]:
        line = clean_failure(
            run_cli("init", str(tmp_path / "ws"), "--consortium", str(tmp_path / name))
        )
        assert said in line, line
        assert name in line, line
    assert not (tmp_path / "ws").exists()


def test_member_add_makes_its_own_directory_and_touches_no_other(root: Path) -> None:
    before = {org: digests(root / "orgs" / org) for org in ("RIVER-AID", "LAKE-AUDIT")}
    done = run_cli(
        "member", "add", "--dir", str(root), "--org", "HILL-HEALTH", "--role", "agency",
        "--display-name", "Hill Health", "--iati-ref", "ZZ-EB-HILL", "--iati-type", "21",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert {org: digests(root / "orgs" / org) for org in before} == before
    new = root / "orgs" / "HILL-HEALTH"
    assert sorted(digests(new)) == ["ca.key", "ca.pem", "handover.key", "signer.key", "signer.pem"]
    assert (new / "signer.key").stat().st_mode & 0o077 == 0
    assert (new / "handover.key").stat().st_mode & 0o077 == 0
    ws = Workspace.load(root)
    assert ws.consortium.profile("HILL-HEALTH").iati_type == "21"
    # ... and the ledger admits what the new member signs.
    ledger = embedded_ledger(ws)
    try:
        (outcome,) = ledger.submit_many(
            [sign_proposal(ws.signer("HILL-HEALTH"), "submit", [ev.independent(0)])]
        )
    finally:
        ledger.close()
    assert outcome.error is None, outcome.error


def test_member_add_refuses_a_member_twice_and_bad_names_changing_nothing(root: Path) -> None:
    before = digests(root)
    again = run_cli(
        "member", "add", "--dir", str(root), "--org", "RIVER-AID", "--role", "agency",
        "--display-name", "River Aid",
    )  # fmt: skip
    assert "already a member" in clean_failure(again)
    bad_type = run_cli(
        "member", "add", "--dir", str(root), "--org", "SEA-AID", "--role", "agency",
        "--display-name", "Sea Aid", "--iati-type", "99",
    )  # fmt: skip
    assert "IATI OrganisationType" in clean_failure(bad_type)
    for org in ("A" * 70, "../ESCAPED", "river-aid"):  # too long for a certificate; a path
        bad_id = run_cli(
            "member", "add", "--dir", str(root), "--org", org, "--role", "agency",
            "--display-name", "Bad",
        )  # fmt: skip
        assert "is malformed" in clean_failure(bad_id)
    assert digests(root) == before
    assert not (root / "ESCAPED").exists()


def test_a_gateway_needs_only_its_own_organisations_keys(root: Path, tmp_path: Path) -> None:
    own = tmp_path / "river-aid-gateway"
    own.mkdir()
    for name in ("consortium.json", "pseudonym.key"):
        shutil.copy(root / name, own / name)
    shutil.copytree(root / "orgs" / "RIVER-AID", own / "orgs" / "RIVER-AID")
    shutil.copytree(root / "node", own / "node")
    gateway = open_gateway(GatewayConfig(directory=own, orgs=("RIVER-AID",)))
    gateway.close()
    with pytest.raises(ConfigError, match="LAKE-AUDIT"):
        open_gateway(GatewayConfig(directory=own, orgs=("LAKE-AUDIT",)))


def _submitted(root: Path, signer: Signer, n: int) -> Outcome:
    """One event signed by ``signer``, on the ledger as the directory now sets it up."""
    ledger = embedded_ledger(Workspace.load(root))
    try:
        (outcome,) = ledger.submit_many([sign_proposal(signer, "submit", [ev.independent(n)])])
    finally:
        ledger.close()
    return outcome


def test_rotation_keeps_history_old_signatures_verify_and_the_old_key_stops(root: Path) -> None:
    old = Workspace.load(root).signer("RIVER-AID")
    assert _submitted(root, old, 0).error is None

    done = run_cli("key", "rotate", "--dir", str(root), "--org", "RIVER-AID")
    assert done.returncode == 0, done.stderr
    ws = Workspace.load(root)
    new = ws.signer("RIVER-AID")
    periods = ws.consortium.organisation("RIVER-AID").signing_keys
    assert len(periods) == 2
    assert periods[0].valid_until == periods[1].valid_from
    assert periods[1].valid_until is None
    assert len(list((root / "orgs" / "RIVER-AID" / "retired").glob("*.pem"))) == 1

    ledger = embedded_ledger(ws)
    try:
        outcomes = ledger.submit_many(
            [
                sign_proposal(new, "submit", [ev.independent(1)]),
                sign_proposal(old, "submit", [ev.independent(2)]),
            ]
        )
    finally:
        ledger.close()
    assert outcomes[0].error is None
    assert outcomes[1].error is not None
    assert outcomes[1].error.code == "retired_certificate"

    verified = run_cli("verify", "--dir", str(root), *own_pin(root))
    assert verified.returncode == 0, verified.stderr
    assert "2 entries" in " ".join(verified.stdout.split())


def test_rotating_a_key_a_file_from_before_keys_were_listed_took_keeps_its_entries(
    root: Path,
) -> None:
    """Such a file takes any certificate the member's CA issued: its rotation lists the
    key it retires too, so what that key signed still verifies and nothing it signs later."""
    ws = Workspace.load(root)
    org = ws.consortium.organisation("RIVER-AID")
    members = {**ws.consortium.organisations, org.org_id: replace(org, signing_keys=())}
    replace(ws.consortium, organisations=members).save(ws.consortium_file)
    old = Workspace.load(root).signer("RIVER-AID")
    assert _submitted(root, old, 0).error is None

    done = run_cli("key", "rotate", "--dir", str(root), "--org", "RIVER-AID")
    assert done.returncode == 0, done.stderr
    verified = run_cli("verify", "--dir", str(root), *own_pin(root))
    assert verified.returncode == 0, verified.stderr
    assert "1 entries" in " ".join(verified.stdout.split())
    late = _submitted(root, old, 1)
    assert late.error is not None
    assert late.error.code == "retired_certificate"


def test_a_rotated_out_key_cannot_date_a_signature_back_into_its_period(root: Path) -> None:
    """Whoever holds the old key after a rotation (the reason to rotate, often) states a
    time just before it, within the clock skew a ledger allows: refused all the same."""
    ws = Workspace.load(root)
    old = ws.signer("RIVER-AID")
    done = run_cli("key", "rotate", "--dir", str(root), "--org", "RIVER-AID")
    assert done.returncode == 0, done.stderr
    ws = Workspace.load(root)
    rotated_at = ws.consortium.organisation("RIVER-AID").signing_keys[0].valid_until
    assert rotated_at is not None
    before = rotated_at - dt.timedelta(seconds=30)
    backdated = sign_proposal(old, "submit", [ev.independent(0)], clock=lambda: before)
    query = sign_proposal(old, "history", [ev.pid(), "referral"], clock=lambda: before)
    ledger = embedded_ledger(ws)
    try:
        (outcome,) = ledger.submit_many([backdated])
        assert outcome.error is not None
        assert outcome.error.code == "retired_certificate"
        assert ledger.log.size() == 0
        with pytest.raises(AuthenticationError) as refused:
            ledger.evaluate(query)
        assert refused.value.code == "retired_certificate"
        # the new key, at the same stated time, is not yet the key
        early = sign_proposal(
            ws.signer("RIVER-AID"), "submit", [ev.independent(1)], clock=lambda: before
        )
        (outcome,) = ledger.submit_many([early])
        assert outcome.error is not None
        assert outcome.error.code == "retired_certificate"
        (outcome,) = ledger.submit_many(
            [sign_proposal(ws.signer("RIVER-AID"), "submit", [ev.independent(2)])]
        )
        assert outcome.error is None
    finally:
        ledger.close()
    # nor a hand-over request (fetching a sealed package, once), dated back the same way
    path = "/v1/handover/packages/x"
    signed = handover_request.sign(old, "GET", path, before)
    after = rotated_at + dt.timedelta(seconds=30)
    with pytest.raises(AuthenticationError, match="no longer its signing key"):
        handover_request.verify(ws.consortium.authenticator(), "GET", path, signed, after)


def test_verify_refuses_an_entry_a_retired_key_dated_back_past_later_entries(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log's operator holds the stolen old key, sets its own clock back and runs a
    ledger that does not look at the time of the log's latest entry: it takes an entry
    dated before the rotation, appended after entries dated hours later. Its signature
    is valid at the time it states; no honest ledger took it then, and verify says so."""
    ws = Workspace.load(root)
    old = ws.signer("RIVER-AID")
    ws = ws.rotate_key("RIVER-AID")
    rotated_at = ws.consortium.organisation("RIVER-AID").signing_keys[0].valid_until
    assert rotated_at is not None
    later, back = rotated_at + dt.timedelta(hours=2), rotated_at - dt.timedelta(seconds=30)
    for signer, at, n in ((ws.signer("RIVER-AID"), later, 0), (old, back, 1)):
        if signer is old:  # the operator's own code
            monkeypatch.setattr(EmbeddedLedger, "_latest_time", lambda *_: None)
        ledger = EmbeddedLedger(  # the operator's clock
            ws.ledger_url, ws.consortium, ws.log_signer(), clock=lambda at=at: at
        )
        try:
            (outcome,) = ledger.submit_many(
                [sign_proposal(signer, "submit", [ev.independent(n)], clock=lambda at=at: at)]
            )
            assert outcome.error is None
        finally:
            ledger.close()
    verified = run_cli("verify", "--dir", str(root), *own_pin(root))
    assert verified.returncode == 1
    assert "position 1" in verified.stderr
    assert "no ledger took it then" in " ".join(verified.stderr.split())


def test_a_certificate_the_ca_issues_out_of_band_is_not_a_signing_key(root: Path) -> None:
    """Holding the CA key is not enough: the members list each signing key."""
    ws = Workspace.load(root)
    org = ws.consortium.organisation("RIVER-AID")
    ca_key = load_signing_key(root / "orgs" / "RIVER-AID" / "ca.key")
    key, cert = issue_member(ca_key, org.ca_cert, "RIVER-AID", "agency", "rogue.gateway")
    ledger = embedded_ledger(ws)
    try:
        (outcome,) = ledger.submit_many(
            [sign_proposal(Signer(key, cert_pem(cert)), "submit", [ev.independent(0)])]
        )
    finally:
        ledger.close()
    assert outcome.error is not None
    assert outcome.error.code == "unlisted_certificate"


def test_a_tls_client_key_signs_no_event_even_where_no_keys_are_listed(root: Path) -> None:
    """A consortium file written before keys were listed accepts any certificate the
    member's CA issued; not one issued for the gateway's TLS, whose key sits on the
    gateway's machine for that use alone."""
    ws = Workspace.load(root)
    org = ws.consortium.organisation("RIVER-AID")
    members = {**ws.consortium.organisations, org.org_id: replace(org, signing_keys=())}
    unlisted = replace(ws.consortium, organisations=members)
    unlisted.save(ws.consortium_file)  # what a ledger opened from the directory reads
    ws = Workspace.load(root)
    org_dir = root / "orgs" / "RIVER-AID"
    tls_pem = tls.issue_client_certificate(org_dir, unlisted, "RIVER-AID")
    tls_signer = Signer.load(org_dir / "tls-client.key", tls_pem)
    ca_key = load_signing_key(org_dir / "ca.key")
    key, cert = issue_member(ca_key, org.ca_cert, "RIVER-AID", "agency", "older.gateway")
    ledger = embedded_ledger(ws)
    try:
        refused, accepted = ledger.submit_many(
            [
                sign_proposal(tls_signer, "submit", [ev.independent(0)]),
                sign_proposal(Signer(key, cert_pem(cert)), "submit", [ev.independent(1)]),
            ]
        )
        assert ledger.log.size() == 1
    finally:
        ledger.close()
    assert refused.error is not None
    assert refused.error.code == "wrong_certificate_use"
    assert accepted.error is None


def _twice_marked(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate) -> str:
    """A certificate the member's CA signed that carries its extended key usage twice
    (which X.509 forbids and no builder makes): one made under another extension's OID,
    renamed, and signed again."""
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "RIVER-AID"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "agency"),
            x509.NameAttribute(NameOID.COMMON_NAME, "twice.river-aid"),
        ]
    )
    usage = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    decoy = x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.38"), usage.public_bytes())
    made = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(usage, critical=False)
        .add_extension(decoy, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    tbs = made.tbs_certificate_bytes.replace(b"\x06\x03\x55\x1d\x26", b"\x06\x03\x55\x1d\x25")
    cert = reassembled(made, tbs, ca_key.sign(tbs, ec.ECDSA(hashes.SHA256())))
    cert.verify_directly_issued_by(ca_cert)  # the CA's own signature, over both
    return cert_pem(cert)


def test_a_certificate_marked_twice_is_refused_both_ways_not_a_crash(root: Path) -> None:
    ws = Workspace.load(root)
    org = ws.consortium.organisation("RIVER-AID")
    pem = _twice_marked(load_signing_key(root / "orgs" / "RIVER-AID" / "ca.key"), org.ca_cert)
    auth, now = ws.consortium.authenticator(), dt.datetime.now(dt.UTC)
    for use in (auth.transport_peer, auth.identify):
        with pytest.raises(AuthenticationError) as refused:
            use(pem, now)
        assert refused.value.code == "bad_certificate"


def test_rotation_needs_the_organisations_ca_and_changes_nothing_without_it(root: Path) -> None:
    (root / "orgs" / "LAKE-AUDIT" / "ca.key").unlink()
    before = digests(root)
    line = clean_failure(run_cli("key", "rotate", "--dir", str(root), "--org", "LAKE-AUDIT"))
    assert "ca.key does not exist" in line
    assert digests(root) == before
    assert "is not a member" in clean_failure(
        run_cli("key", "rotate", "--dir", str(root), "--org", "SEA-AID")
    )


def test_the_key_history_survives_a_round_trip(root: Path, tmp_path: Path) -> None:
    Workspace.load(root).rotate_key("RIVER-AID", at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    consortium = Consortium.load(root / "consortium.json")
    consortium.save(tmp_path / "copy.json")
    assert Consortium.load(tmp_path / "copy.json") == consortium
    assert consortium.organisation("RIVER-AID").signing_keys[0].valid_until == dt.datetime(
        2030, 1, 1, tzinfo=dt.UTC
    )


def _code(ledger: EmbeddedLedger, signer: Signer, n: int) -> str | None:
    """The error code of one event signed now; None when it is logged."""
    (outcome,) = ledger.submit_many([sign_proposal(signer, "submit", [ev.independent(n)])])
    return None if outcome.error is None else str(outcome.error.code)


def test_a_running_ledger_takes_a_rotation_from_the_file_without_a_restart(root: Path) -> None:
    """`key rotate` while the ledger runs, its gateway not restarted yet: from its next
    append the ledger refuses the rotated-out key (lost, perhaps stolen), and within a
    second it takes the new one. Verify takes the log."""
    ws = Workspace.load(root)
    old = ws.signer("RIVER-AID")
    ledger = embedded_ledger(ws)
    try:
        assert _code(ledger, old, 0) is None
        done = run_cli("key", "rotate", "--dir", str(root), "--org", "RIVER-AID")
        assert done.returncode == 0, done.stderr
        assert _code(ledger, old, 1) == "retired_certificate"
        time.sleep(CHECK_EVERY_S)
        assert _code(ledger, Workspace.load(root).signer("RIVER-AID"), 2) is None
        assert _code(ledger, old, 3) == "retired_certificate"
    finally:
        ledger.close()
    verified = run_cli("verify", "--dir", str(root), *own_pin(root))
    assert verified.returncode == 0, verified.stderr
    assert "2 entries" in " ".join(verified.stdout.split())


def test_a_file_a_running_ledger_cannot_take_whole_is_logged_and_rotations_still_taken(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Half a file keeps the keys in force; a member added is left for a restart, the
    rotation that followed is taken; a file that reopens a rotated-out key's period (an
    old copy put back) is not taken. Each is logged as an error."""
    ws = Workspace.load(root)
    before, old = ws.consortium, ws.signer("RIVER-AID")
    ledger = embedded_ledger(ws)
    caplog.set_level(logging.INFO, logger="ledger_gw.embedded.consortium_file")
    try:
        assert _code(ledger, old, 0) is None
        ws.consortium_file.write_text('{"name": "east-')
        time.sleep(CHECK_EVERY_S)
        assert _code(ledger, old, 1) is None
        assert "does not read" in caplog.text
        before.save(ws.consortium_file)  # whole again: a change starts from the file as it is
        ws = ws.add_member("HILL-HEALTH", "agency", Profile("Hill Health"))
        ws = ws.rotate_key("RIVER-AID")
        time.sleep(CHECK_EVERY_S)
        assert _code(ledger, old, 2) == "retired_certificate"
        assert _code(ledger, ws.signer("RIVER-AID"), 3) is None
        assert _code(ledger, ws.signer("HILL-HEALTH"), 4) == "unknown_organisation"
        assert "changed the members" in caplog.text
        before.save(ws.consortium_file)
        time.sleep(CHECK_EVERY_S)
        assert _code(ledger, old, 5) == "retired_certificate"
        assert "changed RIVER-AID's past signing keys" in caplog.text
    finally:
        ledger.close()
    ws.consortium.save(ws.consortium_file)
    verified = run_cli("verify", "--dir", str(root), *own_pin(root))
    assert verified.returncode == 0, verified.stderr
    assert "3 entries" in " ".join(verified.stdout.split())
