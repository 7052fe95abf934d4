"""Start-up: the one place that reads the environment and opens a ledger backend.

Everything else receives what is opened here: the gateway its signers and a way to open
its ledger (each gunicorn worker opens its own, after the fork), the appending process
its settings as arguments, the command line its ledger or log reader.

Environment variables (all optional), read by `config_from_env`:

- ``LEDGER_GW_DIR`` → `directory`: the consortium directory made by ``ledger-gw init``
  (consortium.json, the organisations' signing keys, the pseudonymisation key, the
  ledger node's log key). The consortium file's witnesses are where the embedded
  ledger's appending process pushes its checkpoints. Default ``var/demo``.
- ``LEDGER_GW_BACKEND`` → `backend`: ``embedded`` (default), ``fabric`` or ``remote``.
- ``LEDGER_GW_LOG_URL`` → `log_url`: the log node's HTTPS base URL, for the ``remote``
  backend (an agency's gateway on its own machine, `ledger-gw serve --log-url`); it
  presents ``orgs/<ORG>/tls-client.pem`` (`ledger-gw log client-cert`) and trusts only
  the node certificate in ``LEDGER_GW_LOG_CERT`` → `log_certificate` (default
  ``<directory>/node/tls.pem``). It signs for exactly one organisation. Every
  ``LEDGER_GW_SYNC_INTERVAL`` → `sync_interval_s` seconds (default 5) it hands its
  outbox to the node and checks the node's receipts; an acknowledged append that no
  quorum-cosigned checkpoint covers after ``LEDGER_GW_RECEIPT_DEADLINE`` →
  `receipt_deadline_s` seconds (default 600) fails the gateway's readiness until one
  does.
- ``LEDGER_GW_LEDGER_URL`` → `ledger_url`: SQLAlchemy URL of the embedded ledger.
  Default: ``ledger.db`` in `directory`.
- ``LEDGER_GW_FABRIC_PROFILE`` → `fabric_profile`: the Fabric connection profile
  (peers' gateway endpoints, TLS roots, channel, chaincode) that
  ``network/network.sh up`` writes; `directory` is then the network's workspace.
- ``LEDGER_GW_OFFCHAIN_URL`` → `offchain_url`: URL template of the off-chain databases,
  one per organisation: ``{org}`` is replaced by the organisation ID, ``{org_slug}`` by
  it in lower case with underscores (for PostgreSQL database names). Default
  ``sqlite:///<directory>/offchain-{org}.db``. The gateway's first start makes each
  (and, on a log node, each organisation's receipts and outbox) and records it in
  ``<directory>/stores-made/``; afterwards one that is missing refuses the start.
- ``LEDGER_GW_ORGS`` → `orgs`: comma-separated organisations this gateway serves and
  signs for; their keys must be in `directory`. Production: exactly one. Default: every
  member of the consortium (the demo gateway).
- ``LEDGER_GW_PSEUDONYM_KEY_FILE`` → `pseudonym_key_file`: the consortium's
  pseudonymisation key (``VERSION:BASE64`` a line, the earlier versions first, the
  current last), its owner's only (mode 0600). Default ``<directory>/pseudonym.key``.
  A start that migrates refuses a copy older than a store's registrations
  (``pseudonym_key_rolled_back``).
- ``LEDGER_GW_APPENDER`` → `appender`: Unix socket of an embedded ledger's appending
  process (ledger_gw.embedded.appender) already running, whose key is in
  ``LEDGER_GW_APPENDER_KEY`` (hex). Unset, ``ledger-gw serve`` starts one for its workers,
  and any other process appends itself.
- ``LEDGER_GW_MIGRATE`` → `migrate`: apply off-chain migrations when the app starts
  (default true; ``ledger-gw serve`` migrates once and turns it off for its workers).
  Either way, each start deletes again whom the erasure journal (``erased/<ORG>``)
  names, should a backup restored from before her erasure hold her.
- ``LEDGER_GW_MAX_BATCH`` → `max_batch`: most events in one batch request (default 1000).
- ``LEDGER_GW_SESSION_KEY_FILE`` → `session_key_file`: the secret that signs the
  dashboard's session cookies; every worker must read the same one. Default
  ``<directory>/session.key`` (``serve --demo`` creates it); when absent, each process
  makes a random one and dashboard logins last only as long as that process.
- ``LEDGER_GW_COOKIE_SECURE`` → `cookie_secure`: send the session cookie over HTTPS
  only (default true; browsers also accept it from http://127.0.0.1 and localhost).
- ``LEDGER_GW_RATE_LIMIT_STORAGE`` → `rate_limit_storage`: where rate-limit counts live
  (a `limits` storage URI). The default ``memory://`` counts in each worker alone, so
  with N workers a client gets up to N times the limit; in production use a store all
  workers share, e.g. ``redis://host:6379``.
- ``LEDGER_GW_PROXIES`` → `proxies`: how many reverse proxies stand in front of the
  gateway, each adding the address it was reached from to ``X-Forwarded-For`` (default
  0). The rate limits count per client address: behind nginx every client otherwise
  has nginx's, and one client refused often enough would shut everyone out. Set it to
  exactly the number of proxies: the addresses a client writes itself stand before
  theirs and are not read, and with 0 the header is not read at all.
- ``LEDGER_GW_PEERS`` → `peers`: the other members' gateways this one fetches referral
  hand-overs from, ``ORG=URL`` separated by commas (e.g.
  ``AGENCY-A=https://gw.agency-a.example``).

and by `serving_from_env`: ``LEDGER_GW_BIND`` (default 127.0.0.1:8080),
``LEDGER_GW_WORKERS`` (two per core, at most 8), ``LEDGER_GW_THREADS`` (8 threads per
worker: the ledger group-commits concurrent requests); each count 1 or more.

``PROMETHEUS_MULTIPROC_DIR`` is read by prometheus-client itself: set it (an empty
directory) when running several workers so that /metrics adds them up.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from sqlalchemy import exc as sql_errors

from ledger_gw.consortium import Consortium
from ledger_gw.database_urls import database_url
from ledger_gw.embedded.appender import AppenderProcess, RemoteAppender
from ledger_gw.embedded.database import (
    LedgerLostError,
    ledger_missing,
    make_engine,
    reading_engine,
)
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.reader import LogReader
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.embedded.verify import Progress, VerifyReport, require_witnessed, verify_ledger
from ledger_gw.embedded.witnessing import endpoints as witness_endpoints
from ledger_gw.errors import ConfigError, ForbiddenError, UnavailableError
from ledger_gw.gateway_stores import (
    REMOTE_FILES,
    offchain_stores,
    refuse_lost,
    remote_files,
)
from ledger_gw.identity import Organisation, Signer
from ledger_gw.interfaces import Ledger, VerifiableLog
from ledger_gw.machine import usable_cores
from ledger_gw.node.revoked import RevokedClients
from ledger_gw.node.service import LogNode
from ledger_gw.offchain.store import OffchainStore
from ledger_gw.pseudonym import PseudonymKey
from ledger_gw.remote import tls
from ledger_gw.remote.claims import ClaimIndex
from ledger_gw.remote.client import NodeClient
from ledger_gw.remote.ledger import RemoteLedger, RemoteLog
from ledger_gw.remote.outbox import Outbox
from ledger_gw.remote.receipts import Receipts
from ledger_gw.services import registrations
from ledger_gw.services.config import BACKENDS, GatewayConfig
from ledger_gw.services.gateway import Gateway, KeysInForce, file_keys
from ledger_gw.witness.store import witnessed_in
from ledger_gw.workspace import NO_LEDGER_YET, Workspace

__all__ = ["BACKENDS", "LedgerLostError"]

_log = logging.getLogger(__name__)

MAX_PORT = 65535  # ports run from 0 (the system picks a free one) to this
DEFAULT_PROFILE = Path(__file__).resolve().parent.parent / "network" / ".state" / "profile.json"


# -- the environment -------------------------------------------------------------------


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _flag(name: str, value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name}: {value!r} is not a boolean")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(env.get(name, str(default)))
    except ValueError:
        raise ConfigError(f"{name} must be an integer") from None


def _count(env: Mapping[str, str], name: str) -> int:
    count = _int(env, name, 0)
    if count < 0:
        raise ConfigError(f"{name} must be 0 or more")
    return count


def _at_least_one(env: Mapping[str, str], name: str, default: int) -> int:
    count = _int(env, name, default)
    if count < 1:
        raise ConfigError(f"{name} must be 1 or more")
    return count


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not value > 0:
        raise ConfigError(f"{name} must be more than 0 seconds")
    return value


def _path(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name)
    return Path(value) if value else None


def config_from_env(environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """The gateway's configuration from the variables listed above."""
    env = _env(environ)
    backend = env.get("LEDGER_GW_BACKEND", "embedded")
    if backend not in BACKENDS:
        raise ConfigError(f"LEDGER_GW_BACKEND must be one of {', '.join(BACKENDS)}")
    appender = _path(env, "LEDGER_GW_APPENDER")
    appender_key = None
    if appender is not None:
        try:
            appender_key = bytes.fromhex(env["LEDGER_GW_APPENDER_KEY"])
        except (KeyError, ValueError):
            raise ConfigError("LEDGER_GW_APPENDER_KEY must hold the key in hex") from None
    return GatewayConfig(
        directory=Path(env.get("LEDGER_GW_DIR", "var/demo")),
        backend=backend,
        ledger_url=env.get("LEDGER_GW_LEDGER_URL") or None,
        fabric_profile=_path(env, "LEDGER_GW_FABRIC_PROFILE"),
        appender=appender,
        appender_key=appender_key,
        offchain_url=env.get("LEDGER_GW_OFFCHAIN_URL") or None,
        orgs=tuple(o.strip() for o in env.get("LEDGER_GW_ORGS", "").split(",") if o.strip()),
        pseudonym_key_file=_path(env, "LEDGER_GW_PSEUDONYM_KEY_FILE"),
        migrate=_flag("LEDGER_GW_MIGRATE", env.get("LEDGER_GW_MIGRATE", "1")),
        max_batch=_int(env, "LEDGER_GW_MAX_BATCH", 1000),
        session_key_file=_path(env, "LEDGER_GW_SESSION_KEY_FILE"),
        cookie_secure=_flag("LEDGER_GW_COOKIE_SECURE", env.get("LEDGER_GW_COOKIE_SECURE", "1")),
        rate_limit_storage=env.get("LEDGER_GW_RATE_LIMIT_STORAGE") or "memory://",
        proxies=_count(env, "LEDGER_GW_PROXIES"),
        log_url=env.get("LEDGER_GW_LOG_URL") or None,
        log_certificate=_path(env, "LEDGER_GW_LOG_CERT"),
        sync_interval_s=_seconds(env, "LEDGER_GW_SYNC_INTERVAL", 5.0),
        receipt_deadline_s=_seconds(env, "LEDGER_GW_RECEIPT_DEADLINE", 600.0),
        peers=_peers(env.get("LEDGER_GW_PEERS", "")),
    )


