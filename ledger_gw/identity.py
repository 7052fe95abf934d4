"""Organisations, their X.509 identities and ECDSA P-256 signatures, as Fabric uses them.

An organisation has a CA certificate (listed in the consortium file) which issues
its members' certificates: subject O = organisation ID, OU = role. A transaction
carries the signer's certificate; it is accepted only if the certificate chains to
its organisation's CA and the role in it is the one the consortium gave that
organisation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from chaincode.stub import ROLES, Identity, Role
from ledger_gw.errors import AuthenticationError, ConfigError
from ledger_gw.files import read_secret

# Order of the P-256 group: signatures are normalised to S <= N/2 as Fabric requires.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_HALF_ORDER = P256_ORDER // 2
_CERT_YEARS = 10
_Ext = TypeVar("_Ext", bound=x509.ExtensionType)


def sign_low_s(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """DER ECDSA-SHA256 signature with S in the lower half, as Fabric's peers insist."""
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    if s > _HALF_ORDER:
        s = P256_ORDER - s
    return encode_dss_signature(r, s)


def verify_low_s(public_key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> None:
    """Raise AuthenticationError unless `signature` is a valid low-S ECDSA-SHA256 signature."""
    try:
        _, s = decode_dss_signature(signature)
    except ValueError as exc:
        raise AuthenticationError("signature is not DER-encoded", code="bad_signature") from exc
    if s > _HALF_ORDER:
        raise AuthenticationError("signature is not in low-S form", code="bad_signature")
    try:
        public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise AuthenticationError("signature does not verify", code="bad_signature") from exc


def load_certificate(pem: str | bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
    except ValueError as exc:
        raise AuthenticationError("malformed certificate", code="bad_certificate") from exc


_ONE_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\r?\n?"
)


def load_one_certificate(pem: bytes) -> x509.Certificate:
    """The certificate of bytes that are one PEM certificate and nothing else (a Fabric
    identity's): Fabric reads the first PEM block whatever its label, this library the
    first labelled CERTIFICATE, so a block before it would have each read another.
    ValueError for anything else, a certificate malformed within included: its subject
    and extensions are read here, where cryptography would parse them when first read
    (by the caller, which would not take the error for the certificate's)."""
    if not _ONE_PEM_CERTIFICATE.fullmatch(pem):
        raise ValueError("not one PEM certificate")
    try:
        cert = x509.load_pem_x509_certificate(pem)
        _ = cert.subject, cert.extensions
    except (x509.InvalidVersion, x509.DuplicateExtension) as exc:  # not ValueErrors
        raise ValueError(f"a malformed certificate: {exc}") from exc
    return cert


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_signing_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(read_secret(path, "signing key"), None)
    except ValueError as exc:
        raise ConfigError(f"cannot read signing key {path}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ConfigError(f"{path} is not an ECDSA P-256 private key")
    return key


def _name(org_id: str, common_name: str, role: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org_id)]
    if role is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def issue_ca(org_id: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA for one organisation (the demo's stand-in for Fabric CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(org_id, f"ca.{org_id.lower()}")
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365 * _CERT_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_member(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    org_id: str,
    role: Role,
    common_name: str,
    *,
    tls_client: bool = False,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A signing identity of an organisation: O = org ID, OU = role; or, ``tls_client``,
    its gateway's TLS client identity, marked for that use alone (TLS client
    authentication), which signs no transaction.

    Valid within its CA's validity: Fabric's MSP checks the chain at the certificate's
    own NotBefore, so a certificate may not start before its CA does.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(org_id, common_name, role))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(max(now - dt.timedelta(days=1), ca_cert.not_valid_before_utc))
        .not_valid_after(
            min(now + dt.timedelta(days=365 * _CERT_YEARS), ca_cert.not_valid_after_utc)
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
    )
    if tls_client:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    return key, cert


def _extension(cert: x509.Certificate, kind: type[_Ext]) -> _Ext | None:
    """The certificate's extension of ``kind``, None when it has none."""
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    except (ValueError, x509.DuplicateExtension):  # parsed when first read
        raise AuthenticationError(
            "certificate extensions are malformed", code="bad_certificate"
        ) from None


def _tls_client(cert: x509.Certificate) -> bool:
    """Whether the certificate is marked for TLS client authentication."""
    usage = _extension(cert, x509.ExtendedKeyUsage)
    return usage is not None and ExtendedKeyUsageOID.CLIENT_AUTH in usage


def _signs(cert: x509.Certificate) -> bool:
    """Whether the certificate may sign transactions: it is no CA's (Fabric's MSP takes
    none as an identity) and its key usage, when it states one, includes signatures."""
    constraints = _extension(cert, x509.BasicConstraints)
    usage = _extension(cert, x509.KeyUsage)
    return not (constraints and constraints.ca) and (usage is None or usage.digital_signature)


def _single(cert: x509.Certificate, oid: x509.ObjectIdentifier, what: str) -> str:
    try:  # the subject is parsed when first read, not when the certificate is loaded
        values = cert.subject.get_attributes_for_oid(oid)
    except ValueError:
        raise AuthenticationError(
            "certificate subject is malformed", code="bad_certificate"
        ) from None
    if len(values) != 1:
        raise AuthenticationError(
            f"certificate must name exactly one {what}", code="bad_certificate"
        )
    return str(values[0].value)


@dataclass(frozen=True)
class Profile:
    """How a member is named to people and in IATI exports: its display name, its IATI
    organisation identifier (``iati_ref``, e.g. ``XM-DAC-41121``) and IATI
    OrganisationType code (``iati_type``, e.g. ``21`` for an international NGO)."""

    display_name: str
    iati_ref: str | None = None
    iati_type: str | None = None


@dataclass(frozen=True)
class KeyPeriod:
    """One signing certificate of a member and when the members accepted it: from
    ``valid_from`` until ``valid_until`` (open while it is the current key). A rotated
    key keeps its period, so what it signed before still verifies, and nothing after."""

    fingerprint: str  # SHA-256 of the certificate's DER, hex
    valid_from: dt.datetime
    valid_until: dt.datetime | None = None

    def covers(self, at: dt.datetime) -> bool:
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)


@dataclass(frozen=True)
class Organisation:
    """A consortium member as listed in the consortium file."""

    org_id: str
    role: Role
    ca_cert: x509.Certificate
    # The member's witness, when it runs one: its cosignature (0x04) note verifier key
    # and the base URL of its C2SP tlog-witness endpoint.
    witness_vkey: str | None = None
    witness_url: str | None = None
    profile: Profile | None = None
    # Its signing certificates, oldest first; empty in files written before keys were
    # listed, where any certificate its CA issued is accepted.
    signing_keys: tuple[KeyPeriod, ...] = ()
    # Its referral hand-over key (X25519, base64): what other members seal packages to.
    handover_key: str | None = None

    def key_periods(self, cert: x509.Certificate) -> tuple[KeyPeriod, ...] | None:
        """When the members accepted ``cert`` as this member's signing key; None when the
        file lists no keys. A certificate its CA issued but the members never listed is
        refused: holding the CA key is not enough to sign for the member."""
        if not self.signing_keys:
            return None
        mine = certificate_fingerprint(cert)
        periods = tuple(p for p in self.signing_keys if p.fingerprint == mine)
        if not periods:
            raise AuthenticationError(
                f"certificate is not one of {self.org_id}'s listed signing keys",
                code="unlisted_certificate",
            )
        return periods


_NO_GRACE = dt.timedelta(0)
#: How long after its rotation a rotated-out key's signature may be dated: a ledger takes
#: a transaction's time up to ten minutes ahead of its clock, so one it took just before
#: a rotation may state a time that much after it. A ledger and its full verify take
#: such an entry only before the member's next key first signs (they see the log's
#: order); a check of entries one by one (a bundle, a node's answer) takes it as the
#: ledger took it.
ROTATION_SLACK = dt.timedelta(minutes=10)


def check_key_period(
    org_id: str,
    periods: tuple[KeyPeriod, ...] | None,
    at: dt.datetime,
    *,
    grace: dt.timedelta = _NO_GRACE,
) -> None:
    """Refuse a signature made when the certificate was not (or no longer) the key; with
    ``grace``, one stated at most that long after a period closed passes (its ledger
    holds it to the log's order: see Authenticator.successors)."""
    if periods is not None and not any(_within(p, at, grace) for p in periods):
        raise AuthenticationError(
            f"{org_id}'s certificate was not its signing key at {at:%Y-%m-%dT%H:%M:%SZ}",
            code="retired_certificate",
        )


def _within(period: KeyPeriod, at: dt.datetime, grace: dt.timedelta) -> bool:
    if period.covers(at):
        return True
    end = period.valid_until
    return end is not None and grace > _NO_GRACE and end <= at <= end + grace


@dataclass(frozen=True)
class _Known:
    identity: Identity
    public_key: ec.EllipticCurvePublicKey
    not_before: dt.datetime
    not_after: dt.datetime
    periods: tuple[KeyPeriod, ...] | None  # None: the organisation lists no keys


#: Certificates an Authenticator keeps checked: far more than a consortium's members use.
_MAX_KNOWN = 4096


@dataclass
class Authenticator:
    """Turns (certificate, signature, payload) into a contract Identity, or refuses.

    Certificate chains are checked once per certificate and cached; validity is
    judged at the transaction's own time, so that replaying an old log does not
    fail once a certificate has expired; each signature is checked.
    """

    organisations: dict[str, Organisation]
    _known: dict[str, _Known] = field(default_factory=dict)

    def _check_certificate(self, pem: str, *, signing: bool = True) -> _Known:
        cert = load_certificate(pem)
        if cert_pem(cert) != pem:
            # The log stores one PEM per certificate (by fingerprint) and signatures cover
            # the PEM text: another wrapping of the same certificate would verify now and
            # not once its entry is read back with the stored one.
            raise AuthenticationError(
                "certificate is not in canonical PEM form", code="bad_certificate"
            )
        org_id = _single(cert, NameOID.ORGANIZATION_NAME, "organisation (O)")
        role = _single(cert, NameOID.ORGANIZATIONAL_UNIT_NAME, "role (OU)")
        org = self.organisations.get(org_id)
        if org is None:
            raise AuthenticationError(
                f"organisation {org_id} is not a consortium member", code="unknown_organisation"
            )
        if role not in ROLES or role != org.role:
            raise AuthenticationError(
                f"certificate role {role!r} is not {org_id}'s role {org.role!r}", code="wrong_role"
            )
        try:
            cert.verify_directly_issued_by(org.ca_cert)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise AuthenticationError(
                f"certificate is not issued by {org_id}'s CA", code="untrusted_certificate"
            ) from exc
        if _tls_client(cert) != (not signing):
            # A signing key and a TLS key are kept apart: a signing certificate the
            # organisation rotated out (its key lost, say) opens no connection to the log
            # node, and a key made for TLS signs no event, listed or not.
            raise AuthenticationError(
                "a TLS client certificate signs no transaction"
                if signing
                else "not a TLS client certificate: issue one with `ledger-gw log client-cert`",
                code="wrong_certificate_use",
            )
        if signing and not _signs(cert):
            raise AuthenticationError(
                "a CA's certificate, or one whose key usage excludes signatures, signs no "
                "transaction",
                code="wrong_certificate_use",
            )
        public_key = cert.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise AuthenticationError("certificate key is not ECDSA", code="bad_certificate")
        periods = org.key_periods(cert) if signing else None
        return _Known(
            Identity(org_id, role),
            public_key,
            cert.not_valid_before_utc,
            cert.not_valid_after_utc,
            periods,
        )

    def authenticate(
        self,
        pem: str,
        signature: bytes,
        payload: bytes,
        at: dt.datetime,
        *,
        signed_at: dt.datetime | None = None,
        grace: dt.timedelta = _NO_GRACE,
    ) -> Identity:
        """Whom a valid signature stated at ``at`` is from; with ``signed_at``, the signing
        key's period is judged then, its certificate's validity still at ``at`` (as
        :meth:`identify`); ``grace``: see check_key_period."""
        known = self._certificate(pem, at, signed_at, grace=grace)
        verify_low_s(known.public_key, signature, payload)
        return known.identity

    def identify(
        self,
        pem: str,
        at: dt.datetime,
        *,
        signed_at: dt.datetime | None = None,
        grace: dt.timedelta = _NO_GRACE,
    ) -> Identity:
        """The certificate's identity at `at`, for a signature its caller knows is valid;
        with ``signed_at``, the signing key's period is judged then, its certificate's
        validity still at ``at``."""
        known = self._certificate(pem, at, signed_at, grace=grace)
        return known.identity

    def successors(self, pem: str, at: dt.datetime) -> frozenset[str]:
        """For a signature stated at ``at`` after its key was rotated out (within a
        grace): the fingerprints of the keys its member listed from that rotation on.
        The first entry one of them signs marks the rotation in the log; the old key's
        late entries are taken only before it. Empty when a period covers ``at``."""
        known = self._lookup(pem)
        periods = known.periods or ()
        ends = [p.valid_until for p in periods if p.valid_until is not None and p.valid_until <= at]
        if not ends or any(p.covers(at) for p in periods):
            return frozenset()
        rotated, mine = max(ends), {p.fingerprint for p in periods}
        listed = self.organisations[known.identity.org_id].signing_keys
        return frozenset(
            p.fingerprint for p in listed if p.valid_from >= rotated and p.fingerprint not in mine
        )

    def not_retired(self, pem: str, at: dt.datetime) -> None:
        """Refuse a signing certificate rotated out by ``at`` (a ledger's present), whatever
        time its signature states: that time may lie up to the allowed clock skew before
        ``at``, and so before the rotation."""
        known = self._lookup(pem)
        periods = known.periods or ()
        if periods and all(p.valid_until is not None and p.valid_until <= at for p in periods):
            raise AuthenticationError(
                f"{known.identity.org_id}'s certificate is no longer its signing key",
                code="retired_certificate",
            )

    def rotated_out(self, pem: str) -> bool:
        """Whether the certificate is a signing key the member has rotated out since
        (every period it was the key has closed)."""
        periods = self._lookup(pem).periods or ()
        return bool(periods) and all(p.valid_until is not None for p in periods)

    def transport_peer(self, pem: str, at: dt.datetime) -> Identity:
        """The member a TLS client certificate names: issued by its CA for its role and
        valid at ``at``. It signs no transaction, so the listed signing keys do not apply."""
        known = self._check_certificate(pem, signing=False)
        if not known.not_before <= at <= known.not_after:
            raise AuthenticationError(
                "certificate is outside its validity period", code="expired_certificate"
            )
        return known.identity

    def _lookup(self, pem: str) -> _Known:
        known = self._known.get(pem)
        if known is None:
            if len(self._known) >= _MAX_KNOWN:  # the oldest out: a member holding its
                del self._known[next(iter(self._known))]  # CA key may mint any number
            known = self._known[pem] = self._check_certificate(pem)
        return known

    def _certificate(
        self,
        pem: str,
        at: dt.datetime,
        signed_at: dt.datetime | None = None,
        *,
        grace: dt.timedelta = _NO_GRACE,
    ) -> _Known:
        known = self._lookup(pem)
        if not known.not_before <= at <= known.not_after:
            raise AuthenticationError(
                "certificate is outside its validity period", code="expired_certificate"
            )
        check_key_period(known.identity.org_id, known.periods, signed_at or at, grace=grace)
        return known


@dataclass(frozen=True)
class Signer:
    """An organisation member's signing identity (private key and certificate)."""

    key: ec.EllipticCurvePrivateKey
    cert_pem: str

    def sign(self, payload: bytes) -> bytes:
        return sign_low_s(self.key, payload)

    @property
    def org_id(self) -> str:
        return _single(load_certificate(self.cert_pem), NameOID.ORGANIZATION_NAME, "O")

    @classmethod
    def load(cls, key_path: Path, cert_path: Path) -> Signer:
        try:
            pem = cert_path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read certificate {cert_path}: {exc}") from exc
        return cls(load_signing_key(key_path), cert_pem(load_certificate(pem)))


def fingerprint(pem: str) -> str:
    return certificate_fingerprint(load_certificate(pem))


def certificate_fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
