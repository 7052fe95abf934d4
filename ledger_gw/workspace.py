"""A directory holding a consortium's files: what `ledger-gw init` creates.

    consortium.json             the consortium file: its name, the log's origin and
                                key, each member's ID, role, names, CA certificate and
                                signing keys with when each was valid, the witnesses
                                (a member's cosignature key and URL) and the witness
                                quorum a trusted checkpoint needs
    ledger.db                   the embedded ledger (default URL)
    node/log.key                the ledger node's checkpoint-signing key
    node/no-ledger-yet          there until the key's ledger is made, when first opened
                                (without it, a missing ledger is a lost one)
    orgs/<ORG>/ca.pem, ca.key   the organisation's CA (the demo's Fabric CA)
    orgs/<ORG>/handover.key     its referral hand-over key (X25519); the consortium
                                file publishes the public half
    orgs/<ORG>/signer.pem, .key its signing identity (the current one: `ledger-gw key
                                rotate` replaces it, keeping the old certificate in
                                orgs/<ORG>/retired/ and no old private key)
    pseudonym.key               the consortium's pseudonymisation key: its current
                                version, after the earlier ones (`ledger-gw
                                pseudonym-key rotate`)
    .consortium.lock            locked while a command changes consortium.json
                                (`member add`, `key rotate`, `consortium add-witness`)

Private keys are written readable by the owner only. In production each
organisation keeps its own directory, and its gateway is given a workspace holding
only consortium.json, pseudonym.key and orgs/<its ORG> (`ledger-gw member add` makes a
new member's directory without touching the others'); the demo keeps all of them in
one place. No
witness key is ever here: a witness keeps its key in its own directory
(`ledger-gw witness init`), and the consortium file lists only its public key and URL
(`ledger-gw consortium add-witness`), so the log's operator cannot cosign for it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from chaincode.stub import Role
from ledger_gw.consortium import Consortium, Definition, changing
from ledger_gw.errors import AuthenticationError, ConfigError
from ledger_gw.files import (
    DIRECTORY,
    PUBLIC,
    SECRET,
    make_dirs,
    read_secret,
    replace_file,
    write_file,
)
from ledger_gw.handover import keys as handover_keys
from ledger_gw.identity import (
    KeyPeriod,
    Organisation,
    Profile,
    Signer,
    cert_pem,
    certificate_fingerprint,
    fingerprint,
    issue_ca,
    issue_member,
    key_pem,
    load_certificate,
    load_signing_key,
)
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.pseudonym import PseudonymKey

HANDOVER_KEY = "handover.key"
#: Beside a log key that has signed nothing yet, until its ledger is made: a key
#: without it whose ledger is missing has lost that ledger, and a new one would be a
#: fork of the history the key signed (bootstrap.prepare_ledger).
NO_LEDGER_YET = Path("node") / "no-ledger-yet"
_NO_LEDGER_YET_TEXT = (
    "node/log.key has signed nothing yet: its ledger is made when it is first opened,\n"
    "and this file removed. Never copy it beside a key that has had a ledger: without\n"
    "it, a missing ledger is refused as lost (ledger_lost), not made again from nothing.\n"
)


def _write_secret(path: Path, data: bytes) -> None:
    write_file(path, data, SECRET)


def _write_public(path: Path, text: str) -> None:
    write_file(path, text.encode(), PUBLIC)


def _new_member(
    d: Path,
    org_id: str,
    role: Role,
    profile: Profile | None,
    ca: tuple[EllipticCurvePrivateKey, x509.Certificate] | None,
    domain: Callable[[str], str],
) -> Organisation:
    """The member's directory ``d``: a CA (unless given one) and a first signing
    identity, listed from the certificate's own start."""
    if ca is None:
        ca_key, ca_cert = issue_ca(org_id)
        _write_secret(d / "ca.key", key_pem(ca_key))
    else:
        ca_key, ca_cert = ca
    key, cert = issue_member(ca_key, ca_cert, org_id, role, f"gateway.{domain(org_id)}")
    _write_secret(d / "signer.key", key_pem(key))
    _write_public(d / "ca.pem", cert_pem(ca_cert))
    _write_public(d / "signer.pem", cert_pem(cert))
    first = KeyPeriod(certificate_fingerprint(cert), cert.not_valid_before_utc)
    handover = handover_keys.generate()
    _write_secret(d / HANDOVER_KEY, handover_keys.private_pem(handover))
    return Organisation(
        org_id,
        role,
        ca_cert,
        profile=profile,
        signing_keys=(first,),
        handover_key=handover_keys.public_text(handover.public_key()),
    )


