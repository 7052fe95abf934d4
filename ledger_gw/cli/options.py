"""Options shared by the `ledger-gw` command groups."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ledger_gw.bootstrap import open_log
from ledger_gw.consortium import Consortium
from ledger_gw.interfaces import VerifiableLog
from ledger_gw.workspace import Workspace

LogAndWorkspace = tuple[Workspace, VerifiableLog]

BACKENDS = ("embedded", "fabric", "remote")

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
                help="remote: the log node's HTTPS base URL.",
            ),
            click.option(
                "--profile",
                type=click.Path(dir_okay=False, exists=True, path_type=Path),
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