def _peers(text: str) -> dict[str, str]:
    peers: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        org, _, url = item.partition("=")
        if not org or not url.startswith(("http://", "https://")):
            raise ConfigError(f"LEDGER_GW_PEERS: {item!r} is not ORG=http(s)://host:port")
        peers[org.strip()] = url.rstrip("/")
    return peers


def workers_per_machine() -> int:
    """Two serving processes per core this process may run on, at most eight. A worker's
    threads spend much of a request waiting for the appender's group commit, and its
    Python runs on one core at a time (the GIL): with one worker per core, a core idles
    while its worker waits; with two, the other keeps it busy. Past eight the one
    appending process bounds what more would add, and each holds its own memory."""
    return min(2 * usable_cores(), 8)


@dataclass(frozen=True)
class Serving:
    """How gunicorn serves the gateway."""

    bind: str = "127.0.0.1:8080"
    workers: int = field(default_factory=workers_per_machine)
    threads: int = 8


def serving_from_env(environ: Mapping[str, str] | None = None) -> Serving:
    env = _env(environ)
    return Serving(
        bind=env.get("LEDGER_GW_BIND", Serving.bind),
        workers=_at_least_one(env, "LEDGER_GW_WORKERS", workers_per_machine()),
        threads=_at_least_one(env, "LEDGER_GW_THREADS", Serving.threads),
    )


