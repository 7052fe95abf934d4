"""A dishonest member, a careless administrator and crafted certificates against the
consortium file's signing keys: what the ledger, `ledger-gw verify` and the audit
bundle verifier each take."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chaincode.stub import Identity
from ledger_gw.audit.bundle import build_bundle
from ledger_gw.audit.verify import verify_bundle
from ledger_gw.bootstrap import embedded_ledger
from ledger_gw.consortium import Consortium
from ledger_gw.embedded.consortium_file import CHECK_EVERY_S
from ledger_gw.embedded.ledger import EmbeddedLedger, Verdict
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.errors import AuthenticationError, ConfigError
from ledger_gw.identity import Signer, cert_pem, load_signing_key
from ledger_gw.transaction import sign_proposal
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.cli import clean_failure, own_pin, run_cli
from tests.support.disk import digests
from tests.support.east_basin import SMALL, init_east_basin


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return init_east_basin(tmp_path, SMALL)


def _logged(ws: Workspace, signer: Signer, n: int, at: dt.datetime) -> str | None:
    """One event ``signer`` signs at ``at``, on a ledger whose clock says ``at``: the
    refusal's code, None when logged."""
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer(), clock=lambda: at)
    try:
        (outcome,) = ledger.submit_many(
            [sign_proposal(signer, "submit", [ev.independent(n)], clock=lambda: at)]
        )
    finally:
        ledger.close()
    return None if outcome.error is None else outcome.error.code


def test_a_rotation_dated_before_the_current_keys_start_is_refused(root: Path) -> None:
    """The administrator's clock stepped back (or `at` mistyped) between two rotations:
    closing the current key before its own start would leave it no period at all, so
    every entry it signed would fail verify, and would hand its successor the time its
    predecessor was the key. Refused, the file unchanged; the history still verifies."""
    now = dt.datetime.now(dt.UTC)
    first = now - dt.timedelta(hours=1)
    ws = Workspace.load(root).rotate_key("RIVER-AID", at=first)
    assert _logged(ws, ws.signer("RIVER-AID"), 0, now) is None
    before = digests(root)
    with pytest.raises(ConfigError, match="is not after"):
        ws.rotate_key("RIVER-AID", at=first - dt.timedelta(minutes=10))
    assert digests(root) == before
    verified = run_cli("verify", "--dir", str(root), *own_pin(root))
    assert verified.returncode == 0, verified.stderr


def test_a_rotation_never_reopens_time_an_earlier_key_was_the_key(root: Path) -> None:
    ws = Workspace.load(root)
    org = ws.consortium.organisation("RIVER-AID")
    ca_key = load_signing_key(root / "orgs" / "RIVER-AID" / "ca.key")
    start = org.signing_keys[0].valid_from
    _, cert = _leaf(ca_key, org.ca_cert)
    with pytest.raises(ConfigError, match="is not after"):
        ws.consortium.with_rotated_key("RIVER-AID", cert_pem(cert), start)
    later = ws.consortium.with_rotated_key(
        "RIVER-AID", cert_pem(cert), start + dt.timedelta(seconds=1)
    )
    assert [p.valid_until for p in later.organisation("RIVER-AID").signing_keys] == [
        start + dt.timedelta(seconds=1),
        None,
    ]


