"""The gateway's configuration: one dataclass, filled in once at start-up (ledger_gw.bootstrap)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

BACKENDS = ("embedded", "fabric", "remote")


@dataclass(frozen=True)
class GatewayConfig:
    """Everything a gateway process needs to know; keys are read from files, not stored
    here, save the appending process's socket key, fresh for each server (kept out of repr).

    ledger_gw.bootstrap reads it from the environment; its docstring lists the variables.
    """

    directory: Path = Path("var/demo")
    backend: str = "embedded"
    ledger_url: str | None = None
    fabric_profile: Path | None = None
    appender: Path | None = None  # socket of the appending process
    appender_key: bytes | None = field(default=None, repr=False)
    offchain_url: str | None = None
    orgs: tuple[str, ...] = ()
    pseudonym_key_file: Path | None = None
    migrate: bool = True
    max_batch: int = 1000
    session_key_file: Path | None = None
    cookie_secure: bool = True
    rate_limit_storage: str = "memory://"
    proxies: int = 0  # reverse proxies in front whose X-Forwarded-For names the client
    log_url: str | None = None  # the log node's base URL (backend "remote")
    log_certificate: Path | None = None  # the node's TLS certificate, pinned
    sync_interval_s: float = 5.0  # outbox sync and receipts check, in the background
    receipt_deadline_s: float = 600.0  # an acknowledged append uncovered by then: a failure
    peers: Mapping[str, str] = field(default_factory=dict)  # org ID -> its gateway's URL
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


def create_session_key(path: Path) -> None:
    """Write a random session-signing secret (owner-only) unless one is there already."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