def default_directory(environ: Mapping[str, str] | None = None) -> Path:
    return Path(_env(environ).get("LEDGER_GW_DIR", "var/demo"))


def fabric_profile_path(path: Path | None = None) -> Path:
    """The profile `network/network.sh up` wrote (or LEDGER_GW_FABRIC_PROFILE)."""
    return path or _path(os.environ, "LEDGER_GW_FABRIC_PROFILE") or DEFAULT_PROFILE


# -- ledgers ---------------------------------------------------------------------------


def prepare_ledger(directory: Path, url: str | None = None, *, new_ledger: bool = False) -> None:
    """The workspace's embedded ledger, opened once before the processes that serve it
    start (they then only ever open it): made only while its log key has signed
    nothing (a new workspace's key, see Workspace.create), or when told ``new_ledger``.
    A key that has had a ledger and finds none (a restore that missed it, the wrong
    volume mounted, an empty database) has lost it: an empty one would have the key
    sign a new history from size 0, a fork of the one it signed, which the witnesses
    refuse to cosign while its appends are acknowledged (LedgerLostError)."""
    ws = Workspace.load(directory)
    if not (ws.root / "node" / "log.key").is_file():  # an agency's, a witness's: left alone
        raise ConfigError(
            f"{directory} holds no node/log.key: no embedded ledger is served from it"
        )
    url = url or ws.ledger_url
    database_url(url)
    unused = ws.root / NO_LEDGER_YET
    missing = None if unused.exists() else ledger_missing(url)
    if missing is not None and not new_ledger:
        raise LedgerLostError(
            f"the log {ws.consortium.origin} has lost its ledger ({missing}): its key has "
            "had one, and would now sign a fork of what it signed. Restore the ledger "
            "from a backup (or point --ledger at it). Only if this log is to start again "
            "from nothing, give --new-ledger: the witnesses will refuse a new history "
            "under the same key and origin, so a new log needs its own (ledger-gw init)"
        )
    if missing is not None:
        _log.warning(
            "the log %s starts a new, empty ledger (%s) under a key that has had one: "
            "its witnesses will cosign nothing of it",
            ws.consortium.origin,
            missing,
        )
    make_engine(url).dispose()
    unused.unlink(missing_ok=True)