def _rotation_cut_short(d: Path, org: Organisation) -> bool:
    """Whether a rotation stopped (a crash) after the consortium file listed its new key
    and before that key was in place: the certificate staged is the member's current key."""
    try:
        staged = fingerprint((d / "signer.pem.new").read_text())
    except (OSError, AuthenticationError):  # none staged, or not a certificate
        return False
    return any(p.fingerprint == staged and p.valid_until is None for p in org.signing_keys)


def _member_cut_short(staged: Path, org: Organisation) -> bool:
    """Whether adding ``org`` stopped (a crash) after the consortium file listed it and
    before its directory, made as ``staged``, was put in place."""
    try:
        staged_ca = fingerprint((staged / "ca.pem").read_text())
    except (OSError, AuthenticationError):  # none staged, or not a certificate
        return False
    return staged_ca == certificate_fingerprint(org.ca_cert)


def _claim(root: Path) -> list[Path]:
    """``root`` made (with any missing parents) or found empty, and ``root/node`` made
    there by this call alone, so that no file already there (a key, a ledger, someone's
    own files) is ever overwritten, nor by a second `init` at once; the directories made
    here, deepest first, for undoing a creation that fails."""
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ConfigError(
            f"{root} is not an empty directory: a consortium is made in a new or empty "
            "one, never over files already there",
            code="directory_not_empty",
        )
    made = [p for p in (root, *root.parents) if not p.exists()]
    make_dirs(root)
    try:
        (root / "node").mkdir(mode=DIRECTORY)
    except FileExistsError:
        raise ConfigError(
            f"{root} is not an empty directory: another `ledger-gw init` is making a "
            "consortium there",
            code="directory_not_empty",
        ) from None
    os.chmod(root / "node", DIRECTORY)
    return made


def _unmake(root: Path, made: list[Path]) -> None:
    """What a failed creation made in ``root`` (empty before it) removed, and the
    directories it made: no half a consortium, no empty directory left behind."""
    with suppress(OSError):
        for entry in root.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        for directory in made:
            directory.rmdir()


def _install_staged(d: Path) -> None:
    """The staged key, then its certificate, in place of the signing identity: the
    certificate last, so that until the end its staged copy shows the rotation unfinished."""
    for name in ("signer.key", "signer.pem"):
        staged = d / f"{name}.new"
        if staged.exists():
            replace_file(staged, d / name)


def _note_signer(path: Path) -> ckpt.NoteSigner:
    try:
        return ckpt.parse_signer(read_secret(path, "log key"))
    except ckpt.CheckpointError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


