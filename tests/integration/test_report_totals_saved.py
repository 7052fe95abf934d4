"""The report totals a gateway saves in its state directory: loaded on a start, they
give exactly the replay's reports, folding only the records logged since. A file not
signed by the gateway's key (tampered with, cut short, re-signed by another key), or
signed but of another ledger, of a log replaced under it or of a longer history, is
refused and the log folded again: the replay's reports, never the file's numbers, no
crash, no code run from the file."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ledger_gw.bootstrap import open_gateway
from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.identity import Signer
from ledger_gw.reports.accountability import (
    ReportQuery,
    build_cube,
    compute_report,
    month_bounds,
    report_of,
)
from ledger_gw.services import reports
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.saved_totals import MAGIC, SavedTotals
from ledger_gw.workspace import Workspace
from tests.support import events as ev

pytestmark = pytest.mark.slow

ORGS = ("AGENCY-A", "AGENCY-B")


def _month(offset: int) -> str:
    today = dt.datetime.now(dt.UTC)
    n = today.year * 12 + today.month - 1 + offset
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


MONTHS = (_month(1), _month(2))


class Book:
    """A ledger on its own clock, written month by month."""

    def __init__(self, root: Path) -> None:
        self.ws = Workspace.create(root, DEMO)
        self.now = [dt.datetime.fromisoformat(f"{MONTHS[0]}-10T12:00:00+00:00")]
        self._open()

    def _open(self) -> None:
        self.ledger = EmbeddedLedger(
            self.ws.ledger_url, self.ws.consortium, self.ws.log_signer(), clock=lambda: self.now[0]
        )
        self.log = EmbeddedLog.of(self.ledger)

    def snapshot(self) -> None:
        """Keep a copy of the ledger's database, as a backup would."""
        self.ledger.close()
        shutil.copy(self.ws.root / "ledger.db", self.ws.root / "ledger.db.copy")
        self._open()

    def restore(self) -> None:
        """Put the copy back (the ledger closed), and open it."""
        for leftover in self.ws.root.glob("ledger.db-*"):
            leftover.unlink()
        shutil.copy(self.ws.root / "ledger.db.copy", self.ws.root / "ledger.db")
        self._open()

    def write(self, month: str, n: int) -> None:
        self.now[0] = dt.datetime.fromisoformat(f"{month}-10T12:00:00+00:00")
        for org in ORGS:
            client = OrgClient(self.ledger, self.ws.signer(org), clock=lambda: self.now[0])
            grants = [
                ev.entitlement_granted(ev.pid(), modality="cash", location="LB11") for _ in range(n)
            ]
            deliveries = [ev.delivery(str(g["entitlement_id"]), "12") for g in grants[::2]]
            assert not [o.error for o in client.submit_many(grants + deliveries) if o.error]


@pytest.fixture
def book(tmp_path: Path) -> Iterator[Book]:
    b = Book(tmp_path / "ws")
    b.write(MONTHS[0], 30)
    b.write(MONTHS[1], 20)  # closes the first month
    yield b
    b.ledger.close()


def _queries() -> list[ReportQuery]:
    return [ReportQuery(org, None, None, None) for org in (None, *ORGS)]


def _assert_replayed(fold: reports._Fold, log: EmbeddedLog) -> None:
    anchor = log.anchor()
    assert fold.anchor == anchor
    records = list(log.records(anchor))
    for q in _queries():
        fast = report_of(fold.aggregates.tally(q), anchor=anchor.summary, query=q, cube=None)
        assert fast == compute_report(records, anchor=anchor.summary, query=q)
    cube = fold.aggregates.cube(MONTHS[0], 5)
    replayed = build_cube(records, 5, MONTHS[0])
    assert cube.hidden == replayed.hidden
    assert set(cube.tallies) == set(replayed.tallies)
    for s in cube.tallies:
        q = ReportQuery(s[1], s[2], *month_bounds(s[0]), k=5, on_lattice=True)
        fast = report_of(
            fold.aggregates.monthly.tally(q, cube), anchor=anchor.summary, query=q, cube=cube
        )
        assert fast == compute_report(records, anchor=anchor.summary, query=q, cube=replayed)