def embedded_ledger(
    ws: Workspace,
    url: str | None = None,
    *,
    appender: Path | None = None,
    appender_key: bytes | None = None,
    keys_from_file: bool = True,
) -> EmbeddedLedger:
    """The workspace's embedded ledger, made if missing (the commands that serve it
    first go through `prepare_ledger`, which refuses a lost one); with an appending
    process's socket and key, this process admits and reads, and that process appends.
    Whichever process appends pushes each new checkpoint to the witnesses the consortium
    file names. It takes the members' signing keys from the consortium file when the
    file changes (a rotation), unless ``keys_from_file`` is False (a consortium pinned
    apart from the file)."""
    remote = None
    if appender is not None:
        if appender_key is None:
            raise ConfigError("an appending process needs its key (LEDGER_GW_APPENDER_KEY)")
        remote = RemoteAppender(str(appender), appender_key)
    ledger = EmbeddedLedger(
        url or ws.ledger_url,
        ws.consortium,
        ws.log_signer(),
        appender=remote,
        witnesses=witness_endpoints(ws.consortium),
        consortium_file=ws.consortium_file if keys_from_file else None,
    )
    (ws.root / NO_LEDGER_YET).unlink(missing_ok=True)  # the key has a ledger now
    return ledger


def existing_ledger(ws: Workspace, url: str | None = None) -> str:
    """The embedded ledger's URL, refused when it names an SQLite file that is not there:
    reading or verifying a ledger must never create an empty one."""
    url = url or ws.ledger_url
    parsed = database_url(url)
    database = parsed.database or ":memory:"
    on_disk = parsed.get_backend_name() == "sqlite" and database != ":memory:"
    if on_disk and not Path(database).is_file():
        raise ConfigError(f"no ledger at {database}: nothing has been written to it yet")
    return url