def _leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    *,
    org: str = "RIVER-AID",
    ca: bool = False,
    signs: bool = True,
    valid: tuple[dt.timedelta, dt.timedelta] = (dt.timedelta(hours=-1), dt.timedelta(days=1)),
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A certificate ``ca_key`` issues naming ``org`` and the role agency: a CA's when
    ``ca``, one whose key usage excludes signatures unless ``signs``."""
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "agency"),
            x509.NameAttribute(NameOID.COMMON_NAME, "crafted.gateway"),
        ]
    )
    usage = x509.KeyUsage(signs, False, False, False, not signs, ca, ca, False, False)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + valid[0])
        .not_valid_after(now + valid[1])
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _listed(root: Path, cert: x509.Certificate, at: dt.datetime) -> Workspace:
    """The directory's consortium file listing ``cert`` as RIVER-AID's key from ``at``."""
    ws = Workspace.load(root)
    ws.consortium.with_rotated_key("RIVER-AID", cert_pem(cert), at).save(ws.consortium_file)
    return Workspace.load(root)


@pytest.mark.parametrize(
    ("crafted", "code"),
    [
        ({"ca": True}, "wrong_certificate_use"),
        ({"signs": False}, "wrong_certificate_use"),
        ({"valid": (dt.timedelta(days=-3), dt.timedelta(days=-2))}, "expired_certificate"),
        ({"valid": (dt.timedelta(hours=1), dt.timedelta(days=1))}, "expired_certificate"),
    ],
    ids=["ca-true", "no-digital-signature", "expired", "not-yet-valid"],
)
def test_a_listed_certificate_unfit_to_sign_signs_nothing(
    root: Path, crafted: dict[str, object], code: str
) -> None:
    """Even listed by the members, a certificate made to certify others, one whose key
    usage excludes signatures, or one outside its validity signs no event: the ledger
    refuses it, and its authenticator (the verifiers') says why."""
    now = dt.datetime.now(dt.UTC)
    org = Workspace.load(root).consortium.organisation("RIVER-AID")
    ca_key = load_signing_key(root / "orgs" / "RIVER-AID" / "ca.key")
    key, cert = _leaf(ca_key, org.ca_cert, **crafted)  # type: ignore[arg-type]
    ws = _listed(root, cert, now - dt.timedelta(minutes=5))
    assert _logged(ws, Signer(key, cert_pem(cert)), 0, now) == code
    with pytest.raises(AuthenticationError) as refused:
        ws.consortium.authenticator().identify(cert_pem(cert), now)
    assert refused.value.code == code


def test_a_leaf_another_members_ca_issued_signs_nothing_for_this_one(root: Path) -> None:
    """LAKE-AUDIT holds its own CA key and issues a certificate naming RIVER-AID: not
    RIVER-AID's CA, so not RIVER-AID, whatever the file lists."""
    now = dt.datetime.now(dt.UTC)
    lake = Workspace.load(root).consortium.organisation("LAKE-AUDIT")
    ca_key = load_signing_key(root / "orgs" / "LAKE-AUDIT" / "ca.key")
    key, cert = _leaf(ca_key, lake.ca_cert)
    with pytest.raises(ConfigError, match="not issued by RIVER-AID's CA"):
        Workspace.load(root).consortium.with_rotated_key("RIVER-AID", cert_pem(cert), now)
    assert _logged(Workspace.load(root), Signer(key, cert_pem(cert)), 0, now) == (
        "untrusted_certificate"
    )


def test_a_leaf_below_an_intermediate_ca_of_the_member_signs_nothing(root: Path) -> None:
    """A chain longer than the file lists: RIVER-AID's CA certifies a sub-CA, which issues
    a leaf naming RIVER-AID. Only a certificate its listed CA signed directly counts, so
    whoever holds the sub-CA's key (a regional office's, say) signs nothing for it."""
    now = dt.datetime.now(dt.UTC)
    org = Workspace.load(root).consortium.organisation("RIVER-AID")
    ca_key = load_signing_key(root / "orgs" / "RIVER-AID" / "ca.key")
    sub_key, sub_cert = _leaf(ca_key, org.ca_cert, ca=True)
    key, cert = _leaf(sub_key, sub_cert)
    with pytest.raises(ConfigError, match="not issued by RIVER-AID's CA"):
        Workspace.load(root).consortium.with_rotated_key("RIVER-AID", cert_pem(cert), now)
    assert _logged(Workspace.load(root), Signer(key, cert_pem(cert)), 0, now) == (
        "untrusted_certificate"
    )


def test_a_retired_key_the_log_operator_lets_sign_is_flagged_its_past_still_verifies(
    root: Path,
) -> None:
    """RIVER-AID's stolen key, rotated out, signs on: a log operator appends its event
    past the ledger's checks, and hands over a bundle carrying the consortium file from
    before the rotation. The auditor, pinning the current file, keeps the key's earlier
    event and refuses the later one; the bundle's copy of the file counts for nothing."""
    now = dt.datetime.now(dt.UTC)
    ws = Workspace.load(root)
    stolen, before_rotation = ws.signer("RIVER-AID"), ws.consortium
    assert _logged(ws, stolen, 0, now - dt.timedelta(hours=2)) is None
    ws = ws.rotate_key("RIVER-AID", at=now - dt.timedelta(hours=1))
    late = sign_proposal(stolen, "submit", [ev.independent(1)], clock=lambda: now)
    ledger = EmbeddedLedger(ws.ledger_url, before_rotation, ws.log_signer(), clock=lambda: now)
    try:
        ledger.append_admitted([Verdict(late, Identity("RIVER-AID", "agency"))])  # the lie
        log = EmbeddedLog.of(ledger)
        every = [r.tx_id for r in log.records(log.anchor(None))]
        bundle = build_bundle(log, before_rotation, kind="events", tx_ids=every)
    finally:
        ledger.close()
    report = verify_bundle(bundle, trusted_consortium=ws.consortium)
    assert [(e.position, e.signature_ok) for e in report.events] == [(0, True), (1, False)]
    assert {(f.code, f.position) for f in report.failures} == {
        ("consortium_mismatch", None),
        ("retired_certificate", 1),
    }
    verified = run_cli("verify", "--dir", str(root), *own_pin(root))
    assert verified.returncode == 1
    assert "position 1" in verified.stderr


def test_a_retired_member_signs_nothing_after_and_its_history_still_verifies(
    root: Path,
) -> None:
    """A member leaves (or is expelled): `consortium retire-member` closes its key with
    no successor, keeping it listed. Ledgers refuse what it signs from then on; its
    earlier entries still verify, which they would not were it dropped from the file;
    an entry a log operator lets it append later is flagged by verify and by bundles."""
    ws = Workspace.load(root)
    leaving, before = ws.signer("RIVER-AID"), ws.consortium
    running = embedded_ledger(ws)  # opened before, it takes the change from the file
    try:
        (kept,) = running.submit_many([sign_proposal(leaving, "submit", [ev.independent(0)])])
        assert kept.error is None
        done = run_cli("consortium", "retire-member", "--dir", str(root), "--org", "RIVER-AID")
        assert done.returncode == 0, done.stderr
        time.sleep(CHECK_EVERY_S)
        (refused,) = running.submit_many([sign_proposal(leaving, "submit", [ev.independent(1)])])
        assert refused.error is not None
        assert refused.error.code == "retired_certificate"
    finally:
        running.close()
    ws = Workspace.load(root)
    assert all(p.valid_until for p in ws.consortium.organisation("RIVER-AID").signing_keys)
    assert _logged(ws, leaving, 1, dt.datetime.now(dt.UTC)) == "retired_certificate"
    assert run_cli("verify", "--dir", str(root), *own_pin(root)).returncode == 0
    again = run_cli("consortium", "retire-member", "--dir", str(root), "--org", "RIVER-AID")
    assert again.returncode != 0
    assert "no signing key in force" in again.stderr

    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    late = sign_proposal(leaving, "submit", [ev.independent(2)], clock=lambda: later)
    ledger = EmbeddedLedger(ws.ledger_url, before, ws.log_signer(), clock=lambda: later)
    try:
        ledger.append_admitted([Verdict(late, Identity("RIVER-AID", "agency"))])  # the lie
        log = EmbeddedLog.of(ledger)
        every = [r.tx_id for r in log.records(log.anchor(None))]
        bundle = build_bundle(log, ws.consortium, kind="events", tx_ids=every)
    finally:
        ledger.close()
    report = verify_bundle(bundle, trusted_consortium=ws.consortium)
    assert {(f.code, f.position) for f in report.failures} == {("retired_certificate", 1)}
    verified = run_cli("verify", "--dir", str(root), *own_pin(root))
    assert verified.returncode == 1
    assert "position 1" in verified.stderr


def test_retiring_a_member_whose_keys_are_unlisted_is_refused_changing_nothing(
    root: Path,
) -> None:
    """A file from before keys were listed takes any certificate the member's CA issued:
    no period to close, so no retirement it could enforce. Refused, not pretended."""
    ws = Workspace.load(root)
    org = ws.consortium.organisation("RIVER-AID")
    members = {**ws.consortium.organisations, org.org_id: replace(org, signing_keys=())}
    replace(ws.consortium, organisations=members).save(ws.consortium_file)
    before = digests(root)
    line = clean_failure(
        run_cli("consortium", "retire-member", "--dir", str(root), "--org", "RIVER-AID")
    )
    assert "lists no signing keys of RIVER-AID" in line
    assert digests(root) == before


@pytest.mark.parametrize("edit", ["overlapping", "ending before it begins"])
def test_a_hand_edited_key_list_out_of_order_is_refused(root: Path, edit: str) -> None:
    """Key periods moved by hand (the old key's end pushed past the new key's start, or
    a key's end set before its start) would make what a key signed valid or not by the
    file's slip: no verifier, and no running ledger, reads such a file."""
    now = dt.datetime.now(dt.UTC)
    ws = Workspace.load(root).rotate_key("RIVER-AID", at=now - dt.timedelta(hours=1))
    assert _logged(ws, ws.signer("RIVER-AID"), 0, now) is None
    path = root / "consortium.json"
    data = json.loads(path.read_text())
    (org,) = [o for o in data["organisations"] if o["id"] == "RIVER-AID"]
    old, new = org["signing_keys"]
    if edit == "overlapping":
        old["valid_until"] = now.isoformat().replace("+00:00", "Z")
    else:
        new["valid_until"] = old["valid_until"]
        new["valid_from"] = now.isoformat().replace("+00:00", "Z")
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="RIVER-AID's signing key"):
        Consortium.load(path)
    refused = clean_failure(run_cli("verify", "--dir", str(root), *own_pin(root)))
    assert "RIVER-AID's signing key" in refused


@pytest.mark.parametrize("key", ["ca_certificate", "handover_key"])
def test_a_key_listed_for_two_members_is_refused(root: Path, key: str) -> None:
    """One CA key for two members would issue certificates that each of them, by the
    name in the certificate, is taken to have signed (in a file listing no keys, or for
    the log node's TLS callers); one hand-over key would open packages sealed to either:
    no verifier, gateway or ledger reads such a file."""
    path = root / "consortium.json"
    data = json.loads(path.read_text())
    first, second = [o for o in data["organisations"] if o.get("handover_key")][:2]
    second[key] = first[key]
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="same public key"):
        Consortium.load(path)
