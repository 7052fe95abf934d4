"""A gateway's own stores, made once and never again: each organisation's off-chain
store and, on a log node, its receipts and outbox.

A restore that missed one, or the wrong volume mounted, would otherwise have the
gateway make it again, empty, without a word: forgetting the people registered there,
the events callers were told are queued, or what the log node acknowledged (so that a
node dropping it goes unnoticed). The first open of each store records, in the
gateway's directory, that it was made and where; from then on a missing one is refused.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect

from ledger_gw.database_urls import database_url, shown_url
from ledger_gw.errors import ConfigError
from ledger_gw.files import PUBLIC, make_dirs, write_file
from ledger_gw.offchain.store import OffchainStore, offchain_missing, org_url
from ledger_gw.services.config import GatewayConfig
from ledger_gw.sqlite import sqlite_reader
from ledger_gw.workspace import Workspace

_log = logging.getLogger(__name__)
_STORE_BUSY_MS = 5_000  # a gateway's file checked for its table while another writes it


#: In a gateway's directory, a file for each store it has made, saying where it is
#: (``<ORG>.offchain.<digest of where>``, ``.receipts.``, ``.outbox.``): from then on,
#: that store missing is a lost one.
STORES_MADE = Path("stores-made")
_MADE_TEXT = (
    "This gateway keeps the {what} of {org} at\n"
    "    {where}\n"
    "which its first start there made (or found). From now on it only opens it: missing,\n"
    "or holding nothing, it is refused as lost (gateway_store_lost), not made again\n"
    "empty, unless the gateway is started with --new-stores. Back it up with this\n"
    "directory.\n"
)
#: In a gateway's directory, each organisation's erasure journal (OffchainStore.erased),
#: kept apart from its store so that restoring the store does not take it back.
ERASED = Path("erased")
#: What each of a gateway's stores is, and what an empty one in its place would lose.
_STORES = {
    "offchain": (
        "off-chain store",
        "an empty one would have it forget the people registered there, their documents "
        "and its API tokens",
    ),
    "receipts": (
        "receipts",
        "with empty ones it would no longer hold the log node to the appends the node "
        "acknowledged: a node that dropped them would go unnoticed",
    ),
    "outbox": ("outbox", "an empty one would lose the events its callers were told are queued"),
}
#: A remote gateway's files beside its keys (orgs/<ORG>/), each with the table that marks it.
REMOTE_FILES = {"receipts": ("receipts.db", "acknowledged"), "outbox": ("outbox.db", "outbox")}


class GatewayStoreLostError(ConfigError):
    """A store a gateway made (an off-chain store, its receipts, its outbox) is missing,
    or its database holds none: opened as usual, an empty one would take its place, and
    what it kept (registrations, what the log node acknowledged, events queued) would be
    gone without a word."""

    code = "gateway_store_lost"


@dataclass(frozen=True)
class _Store:
    """One of the stores a gateway keeps for an organisation, as found."""

    directory: Path  # the gateway's, which holds the record of what it made
    org: str
    kind: str  # a key of _STORES
    where: str  # its file's absolute path, or its URL without the password
    missing: str | None  # what is missing of it; None while it holds its store

    @property
    def record(self) -> Path:
        """Its record, by where it is: a store elsewhere (a gateway of the same directory
        given one of its own) is another store, which its own first start makes."""
        digest = hashlib.sha256(self.where.encode()).hexdigest()[:16]
        return self.directory / STORES_MADE / f"{self.org}.{self.kind}.{digest}"

    @property
    def lost(self) -> bool:
        """Missing, after its gateway made it."""
        return self.missing is not None and self.record.exists()

    def refusal(self) -> GatewayStoreLostError:
        what, loss = _STORES[self.kind]
        point = " (or point LEDGER_GW_OFFCHAIN_URL at it)" if self.kind == "offchain" else ""
        return GatewayStoreLostError(
            f"the gateway of {self.org} has lost the {what} it kept ({self.missing}): "
            f"{loss}. Restore it from a backup{point}. Only if the gateway is to go on "
            "without what it held, start it with --new-stores"
        )

    def made(self) -> None:
        """Recorded as made, so that its loss is refused from now on. A directory this
        process may not write (mounted read-only) keeps no record: that is logged, the
        store opened all the same."""
        if self.record.exists():
            return
        what = _STORES[self.kind][0]
        text = _MADE_TEXT.format(what=what, org=self.org, where=self.where)
        try:
            write_file(self.record, text.encode(), PUBLIC)
        except OSError as exc:
            _log.warning(
                "cannot record that the %s of %s was made (%s): were it lost, it would be "
                "made again, empty",
                what,
                self.org,
                exc,
            )


def prepare_stores(config: GatewayConfig, *, new_stores: bool = False) -> None:
    """A gateway's own stores, checked once before the processes that serve it start:
    each organisation's off-chain store and, on a log node, its receipts and outbox.
    The first open of each makes it and records that, with where it is, in STORES_MADE;
    afterwards it is only opened, and one missing (a restore that missed it, the wrong
    volume mounted, a database without its tables) is refused (GatewayStoreLostError),
    or with ``new_stores`` forgotten, so that it is made anew, empty."""
    ws = Workspace.load(config.directory)
    for org in config.orgs or tuple(ws.consortium.organisations):
        ws.consortium.organisation(org)  # ConfigError when not a member
        found = [_offchain(config, org)]
        if config.backend == "remote":
            found += remote_files(ws.root, org)
        for store in filter(lambda s: s.lost, found):
            if not new_stores:
                raise store.refusal()
            what, loss = _STORES[store.kind]
            _log.warning(
                "the gateway of %s starts a new, empty %s (%s): %s",
                org,
                what,
                store.missing,
                loss,
            )
            store.record.unlink()


def _offchain(config: GatewayConfig, org: str) -> _Store:
    url = org_url(config.offchain, org)
    parsed = database_url(url)
    database = parsed.database or ":memory:"
    in_file = parsed.get_backend_name() == "sqlite" and not database.startswith((":", "file:"))
    where = os.path.abspath(database) if in_file else shown_url(url)
    return _Store(config.directory, org, "offchain", where, offchain_missing(url))


def remote_files(directory: Path, org: str) -> list[_Store]:
    found = []
    for kind, (name, table) in REMOTE_FILES.items():
        path = directory / "orgs" / org / name
        missing = _file_missing(path, table, _STORES[kind][0])
        found.append(_Store(directory, org, kind, os.path.abspath(path), missing))
    return found


def _file_missing(path: Path, table: str, what: str) -> str | None:
    """What is missing of a gateway's SQLite file: the file, or its table. Reads only."""
    if not path.is_file():
        return f"{path} is missing"
    engine = sqlite_reader(f"sqlite:///{path}", _STORE_BUSY_MS, {})
    try:
        if inspect(engine).has_table(table):
            return None
    finally:
        engine.dispose()
    return f"{path} holds no {what}"