def log_reader(ws: Workspace, url: str | None = None) -> LogReader:
    """Read-only access to the embedded log, for audits and reports."""
    return LogReader(reading_engine(existing_ledger(ws, url)))


@contextmanager
def storage_faults() -> Iterator[None]:
    """A database that is corrupt, truncated or unreachable, or a file that cannot be
    read, as one line for a person rather than a driver's traceback."""
    try:
        yield
    except sql_errors.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else "failed"
        raise UnavailableError(f"the database cannot be used: {reason}") from exc
    except (sql_errors.ArgumentError, sql_errors.NoSuchModuleError) as exc:
        raise ConfigError(f"bad database URL: {exc}") from exc
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise ConfigError(f"{where}{exc.strerror or exc}") from exc


def check_bind(bind: str) -> None:
    """Refuse now, before anything is printed or started, an address gunicorn could not
    listen on (no port, a port out of range, another process holds the port, or the
    host is not this machine's)."""
    host, _, port = bind.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(f"the address {bind} must end with :PORT") from None
    if not 0 <= number <= MAX_PORT:
        raise ConfigError(f"the port of {bind} must be 0 to {MAX_PORT}")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), number))
        except OSError as exc:
            busy = exc.errno == errno.EADDRINUSE
            reason = "the port is in use by another process" if busy else exc.strerror
            raise ConfigError(f"cannot listen on {bind}: {reason}") from None


def rotate_key(directory: Path, org_id: str, ca_key: Path | None = None) -> Workspace:
    """``org_id``'s new signing key from its CA: ``ca_key``, else its ``ca.key``, else
    (a network.sh workspace) its MSP's CA key in its own organisation's directory,
    which Fabric's MSP accepts what it issues from."""
    from ledger_gw.fabric.netsetup import fabric_ca_key, org_domain

    ws = Workspace.load(directory)
    msp_ca = fabric_ca_key(ws.root, org_id)
    own = ws.root / "orgs" / org_id / "ca.key"
    if ca_key is None and not own.exists() and msp_ca.exists():
        return ws.rotate_key(org_id, ca_key_path=msp_ca, domain=org_domain)
    return ws.rotate_key(org_id, ca_key_path=ca_key)


def fabric_ledger(profile_path: Path | None = None) -> tuple[Ledger, Workspace]:
    """A FabricLedger holding every member's gateway identity, and that workspace."""
    from ledger_gw.fabric.gateway import FabricLedger, FabricProfile

    path = fabric_profile_path(profile_path)
    if not path.exists():
        raise ConfigError(
            f"no Fabric profile at {path}: bring a network up with "
            "`FABRIC_HOME=... network/network.sh up`, or set LEDGER_GW_FABRIC_PROFILE"
        )
    profile = FabricProfile.load(path)
    if profile.workspace is None:
        raise ConfigError(f"{path} names no workspace")
    ws = Workspace.load(profile.workspace)
    signers = {org_id: ws.signer(org_id) for org_id in ws.consortium.organisations}
    return FabricLedger(profile, signers), ws


def _fabric_gateway_ledger(config: GatewayConfig, signers: dict[str, Signer]) -> Ledger:
    from ledger_gw.fabric.gateway import FabricLedger, FabricProfile

    return FabricLedger(FabricProfile.load(fabric_profile_path(config.fabric_profile)), signers)


# -- the log node and the gateways on their own machines -----------------------------


@dataclass(frozen=True)
class NodeServing:
    """How gunicorn serves a log node: where, and its TLS files."""

    bind: str
    cert: Path
    key: Path
    client_cas: Path
    threads: int = 8