def _saved(book: Book, state: Path, signer: Signer | None = None) -> SavedTotals:
    return SavedTotals(state / "report-totals-4.bin", signer or book.ws.signer(ORGS[0]), 4)


def _start(log: EmbeddedLog, saved: SavedTotals) -> reports._Fold:
    """A gateway's first view after it starts: nothing folded in memory."""
    reports._folds.clear()
    return reports._advance(log, 4, saved)


def test_saved_totals_give_the_replays_reports_folding_only_the_new_records(
    book: Book, tmp_path: Path
) -> None:
    saved = _saved(book, tmp_path / "state")
    _start(book.log, saved)
    assert saved.path.exists()
    before = book.log.anchor()
    book.write(MONTHS[1], 5)
    fold = _start(EmbeddedLog.of(book.ledger), saved)
    assert fold.unsaved == book.log.anchor().size - before.size  # only the new ones folded
    _assert_replayed(fold, book.log)


def test_a_read_that_fails_midway_folds_nothing_twice(
    book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database fails after part of the new records were folded in: the next report
    reads them again, and counts each once."""
    log = book.log
    reports._folds.clear()
    reports._advance(log, 4)
    book.write(MONTHS[1], 6)
    whole = log.records

    def failing(*args: object, **kwargs: object) -> Iterator[object]:
        for n, record in enumerate(whole(*args, **kwargs)):  # type: ignore[arg-type]
            if n == 7:
                raise OSError("disk I/O error")
            yield record

    monkeypatch.setattr(log, "records", failing)
    with pytest.raises(OSError, match="disk I/O error"):
        reports._advance(log, 4)
    monkeypatch.setattr(log, "records", whole)
    _assert_replayed(reports._advance(log, 4), log)


def _signed_file(saved: SavedTotals, payload: bytes, signer: Signer) -> bytes:
    """A well-formed totals file over ``payload``, signed by ``signer``."""
    digest = hashlib.sha256(payload).digest()
    signature = signer.sign(MAGIC + str(saved.location_chars).encode() + b"\n" + digest)
    return MAGIC + base64.b64encode(signature) + b"\n" + payload


def _tamper(book: Book, saved: SavedTotals, how: str, other: Book, stranger: Signer) -> None:
    """Put a file there that must not be trusted."""
    path = saved.path
    data = path.read_bytes()
    held = saved.load()
    assert held is not None
    aggregates, anchor = held
    for cells in aggregates.days.values():  # numbers no replay gives
        for day in cells.values():
            day.granted += 1000
    inflated = pickle.dumps((anchor, aggregates))
    if how == "inflated, re-signed by another key":
        path.write_bytes(_signed_file(saved, inflated, stranger))
    elif how == "inflated, our signature kept":
        signature = data[len(MAGIC) :].partition(b"\n")[0]
        path.write_bytes(MAGIC + signature + b"\n" + inflated)
    elif how == "flipped":
        path.write_bytes(data[:-10] + bytes([data[-10] ^ 1]) + data[-9:])
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "future version":
        path.write_bytes(data.replace(b"totals v3", b"totals v9", 1))
    elif how == "an older version's, our key":  # its cubes suppressed by an older rule
        payload = data[len(MAGIC) :].partition(b"\n")[2]
        signature = saved.signer.sign(
            b"ledger-gw report totals v2\n"
            + str(saved.location_chars).encode()
            + b"\n"
            + hashlib.sha256(payload).digest()
        )
        path.write_bytes(
            b"ledger-gw report totals v2\n" + base64.b64encode(signature) + b"\n" + payload
        )
    elif how == "code, another key":
        path.write_bytes(_signed_file(saved, pickle.dumps((None, _Boom())), stranger))
    elif how == "code, our key":  # the restricted unpickler is the second wall
        path.write_bytes(_signed_file(saved, pickle.dumps((None, _Boom())), saved.signer))
    elif how == "another ledger's, our key":  # its anchor is below ours
        theirs = _saved(other, path.parent.parent / "theirs", saved.signer)
        _start(other.log, theirs)
        path.write_bytes(theirs.path.read_bytes())
    elif how == "a longer history, our key":  # the log was put back to an older copy
        book.write(MONTHS[1], 3)
        longer_fold = _start(EmbeddedLog.of(book.ledger), saved)
        saved.save(longer_fold.aggregates, longer_fold.anchor)
        longer = saved.path.read_bytes()
        book.ledger.close()
        book.restore()
        path.write_bytes(longer)
    elif how == "another cut, our key":
        cut = SavedTotals(path.with_suffix(".2"), saved.signer, 2)
        reports._folds.clear()
        reports._advance(book.log, 2, cut)
        path.write_bytes(cut.path.read_bytes())


class _Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch pwned",))


TAMPERINGS = [
    "inflated, re-signed by another key",
    "inflated, our signature kept",
    "flipped",
    "truncated",
    "empty",
    "future version",
    "an older version's, our key",
    "code, another key",
    "code, our key",
    "another ledger's, our key",
    "a longer history, our key",
    "another cut, our key",
]


@pytest.mark.parametrize("how", TAMPERINGS)
def test_saved_totals_not_of_this_log_are_refused_and_the_log_folded_again(
    book: Book, tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    other = Book(tmp_path / "other")
    other.write(MONTHS[0], 10)
    other.write(MONTHS[1], 5)  # shorter than ``book``: only the root tells them apart
    book.snapshot()
    saved = _saved(book, tmp_path / "state")
    _start(book.log, saved)
    stranger = Signer(ec.generate_private_key(ec.SECP256R1()), saved.signer.cert_pem)
    _tamper(book, saved, how, other, stranger)
    other.ledger.close()
    saved.path.with_name("marker").write_bytes(saved.path.read_bytes())
    log = EmbeddedLog.of(book.ledger)
    fold = _start(log, saved)
    _assert_replayed(fold, log)
    assert not (tmp_path / "pwned").exists()
    # every record folded again (a resumed fold would not save yet), and saved anew
    assert saved.path.read_bytes() != saved.path.with_name("marker").read_bytes()
    reloaded = saved.load()
    assert reloaded is not None
    assert reloaded[1] == log.anchor()


def test_a_state_directory_that_cannot_be_written_costs_the_reports_nothing(
    book: Book, tmp_path: Path
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    fold = _start(book.log, _saved(book, blocked / "state"))
    _assert_replayed(fold, book.log)


def test_a_started_gateway_reports_from_the_totals_the_last_one_saved(
    book: Book, tmp_path: Path
) -> None:
    book.ledger.close()
    config = GatewayConfig(directory=book.ws.root, offchain_url=f"sqlite:///{tmp_path}/o-{{org}}")
    query = ReportQuery("AGENCY-A", None, None, None)
    reports._folds.clear()
    first = open_gateway(config)
    before = reports.compute(first, query)
    first.close()
    assert (reports.state_dir(first) / "report-totals-4.bin").exists()
    book._open()
    book.write(MONTHS[1], 2)
    book.ledger.close()
    reports._folds.clear()  # a new process
    started = open_gateway(config)
    after = reports.compute(started, query)
    (fold,) = reports._folds.values()
    assert fold.unsaved == 6  # two grants and a delivery for each of the two organisations
    log = started.log
    assert after == compute_report(log.records(log.anchor()), anchor=after["anchor"], query=query)
    assert after["summary"]["entitlements_granted"] == before["summary"]["entitlements_granted"] + 2
    started.close()
    book._open()
