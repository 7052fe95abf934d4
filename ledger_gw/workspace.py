"""A directory holding a consortium's files: what `ledger-gw init` creates.

    consortium.json             the consortium file: its name, the log's origin and
                                key, each member's ID, role and CA certificate, the
                                witnesses (a member's cosignature key and URL) and
                                the witness quorum a trusted checkpoint needs
    ledger.db                   the embedded ledger (default URL)
    node/log.key                the ledger node's checkpoint-signing key
    orgs/<ORG>/ca.pem, ca.key   the organisation's CA (the demo's Fabric CA)
    orgs/<ORG>/signer.pem, .key its signing identity
    pseudonym.key               the consortium's pseudonymisation key

Private keys are written readable by the owner only. In production each
organisation keeps its own directory; the demo keeps all of them in one place. No
witness key is ever here: a witness keeps its key in its own directory
(`ledger-gw witness init`), and the consortium file lists only its public key and URL
(`ledger-gw consortium add-witness`), so the log's operator cannot cosign for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

from ledger_gw.consortium import Consortium, Definition
from ledger_gw.errors import ConfigError
from ledger_gw.identity import Organisation, Signer, cert_pem, issue_ca, issue_member, key_pem
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.pseudonym import PseudonymKey


def _write_secret(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _note_signer(path: Path) -> ckpt.NoteSigner:
    try:
        return ckpt.parse_signer(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc}") from exc
    except ckpt.CheckpointError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


@dataclass(frozen=True)
class Workspace:
    root: Path
    consortium: Consortium

    @property
    def ledger_url(self) -> str:
        return f"sqlite:///{self.root / 'ledger.db'}"

    def _org_dir(self, org_id: str) -> Path:
        self.consortium.organisation(org_id)
        return self.root / "orgs" / org_id

    def signer(self, org_id: str) -> Signer:
        d = self._org_dir(org_id)
        return Signer.load(d / "signer.key", d / "signer.pem")

    def log_signer(self) -> ckpt.NoteSigner:
        return _note_signer(self.root / "node" / "log.key")

    def pseudonym_key(self) -> PseudonymKey:
        return PseudonymKey.load(self.root / "pseudonym.key")

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
        issue from (on Fabric, the MSPs')."""
        if (root / "consortium.json").exists():
            raise ConfigError(f"{root} already holds a consortium")
        root.mkdir(parents=True, exist_ok=True)
        origin = f"ledger.local/{definition.name}"
        log_signer, log_vkey = ckpt.generate_signer(origin)
        _write_secret(root / "node" / "log.key", ckpt.dump_signer(log_signer))
        orgs: dict[str, Organisation] = {}
        for org_id, role in definition.members:
            d = root / "orgs" / org_id
            if cas is None:
                ca_key, ca_cert = issue_ca(org_id)
                _write_secret(d / "ca.key", key_pem(ca_key))
            else:
                ca_key, ca_cert = cas[org_id]
            key, cert = issue_member(ca_key, ca_cert, org_id, role, f"gateway.{domain(org_id)}")
            _write_secret(d / "signer.key", key_pem(key))
            (d / "ca.pem").write_text(cert_pem(ca_cert))
            (d / "signer.pem").write_text(cert_pem(cert))
            orgs[org_id] = Organisation(org_id, role, ca_cert)
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
        )
        consortium.save(root / "consortium.json")
        return cls(root, consortium)