def prepare_node(directory: Path, host: str, port: int, threads: int = 8) -> NodeServing:
    """The node's TLS server certificate (made once, for ``host``) and the members' CAs
    it accepts client certificates from (rewritten from the consortium file each start)."""
    ws = Workspace.load(directory)
    node = directory / "node"
    tls.ensure_server_certificate(node / "tls.pem", node / "tls.key", [host])
    cas = tls.write_client_cas(ws.consortium, node / "client-cas.pem")
    return NodeServing(f"{host}:{port}", node / "tls.pem", node / "tls.key", cas, threads)


def open_node(directory: Path, ledger_url: str | None = None) -> LogNode:
    """The log node over the workspace's embedded ledger, pushing to its witnesses."""
    ws = Workspace.load(directory)
    return LogNode(embedded_ledger(ws, ledger_url), RevokedClients(revoked_clients(directory)))


def revoked_clients(directory: Path) -> Path:
    """The node's list of TLS client certificates it no longer lets in; refused for a
    directory that is no log node's (no consortium file or no node/log.key), where a
    revocation would reach no node."""
    Workspace.load(directory)
    if not (directory / "node" / "log.key").is_file():
        raise ConfigError(f"{directory} is not a log node's directory: it holds no node/log.key")
    return directory / "node" / "revoked-clients"


def issue_log_client_certificate(directory: Path, org: str) -> Path:
    """An organisation's TLS client certificate for the log node, from its CA."""
    ws = Workspace.load(directory)
    return tls.issue_client_certificate(directory / "orgs" / org, ws.consortium, org)


def remote_ledger(ws: Workspace, config: GatewayConfig, org: str, signer: Signer) -> RemoteLedger:
    """This organisation's gateway on a log node: its client certificate, the node's
    pinned certificate, its own record of what the node acknowledged, and its outbox
    for what it captures while the node cannot be reached; those two made on their
    first open, and refused once lost (GatewayStoreLostError)."""
    if not config.log_url:
        raise ConfigError("the remote backend needs the log node's URL (LEDGER_GW_LOG_URL)")
    org_dir = ws.root / "orgs" / org
    files = remote_files(ws.root, org)
    refuse_lost(files)
    context = tls.client_context(
        config.log_certificate or ws.root / "node" / "tls.pem",
        org_dir / "tls-client.pem",
        org_dir / "tls-client.key",
    )
    node = NodeClient(config.log_url, context)
    receipts = Receipts(
        org_dir / REMOTE_FILES["receipts"][0], ws.consortium, node, config.receipt_deadline_s
    )
    outbox = Outbox(org_dir / REMOTE_FILES["outbox"][0], signer)
    for made in files:
        made.made()
    claims = ClaimIndex(org_dir / "claims.db")
    return RemoteLedger(node, ws.consortium, receipts, outbox, config.sync_interval_s, claims)


def _signers(ws: Workspace, orgs: tuple[str, ...]) -> dict[str, Signer]:
    signers: dict[str, Signer] = {}
    for org in orgs:
        ws.consortium.organisation(org)  # ConfigError when not a member
        signers[org] = ws.signer(org)
        if signers[org].org_id != org:
            raise ConfigError(f"the signing certificate for {org} names another organisation")
    return signers