@dataclass(frozen=True)
class Workspace:
    root: Path
    consortium: Consortium

    @property
    def consortium_file(self) -> Path:
        return self.root / "consortium.json"

    @property
    def ledger_url(self) -> str:
        return f"sqlite:///{self.root / 'ledger.db'}"

    def _org_dir(self, org_id: str) -> Path:
        self.consortium.organisation(org_id)
        return self.root / "orgs" / org_id

    def signer(self, org_id: str) -> Signer:
        """The member's signing identity; refused while a rotation is unfinished, whose
        old key the consortium file has retired."""
        d = self._org_dir(org_id)
        if _rotation_cut_short(d, self.consortium.organisation(org_id)):
            raise ConfigError(
                f"{org_id}'s key rotation stopped before its new key was in place: run "
                f"`ledger-gw key rotate --dir {self.root} --org {org_id}` again to finish it"
            )
        return Signer.load(d / "signer.key", d / "signer.pem")

    def handover_key(self, org_id: str) -> X25519PrivateKey:
        """The private half of the organisation's published hand-over key; refused if it
        is another key (a directory restored from elsewhere, a key replaced by hand), which
        opens none of the packages sealed to the published one."""
        path = self._org_dir(org_id) / HANDOVER_KEY
        key = handover_keys.load_private(path)
        if key.public_key() != self.consortium.handover_key(org_id):
            raise ConfigError(
                f"{path} is not the hand-over key consortium {self.consortium.name} "
                f"publishes for {org_id}: put back the one it publishes"
            )
        return key

    def log_signer(self) -> ckpt.NoteSigner:
        return _note_signer(self.root / "node" / "log.key")

    def pseudonym_key(self) -> PseudonymKey:
        return PseudonymKey.load(self.root / "pseudonym.key")

    def rotate_pseudonym_key(self) -> PseudonymKey:
        """The pseudonymisation key's next version, current, the earlier ones kept in the
        file: new IDs derive under it, registrations made under those are still found."""
        key = self.pseudonym_key().rotated()
        _write_secret(self.root / "pseudonym.key", key.to_text().encode())
        return key

    @classmethod
    def load(cls, root: Path) -> Workspace:
        path = root / "consortium.json"
        if not path.exists():
            raise ConfigError(f"{root} holds no consortium: run `ledger-gw init {root}` first")
        return cls(root, Consortium.load(path))

    @classmethod
    def create(
        cls,
        root: Path,
        definition: Definition,
        *,
        cas: Mapping[str, tuple[EllipticCurvePrivateKey, x509.Certificate]] | None = None,
        domain: Callable[[str], str] = str.lower,
    ) -> Workspace:
        """A consortium with every key, from what its members agreed. Each organisation
        gets a CA of its own, kept beside its identity, unless `cas` gives the CAs to
        issue from (on Fabric, the MSPs').

        Only in a new or empty directory: keys made over an earlier consortium's would
        orphan its ledger and its pseudonyms. A creation that fails leaves nothing."""
        made = _claim(root)
        try:
            consortium = cls._made(root, definition, cas, domain)
        except BaseException:
            _unmake(root, made)
            raise
        return cls(root, consortium)

    @staticmethod
    def _made(
        root: Path,
        definition: Definition,
        cas: Mapping[str, tuple[EllipticCurvePrivateKey, x509.Certificate]] | None,
        domain: Callable[[str], str],
    ) -> Consortium:
        origin = f"ledger.local/{definition.name}"
        log_signer, log_vkey = ckpt.generate_signer(origin)
        _write_secret(root / "node" / "log.key", ckpt.dump_signer(log_signer))
        _write_public(root / NO_LEDGER_YET, _NO_LEDGER_YET_TEXT)
        orgs: dict[str, Organisation] = {}
        for org_id, role in definition.members:
            ca = None if cas is None else cas[org_id]
            profile = definition.profiles.get(org_id)
            orgs[org_id] = _new_member(root / "orgs" / org_id, org_id, role, profile, ca, domain)
        for w in definition.witnesses:
            orgs[w.org_id] = replace(orgs[w.org_id], witness_vkey=w.vkey, witness_url=w.url)
        _write_secret(root / "pseudonym.key", PseudonymKey.generate().to_text().encode())
        consortium = Consortium(
            definition.name,
            origin,
            log_vkey,
            orgs,
            definition.programmes,
            definition.witness_quorum,
            definition.locations,
            dict(definition.ceilings),
            definition.endorsement,
        )
        with changing(root / "consortium.json"):  # its lock file there from the start
            consortium.save(root / "consortium.json")
        return consortium

    def add_member(
        self, org_id: str, role: Role, profile: Profile, *, domain: Callable[[str], str] = str.lower
    ) -> Workspace:
        """A new member: its own directory with its CA and signing key, and the
        consortium file listing it; no other member's directory is read or written.

        The directory is made as ``orgs/<ORG>.new`` and renamed into place once the
        consortium file lists the member: a crash before the file changed leaves the
        member unlisted, and running this again starts over; after it, running this
        again puts the directory in place."""
        with changing(self.consortium_file):
            current = Consortium.load(self.consortium_file)
            d = self.root / "orgs" / org_id
            staged = self.root / "orgs" / f"{org_id}.new"
            listed = current.organisations.get(org_id)
            if listed is not None and not d.exists() and _member_cut_short(staged, listed):
                replace_file(staged, d)
                return replace(self, consortium=current)
            current.check_new_member(org_id, role)  # before its ID names a directory
            if d.exists():
                raise ConfigError(
                    f"{d} exists but {org_id} is not a member of consortium "
                    f"{current.name}, so none of its keys is trusted: remove it and run "
                    "this again"
                )
            check = Organisation(org_id, role, issue_ca(org_id)[1], profile=profile)
            current.with_member(check)  # refuses a bad ID, role or profile first
            shutil.rmtree(staged, ignore_errors=True)  # made by an attempt cut short
            org = _new_member(staged, org_id, role, profile, None, domain)
            updated = current.with_member(org)
            updated.save(self.consortium_file)
            replace_file(staged, d)
        return replace(self, consortium=updated)

    def rotate_key(
        self,
        org_id: str,
        *,
        at: dt.datetime | None = None,
        domain: Callable[[str], str] = str.lower,
        ca_key_path: Path | None = None,
    ) -> Workspace:
        """A new signing key and certificate for ``org_id``, issued by its CA (whose key
        is ``ca_key_path``, by default its ``ca.key``; on Fabric, its MSP's CA key in
        its own organisation's directory). The old certificate's period closes now
        (what it signed still verifies, nothing it signs later does); its private key
        is deleted, its certificate kept in ``retired/``. Ledgers opened from this
        directory take the new keys from the file as it changes; gateways signing for
        ``org_id`` must be restarted to sign with the new one.

        Each step is on disk before the next: the old certificate kept, the new key and
        certificate staged (``signer.*.new``), the consortium file listing the new key
        (the old one retired from then on), the staged files put in place. A crash
        before the consortium file changed leaves the old key in force; after it, running
        this again finishes the rotation with the staged key, issuing none."""
        with changing(self.consortium_file):
            current = Consortium.load(self.consortium_file)
            return replace(self, consortium=self._rotated(current, org_id, at, domain, ca_key_path))

    def _rotated(
        self,
        current: Consortium,
        org_id: str,
        at: dt.datetime | None,
        domain: Callable[[str], str],
        ca_key_path: Path | None,
    ) -> Consortium:
        org = current.organisation(org_id)
        d = self.root / "orgs" / org_id
        if _rotation_cut_short(d, org):
            _install_staged(d)
            return current
        ca_key_path = ca_key_path or d / "ca.key"
        if not ca_key_path.exists():
            raise ConfigError(
                f"{ca_key_path} does not exist: {org_id}'s CA (on Fabric, its MSP's) must "
                "issue the new certificate"
            )
        ca_key = load_signing_key(ca_key_path)
        if ca_key.public_key() != org.ca_cert.public_key():
            raise ConfigError(f"{ca_key_path} is not the key of {org_id}'s CA")
        key, cert = issue_member(ca_key, org.ca_cert, org_id, org.role, f"gateway.{domain(org_id)}")
        moment = at or dt.datetime.now(dt.UTC)
        old = load_certificate((d / "signer.pem").read_text())
        if not org.signing_keys:
            # A file from before keys were listed took any certificate the CA issued:
            # listing the new key alone would unlist the one whose entries are logged.
            since = KeyPeriod(certificate_fingerprint(old), old.not_valid_before_utc)
            members = {**current.organisations, org_id: replace(org, signing_keys=(since,))}
            current = replace(current, organisations=members)
        updated = current.with_rotated_key(org_id, cert_pem(cert), moment)
        retired = d / "retired" / f"{certificate_fingerprint(old)[:16]}.pem"
        _write_public(retired, cert_pem(old))
        _write_secret(d / "signer.key.new", key_pem(key))
        _write_public(d / "signer.pem.new", cert_pem(cert))
        updated.save(self.consortium_file)
        _install_staged(d)
        return updated
