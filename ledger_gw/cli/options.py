"""Options shared by the `ledger-gw` command groups."""

from __future__ import annotations

import functools
import ipaddress
import math
import os
import stat
import urllib.parse
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ledger_gw.bootstrap import open_log
from ledger_gw.consortium import Consortium, json_object
from ledger_gw.errors import ValidationError
from ledger_gw.interfaces import VerifiableLog
from ledger_gw.workspace import Workspace

LogAndWorkspace = tuple[Workspace, VerifiableLog]

BACKENDS = ("embedded", "fabric", "remote")
MAX_INPUT = 256 << 20  # a file a command reads: a bundle, a report, a block, a card
MAX_TOKEN = 4096
TOKEN_VARIABLE = "LEDGER_GW_TOKEN"  # noqa: S105 - the variable's name, not a token

directory_option = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/demo"),
    show_default=True,
    envvar="LEDGER_GW_DIR",
    help="Consortium directory made by `init`.",
)
ledger_option = click.option(
    "--ledger",
    "ledger_url",
    envvar="LEDGER_GW_LEDGER_URL",
    help="SQLAlchemy URL of the embedded ledger (default: ledger.db in the directory).",
)

new_ledger_option = click.option(
    "--new-ledger",
    is_flag=True,
    help="If the log's ledger is gone, start a new, empty one. A new workspace needs no "
    "flag: its first start makes the ledger. Once the log has signed anything, a new "
    "history under its key is a fork that its witnesses refuse to cosign: restore the "
    "ledger from a backup instead.",
)

new_stores_option = click.option(
    "--new-stores",
    is_flag=True,
    help="If the gateway's off-chain store, receipts or outbox is gone, start a new, empty "
    "one. A new gateway needs no flag: its first start makes them. Once it has served, an "
    "empty one forgets the people registered there, the events callers were told are "
    "queued, or what the log node acknowledged: restore it from a backup instead.",
)


def http_url(ctx: click.Context, param: click.Parameter, url: str | None) -> str | None:
    """An http(s) base URL, or a one-line refusal; never one with a user or password in it,
    which `ps` would show and error messages repeat (the bearer token is the credential)."""
    if url is None:
        return None
    option = param.opts[0] if param.opts else "URL"
    try:
        parts = urllib.parse.urlsplit(url)
        good = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018  (raises ValueError for a port that is none)
    except ValueError:  # "http://[x", a port out of range
        good = False
    if good and (parts.username is not None or parts.password is not None):
        raise ValidationError(
            f"{option} must not carry a user or password (it is not repeated here): "
            f"the bearer token goes in {TOKEN_VARIABLE} or --token-file",
            code="invalid_url",
            field=option,
        )
    if not good:
        raise ValidationError(
            f"{option} {url!r} is not an http(s) URL", code="invalid_url", field=option
        )
    if parts.scheme == "http" and not _loopback(parts.hostname or ""):
        raise ValidationError(
            f"{option} {url!r}: plain http would send the bearer token (and what is "
            "asked) readable to the network; use https, or http on this machine only",
            code="insecure_url",
            field=option,
        )
    return url