def open_gateway(config: GatewayConfig) -> Gateway:
    """The organisations' keys and stores now; the ledger when first used, in this process."""
    ws = Workspace.load(config.directory)
    orgs = config.orgs or tuple(ws.consortium.organisations)
    signers = _signers(ws, orgs)
    open_ledger: Callable[[], Ledger]
    if config.backend == "remote":
        if len(orgs) != 1:
            raise ConfigError("a gateway on a log node signs for exactly one organisation")
        open_ledger = partial(remote_ledger, ws, config, orgs[0], signers[orgs[0]])
    elif config.backend == "fabric":
        open_ledger = partial(_fabric_gateway_ledger, config, signers)
    else:
        open_ledger = partial(
            embedded_ledger,
            ws,
            config.ledger,
            appender=config.appender,
            appender_key=config.appender_key,
        )
    stores = offchain_stores(config, orgs)
    pseudonym_key = PseudonymKey.load(config.pseudonym_key_path)
    reader = next(iter(signers))  # on Fabric, the peer the gateway's log reads through
    gateway = Gateway(
        config,
        ws,
        pseudonym_key,
        signers,
        stores,
        open_ledger,
        partial(verifiable_log, reader=reader),
        keys_in_force,
    )
    try:
        if config.migrate:
            gateway.migrate()
            registrations.check_key_versions(gateway)  # a key file older than its people
        else:  # no schema change, but none served again whom a restored backup holds
            for store in stores.values():
                store.erase_again()
    except BaseException:
        gateway.close()
        raise
    return gateway


@contextmanager
def org_store(config: GatewayConfig, org: str) -> Iterator[tuple[OffchainStore, Organisation]]:
    """One member's off-chain store (migrated, unless ``config.migrate`` is off; refused
    once lost, see `prepare_stores`) and its entry in the consortium file, for the
    commands that manage its tokens; the store closed on the way out. Nothing else is
    opened: no ledger, no key, no other member's store, so that a token can be issued or
    revoked while the ledger or the log node is down."""
    ws = Workspace.load(config.directory)
    member = ws.consortium.organisation(org)  # ConfigError when not a member
    if config.orgs and org not in config.orgs:
        raise ForbiddenError(f"this gateway does not serve {org}", code="org_not_served")
    if not (config.directory / "orgs" / org).is_dir():  # another party's: make nothing there
        raise ForbiddenError(
            f"{config.directory} holds no orgs/{org}/: it is not a directory {org}'s "
            "gateway serves from",
            code="org_not_served",
        )
    store = offchain_stores(config, (org,))[org]
    try:
        if config.migrate:
            store.migrate()
        yield store, member
    finally:
        store.close()


def gateway_over(ws: Workspace, ledger: Ledger, orgs: tuple[str, ...]) -> Gateway:
    """A gateway serving ``orgs`` of the workspace over a ledger already open (the
    terminal demo's, on either backend); their off-chain stores in its directory."""
    config = GatewayConfig(directory=ws.root, orgs=orgs)
    stores = offchain_stores(config, orgs)
    gateway = Gateway(
        config,
        ws,
        ws.pseudonym_key(),
        _signers(ws, orgs),
        stores,
        lambda: ledger,
        partial(verifiable_log, reader=orgs[0]),
        keys_in_force,
    )
    gateway.migrate()
    return gateway


def keys_in_force(ws: Workspace, ledger: Ledger) -> KeysInForce:
    """The members' keys a gateway judges their signatures by: an embedded ledger's own,
    which follows the consortium file as it admits transactions, so that one reader of
    the file serves the process; else a reader of the gateway's own."""
    return ledger if isinstance(ledger, EmbeddedLedger) else file_keys(ws, ledger)


def verifiable_log(ledger: Ledger, *, reader: str) -> VerifiableLog:
    """The verifiable log of an opened ledger; on Fabric it reads blocks through
    ``reader``'s peer."""
    if isinstance(ledger, EmbeddedLedger):
        return EmbeddedLog.of(ledger)
    if isinstance(ledger, RemoteLedger):
        return RemoteLog(ledger)
    from ledger_gw.fabric.gateway import FabricLedger
    from ledger_gw.fabric.verifiable import FabricLog

    assert isinstance(ledger, FabricLedger)
    return FabricLog(ledger, reader)