def refuse_lost(found: Iterable[_Store]) -> None:
    lost = next((store for store in found if store.lost), None)
    if lost is not None:
        raise lost.refusal()


def _journal(directory: Path, org: str) -> tuple[Path, bool]:
    """Where the organisation's erasures are noted, and whether this process may note
    them there. A journal it may not write (its directory mounted read-only) is read all
    the same (OffchainStore), so that whom it names stays erased; new erasures go on
    unnoted, which is logged once here, as the record of its stores is."""
    journal = directory / ERASED / org
    try:
        make_dirs(journal.parent)
        if not journal.parent.is_dir():
            raise NotADirectoryError(f"{journal.parent} is not a directory")
        here = journal if journal.exists() else journal.parent  # appended to, or made there
        if not os.access(here, os.W_OK):
            raise PermissionError(f"{here} is not one it may write")
    except OSError as exc:
        _log.warning(
            "cannot keep the erasure journal of %s (%s): erasures from now on are not "
            "noted, and a backup of its store from before one of them, restored, would "
            "serve the erased person again",
            org,
            exc,
        )
        return journal, False
    return journal, True


def offchain_stores(config: GatewayConfig, orgs: Sequence[str]) -> dict[str, OffchainStore]:
    """The organisations' off-chain stores, each made (its schema migrated) where the
    gateway has made none before; none opened while one it made is lost."""
    found = [_offchain(config, org) for org in orgs]
    refuse_lost(found)
    stores = {}
    for store in found:
        url = org_url(config.offchain, store.org)
        journal, noting = _journal(config.directory, store.org)
        stores[store.org] = OffchainStore(store.org, url, journal, noting=noting)
        if store.missing is not None:
            stores[store.org].migrate()  # its schema's revision marks it as made
        store.made()
    return stores


# -- the gateway -----------------------------------------------------------------------