def _loopback(host: str) -> bool:
    """This machine, named as no network can answer for it."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_input(path: Path, option: str, limit: int = MAX_INPUT, *, private: bool = False) -> bytes:
    """A file a command was given, read once: a regular file of at most ``limit`` bytes.
    A device such as /dev/zero or a FIFO would be read (or waited on) forever. A
    ``private`` one (a secret) is refused if its group or others may read or write it,
    as the pseudonymisation key is: the mode checked is the one of the file read."""
    try:
        # Not blocking: opening a FIFO waits for a writer otherwise.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise ValidationError(
                    f"{option} {path} is not a regular file", code="not_a_file", field=option
                )
            if private and mode & 0o077:
                raise ValidationError(
                    f"{option} {path} is open to group or others (mode "
                    f"{stat.S_IMODE(mode):04o}): it must be its owner's only (chmod 600 {path})",
                    code="file_not_private",
                    field=option,
                )
            data = f.read(limit + 1)
    except OSError as exc:
        raise ValidationError(
            f"{option} {path}: {exc.strerror}", code="unreadable_file", field=option
        ) from None
    if len(data) > limit:
        raise ValidationError(
            f"{option} {path} is larger than {limit} bytes", code="file_too_large", field=option
        )
    return data


def _named(param: click.Parameter) -> str:
    """How a message names the option or argument: ``--state``, ``CERTIFICATE``."""
    if isinstance(param, click.Option) and param.opts:
        return param.opts[0]
    return param.human_readable_name


def regular_file(path: Path, option: str, limit: int = MAX_INPUT) -> Path:
    """``path``, when it names a regular file of at most ``limit`` bytes, for a file the
    library opens by its name: it would wait for ever on a FIFO and read /dev/zero until
    memory runs out. Only its metadata is read here (a FIFO is never opened)."""
    try:
        found = os.stat(path)
    except OSError as exc:
        raise ValidationError(
            f"{option} {path}: {exc.strerror}", code="unreadable_file", field=option
        ) from None
    if not stat.S_ISREG(found.st_mode):
        raise ValidationError(
            f"{option} {path} is not a regular file", code="not_a_file", field=option
        )
    if found.st_size > limit:
        raise ValidationError(
            f"{option} {path} is larger than {limit} bytes", code="file_too_large", field=option
        )
    return path


def input_file(ctx: click.Context, param: click.Parameter, path: Path | None) -> Path | None:
    """Callback: a file the command's library reads by its name (:func:`regular_file`).
    One that is not there (a symlink to nothing included) is left to the library, which
    says what it was for, or makes it (a watch's state)."""
    if path is None or not path.exists():
        return path
    return regular_file(path, _named(param))


def output_file(ctx: click.Context, param: click.Parameter, path: Path | None) -> Path | None:
    """Callback: where a command writes a file, replaced whole (``files.write_file``) by
    renaming a new one over it. Never a device, FIFO or socket: the rename would put a
    regular file in its place (over /dev/null, as root, for every process on the
    machine). A symlink is replaced, never written through, so it may name anything."""
    if path is None:
        return None
    option = _named(param)
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return path  # made, with any directory missing on the way
    except OSError as exc:  # a file where a directory on the way should be
        raise ValidationError(
            f"{option} {path}: {exc.strerror}", code="unwritable_file", field=option
        ) from None
    if not (stat.S_ISREG(found.st_mode) or stat.S_ISLNK(found.st_mode)):
        raise ValidationError(
            f"{option} {path} is not a regular file: it is not replaced",
            code="not_a_file",
            field=option,
        )
    return path


def a_number(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """Callback: a range lets NaN through (no comparison with it holds): refused here."""
    if value is not None and math.isnan(value):
        raise click.BadParameter("not a number", param_hint=_named(param))
    return value


def load_pinned(path: Path) -> Consortium:
    """The consortium file the caller trusts, read as ``Consortium.load`` reads one:
    strictly, a key given twice refused (``duplicate_key``)."""
    data = read_input(path, "--consortium")
    return Consortium.from_dict(json_object(data, f"consortium file {path}"))


def require_pinned(path: Path | None, untrusted: str) -> Consortium:
    """The consortium file the caller pins with --consortium: a verifier's trust roots
    are its own, never ``untrusted``, a copy that comes with what it verifies."""
    if path is None:
        raise ValidationError(
            f"pin the consortium file you trust with --consortium: {untrusted} is not a trust root",
            code="trust_root_not_pinned",
            field="--consortium",
        )
    return load_pinned(path)


pinned_option = click.option(
    "--consortium",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The consortium file you trust (CAs, log key, witness keys); required.",
)


def _token(ctx: click.Context, param: click.Parameter, path: Path | None) -> str | None:
    if path is None:
        return os.environ.get(TOKEN_VARIABLE) or None
    try:
        token = read_input(path, "--token-file", MAX_TOKEN, private=True).decode("ascii").strip()
    except UnicodeDecodeError:
        token = ""
    if not token or any(c.isspace() for c in token):
        raise ValidationError(
            f"--token-file {path} holds no bearer token", code="invalid_token", field="--token-file"
        )
    return token


token_option = click.option(
    "--token-file",
    "token",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    callback=_token,
    help=f"A file holding the bearer token, its owner's only (chmod 600; default: the "
    f"{TOKEN_VARIABLE} variable). "
    "Never on the command line, where `ps` shows it to every user of the machine.",
)

quorum_option = click.option(
    "--quorum",
    type=click.IntRange(min=0),
    help="Witness cosignatures required (default: the consortium's).",
)


@dataclass(frozen=True)
class LogChoice:
    """Which ledger's verifiable log a command reads: the embedded one of a consortium
        directory (``--dir``, ``--ledger``), or a Fabric channel through a member's peer
        (``--backend fabric``, ``--profile``, ``--as``), or a log node as one member whose
    directory holds its keys (``--backend remote``, ``--log-url``, ``--as``)."""

    directory: Path
    ledger_url: str | None
    backend: str
    profile: Path | None
    reader: str | None
    log_url: str | None = None

    def open(
        self, *, cosigning: bool = False, pinned: Consortium | None = None
    ) -> AbstractContextManager[LogAndWorkspace]:
        return open_log(
            self.directory,
            self.ledger_url,
            backend=self.backend,
            profile=self.profile,
            reader=self.reader,
            cosigning=cosigning,
            log_url=self.log_url,
            pinned=pinned,
        )


def log_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--dir, --ledger, --backend, --profile and --as, handed to the command as one
    ``source`` (a :class:`LogChoice`)."""

    @functools.wraps(command)
    def chosen(
        *args: Any,
        directory: Path,
        ledger_url: str | None,
        backend: str,
        profile: Path | None,
        as_org: str | None,
        log_url: str | None,
        **kwargs: Any,
    ) -> Any:
        source = LogChoice(directory, ledger_url, backend, profile, as_org, log_url)
        return command(*args, source=source, **kwargs)

    for option in reversed(
        (
            directory_option,
            ledger_option,
            click.option(
                "--backend",
                type=click.Choice(BACKENDS),
                default="embedded",
                show_default=True,
                help="fabric: read the channel's blocks through a member's peer; "
                "remote: read a log node's log as the member whose directory this is.",
            ),
            click.option(
                "--log-url",
                envvar="LEDGER_GW_LOG_URL",
                callback=http_url,
                help="remote: the log node's HTTPS base URL.",
            ),
            click.option(
                "--profile",
                type=click.Path(dir_okay=False, exists=True, path_type=Path),
                callback=input_file,
                help="Fabric profile.json (default: LEDGER_GW_FABRIC_PROFILE or network/.state).",
            ),
            click.option(
                "--as",
                "as_org",
                help="Fabric: the member whose identity and peer read the ledger "
                "(default: the consortium's first auditor); remote: the member whose "
                "client certificate the node sees (default: the directory's only one).",
            ),
        )
    ):
        chosen = option(chosen)
    return chosen