@contextmanager
def open_log(
    directory: Path,
    ledger_url: str | None = None,
    *,
    backend: str = "embedded",
    profile: Path | None = None,
    reader: str | None = None,
    cosigning: bool = False,
    log_url: str | None = None,
    pinned: Consortium | None = None,
) -> Iterator[tuple[Workspace, VerifiableLog]]:
    """A workspace and its ledger's verifiable log, closed on the way out: read-only
    unless ``cosigning`` (the embedded log then asks the witnesses and stores their
    cosignatures).
    On Fabric the workspace is the one the network's profile names, and the log reads
    through ``reader``'s peer (default: the consortium's first auditor); on a log node
    (``log_url``) as ``reader``, the member whose keys the directory holds.
    With ``pinned``, the log is checked against that consortium file (its log key,
    origin, witnesses and members), not the directory's: a verifier's trust roots are
    its own."""
    if backend == "remote":
        ws = _pinned(Workspace.load(directory), pinned)
        org = reader or _sole_member(directory)
        config = GatewayConfig(directory=directory, backend="remote", log_url=log_url, orgs=(org,))
        remote = remote_ledger(ws, config, org, ws.signer(org))
        try:
            yield ws, RemoteLog(remote)
        finally:
            remote.close()
        return
    if backend == "fabric":
        ledger, ws = fabric_ledger(profile)
        try:
            if pinned is not None and pinned.to_dict() != ws.consortium.to_dict():
                raise ConfigError(
                    "on Fabric the log is read under the network profile's consortium: "
                    "the pinned file differs from it"
                )
            if reader is None:
                orgs = ws.consortium.organisations.items()
                auditors = [o for o, m in orgs if m.role == "auditor"]
                if not auditors:
                    raise ConfigError("the consortium has no auditor: name the reading member")
                reader = auditors[0]
            yield ws, verifiable_log(ledger, reader=reader)
        finally:
            ledger.close()
        return
    ws = _pinned(Workspace.load(directory), pinned)
    if cosigning:
        prepare_ledger(directory, ledger_url)  # a lost ledger is not made again
        ledger = embedded_ledger(ws, ledger_url, keys_from_file=pinned is None)
        try:
            yield ws, EmbeddedLog.of(ledger)
        finally:
            ledger.close()
        return
    log = log_reader(ws, ledger_url)
    try:
        yield ws, EmbeddedLog(log, ws.consortium)
    finally:
        log.engine.dispose()


def _pinned(ws: Workspace, pinned: Consortium | None) -> Workspace:
    return ws if pinned is None else replace(ws, consortium=pinned)


def _sole_member(directory: Path) -> str:
    """The one organisation whose keys a member's directory holds."""
    held = sorted(p.name for p in (directory / "orgs").glob("*") if p.is_dir())
    if len(held) != 1:
        raise ConfigError(f"{directory} holds the keys of {len(held)} members: name one (--as)")
    return held[0]


def verify_embedded(
    ws: Workspace,
    url: str | None = None,
    progress: Progress | None = None,
    witness_states: Sequence[Path] = (),
    workers: int | None = None,
) -> VerifyReport:
    """The embedded ledger's full check: every entry replayed, every node and checkpoint
    recomputed, trusting only the consortium file, some checkpoint cosigned by its witness
    quorum; and against what each witness whose state file is given last cosigned (read
    only, never written). Signatures are checked on ``workers`` processes (default: one
    per core it may run on)."""
    notes = {}
    for path in witness_states:
        seen = witnessed_in(path, ws.consortium.origin)
        if seen is None:
            raise ConfigError(
                f"{path}: this witness has cosigned nothing of {ws.consortium.origin}"
            )
        notes[f"state file {path}"] = seen.note
    report = verify_ledger(
        existing_ledger(ws, url),
        ws.consortium,
        progress=progress,
        witnessed=notes,
        workers=workers,
    )
    return require_witnessed(report, ws.consortium)


def start_appender(config: GatewayConfig) -> tuple[GatewayConfig, Callable[[], None]]:
    """For processes that serve one embedded ledger side by side: its appending process,
    started, the configuration that tells them of it, and how to stop it (nothing to
    start or stop otherwise)."""
    if config.backend != "embedded" or config.appender is not None:
        return config, _nothing
    process = AppenderProcess(config.directory, config.ledger)
    process.start()
    told = replace(config, appender=Path(process.socket), appender_key=process.key)
    return told, process.stop


def _nothing() -> None:
    return None
