"""The gateway's configuration: one dataclass, read from the environment once at start-up."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ledger_gw.errors import ConfigError

BACKENDS = ("embedded", "fabric")


def _flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{value!r} is not a boolean")


@dataclass(frozen=True)
class GatewayConfig:
    """Everything a gateway process needs to know; secrets are read from files, not stored here.

    Environment variables (all optional):

    - ``LEDGER_GW_DIR`` → `directory`: the consortium directory made by ``ledger-gw init``
      (consortium.json, the organisations' signing and witness keys, the pseudonymisation
      key, the ledger node's log key). Default ``var/demo``.
    - ``LEDGER_GW_BACKEND`` → `backend`: ``embedded`` (default) or ``fabric``.
    - ``LEDGER_GW_LEDGER_URL`` → `ledger_url`: SQLAlchemy URL of the embedded ledger.
      Default: ``ledger.db`` in `directory`.
    - ``LEDGER_GW_FABRIC_PROFILE`` → `fabric_profile`: the Fabric connection profile
      (peers' gateway endpoints, TLS roots, channel, chaincode) that
      ``network/network.sh up`` writes; `directory` is then the network's workspace.
    - ``LEDGER_GW_OFFCHAIN_URL`` → `offchain_url`: URL template of the off-chain databases,
      one per organisation: ``{org}`` is replaced by the organisation ID, ``{org_slug}`` by
      it in lower case with underscores (for PostgreSQL database names). Default
      ``sqlite:///<directory>/offchain-{org}.db``.
    - ``LEDGER_GW_ORGS`` → `orgs`: comma-separated organisations this gateway serves and
      signs for; their keys must be in `directory`. Production: exactly one. Default: every
      member of the consortium (the demo gateway).
    - ``LEDGER_GW_PSEUDONYM_KEY_FILE`` → `pseudonym_key_file`: the consortium's
      pseudonymisation key (``VERSION:BASE64``). Default ``<directory>/pseudonym.key``.
    - ``LEDGER_GW_APPENDER`` → `appender`: Unix socket of the embedded ledger's appending
      process (ledger_gw.embedded.appender), whose key is in ``LEDGER_GW_APPENDER_KEY``.
      gunicorn's master starts one and sets both for its workers; unset, a process
      appends itself.
    - ``LEDGER_GW_MIGRATE`` → `migrate`: apply off-chain migrations when the app starts
      (default true; gunicorn's master migrates once and turns it off for its workers).
    - ``LEDGER_GW_MAX_BATCH`` → `max_batch`: most events in one batch request (default 1000).
    - ``LEDGER_GW_SESSION_KEY_FILE`` → `session_key_file`: the secret that signs the
      dashboard's session cookies; every worker must read the same one. Default
      ``<directory>/session.key`` (``serve --demo`` creates it); when absent, each process
      makes a random one and dashboard logins last only as long as that process.
    - ``LEDGER_GW_COOKIE_SECURE`` → `cookie_secure`: send the session cookie over HTTPS
      only (default true; browsers also accept it from http://127.0.0.1 and localhost).
    - ``PROMETHEUS_MULTIPROC_DIR``: read by prometheus-client itself; set it (an empty
      directory) when running several workers so that /metrics adds them up.
    """

    directory: Path = Path("var/demo")
    backend: str = "embedded"
    ledger_url: str | None = None
    fabric_profile: Path | None = None
    appender: Path | None = None
    offchain_url: str | None = None
    orgs: tuple[str, ...] = ()
    pseudonym_key_file: Path | None = None
    migrate: bool = True
    max_batch: int = 1000
    session_key_file: Path | None = None
    cookie_secure: bool = True
    extra: Mapping[str, str] = field(default_factory=dict)  # Flask settings (tests)

    @property
    def ledger(self) -> str:
        return self.ledger_url or f"sqlite:///{self.directory / 'ledger.db'}"

    @property
    def offchain(self) -> str:
        return self.offchain_url or f"sqlite:///{self.directory}/offchain-{{org}}.db"

    @property
    def pseudonym_key_path(self) -> Path:
        return self.pseudonym_key_file or self.directory / "pseudonym.key"

    @property
    def session_key_path(self) -> Path:
        return self.session_key_file or self.directory / "session.key"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GatewayConfig:
        env = os.environ if environ is None else environ
        orgs = tuple(o.strip() for o in env.get("LEDGER_GW_ORGS", "").split(",") if o.strip())
        try:
            max_batch = int(env.get("LEDGER_GW_MAX_BATCH", "1000"))
        except ValueError:
            raise ConfigError("LEDGER_GW_MAX_BATCH must be an integer") from None
        key_file = env.get("LEDGER_GW_PSEUDONYM_KEY_FILE")
        session_key = env.get("LEDGER_GW_SESSION_KEY_FILE")
        backend = env.get("LEDGER_GW_BACKEND", "embedded")
        if backend not in BACKENDS:
            raise ConfigError(f"LEDGER_GW_BACKEND must be one of {', '.join(BACKENDS)}")
        profile = env.get("LEDGER_GW_FABRIC_PROFILE")
        appender = env.get("LEDGER_GW_APPENDER")
        return cls(
            directory=Path(env.get("LEDGER_GW_DIR", "var/demo")),
            backend=backend,
            ledger_url=env.get("LEDGER_GW_LEDGER_URL") or None,
            fabric_profile=Path(profile) if profile else None,
            appender=Path(appender) if appender else None,
            offchain_url=env.get("LEDGER_GW_OFFCHAIN_URL") or None,
            orgs=orgs,
            pseudonym_key_file=Path(key_file) if key_file else None,
            migrate=_flag(env.get("LEDGER_GW_MIGRATE", "1")),
            max_batch=max_batch,
            session_key_file=Path(session_key) if session_key else None,
            cookie_secure=_flag(env.get("LEDGER_GW_COOKIE_SECURE", "1")),
        )


def create_session_key(path: Path) -> None:
    """Write a random session-signing secret (owner-only) unless one is there already."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
