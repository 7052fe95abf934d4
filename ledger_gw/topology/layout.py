"""One consortium directory split the way its parties hold it: each on its own machine.

    <site>/node/                 consortium.json, node/log.key (and, once it has served,
                                 node/tls.pem and the ledger, which its first start
                                 makes if the key had none): no member's key
    <site>/<ORG>/                an agency's gateway: consortium.json, pseudonym.key,
                                 orgs/<ORG>/ only (its CA, signing and hand-over keys,
                                 its retired certificates, its TLS client certificate),
                                 node/tls.pem (the node's certificate, pinned), the
                                 session.key its workers share and its own off-chain
                                 database
    <site>/witness-<ORG>/        a member's witness: its key, its memory and the
                                 consortium file (whose log key it trusts)

The operator's directory keeps every member's keys (what `ledger-gw init` made); the
site copies out of it, by name, so that no running process is given another party's
key, nor what a gateway that once served from the operator's directory kept beside its
keys (receipts, outbox, claim index: another site's history, personal data among it).

A site is built whole in a directory beside it; only once all of it is made does the
operator's consortium file list its witnesses and the draft take the site's name. So a
step that fails leaves no half-made site, no key a rerun would trip over, and no
witness listed whose key is gone. Its directories and files have modes of their own,
whatever the umask. It is marked as laid out here, so that `consortium up --fresh`
deletes a site and never some other directory.
"""

from __future__ import annotations

import glob
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from ledger_gw.consortium import Consortium, changing
from ledger_gw.errors import ConfigError
from ledger_gw.files import DIRECTORY, PUBLIC, SECRET, make_dirs, replace_file, write_file
from ledger_gw.services.config import create_session_key
from ledger_gw.witness import WitnessHome
from ledger_gw.workspace import NO_LEDGER_YET

CONSORTIUM_FILE = "consortium.json"
LOG_KEY = Path("node") / "log.key"
NODE_CERTIFICATE = Path("node") / "tls.pem"
#: In a site's own directory: it was laid out here, and `up --fresh` may delete it.
SITE_MARK = "laid-out-by-ledger-gw"
#: What an agency's gateway is given of its organisation's directory: its CA, signing
#: identity (and one a rotation cut short staged, for `key rotate` to finish), hand-over
#: key and, under ``retired/``, its rotated-out certificates.
MEMBER_FILES = (
    "ca.key", "ca.pem", "signer.key", "signer.pem", "signer.key.new", "signer.pem.new",
    "handover.key",
)  # fmt: skip
RETIRED = "retired"
_SITE_MARK_TEXT = (
    "`ledger-gw consortium prepare` (or `up`) laid out this site: `ledger-gw consortium\n"
    "up --fresh` deletes it. It deletes no directory without this file; never copy it\n"
    "into one.\n"
)


@dataclass(frozen=True)
class Layout:
    """Where each party of one site keeps its own files."""

    site: Path
    agencies: tuple[str, ...]
    witnesses: tuple[str, ...]

    @property
    def node(self) -> Path:
        return self.site / "node"

    def agency(self, org: str) -> Path:
        return self.site / org

    def witness(self, org: str) -> Path:
        return self.site / f"witness-{org}"

    def parties(self) -> list[Path]:
        return [self.node, *map(self.agency, self.agencies), *map(self.witness, self.witnesses)]


def lay_out(
    operator: Path,
    site: Path,
    agencies: Sequence[str],
    witnesses: Sequence[str],
    witness_urls: dict[str, str],
) -> Layout:
    """The site as :func:`laying_out` makes it, with nothing more in it."""
    with laying_out(operator, site, agencies, witnesses, witness_urls) as draft:
        pass
    return replace(draft, site=site)


@contextmanager
def laying_out(
    operator: Path,
    site: Path,
    agencies: Sequence[str],
    witnesses: Sequence[str],
    witness_urls: dict[str, str],
) -> Iterator[Layout]:
    """Give each party its own directory under ``site``, copied from the operator's: the
    witnesses' keys made in theirs and listed (key and URL, a quorum of all of them) in
    the consortium file every party gets. Yields the site as drafted, for the caller to
    add to; once the block ends, the draft becomes ``site``, then the operator's
    consortium file lists the witnesses too. If anything fails, neither happens."""
    with changing(operator / CONSORTIUM_FILE):  # no member added meanwhile is lost
        consortium = Consortium.load(operator / CONSORTIUM_FILE)
        for org in (*agencies, *witnesses):
            consortium.organisation(org)  # a clear error for a non-member
        for org in agencies:
            if consortium.organisation(org).role != "agency":
                raise ConfigError(f"{org} is not an agency: it runs no gateway")
        unlisted = [org for org in witnesses if org not in witness_urls]
        if unlisted:
            raise ConfigError(f"no URL for the witness of {', '.join(unlisted)}")
        _check_free(site)
        with _drafted(site) as root:
            draft = Layout(root, tuple(agencies), tuple(witnesses))
            for n, org in enumerate(witnesses, start=1):
                vkey = WitnessHome.create(draft.witness(org), org).signer().verifier.vkey
                consortium = consortium.with_witness(org, vkey, witness_urls[org], quorum=n)
            listed = (operator / CONSORTIUM_FILE).read_bytes()
            if witnesses:
                consortium.save(draft.node / CONSORTIUM_FILE)
                listed = (draft.node / CONSORTIUM_FILE).read_bytes()
            for party in draft.parties():
                write_file(party / CONSORTIUM_FILE, listed, PUBLIC)
            _copy(operator, draft.node, LOG_KEY, SECRET)
            first = (operator / NO_LEDGER_YET).exists()  # else the key has a ledger already
            if first:
                _copy(operator, draft.node, NO_LEDGER_YET, PUBLIC)
            for org in agencies:
                agency = draft.agency(org)
                _copy(operator, agency, "pseudonym.key", SECRET)
                _copy_member(operator / "orgs" / org, agency / "orgs" / org)
                create_session_key(agency / "session.key")
            yield draft
        if witnesses:
            write_file(operator / CONSORTIUM_FILE, listed, PUBLIC)
        if first:  # the key's first ledger is this site's node's: another site's would fork it
            (operator / NO_LEDGER_YET).unlink(missing_ok=True)


def pin_node_certificate(layout: Layout) -> None:
    """Give every gateway the certificate the node made on its first start."""
    for org in layout.agencies:
        _copy(layout.node, layout.agency(org), NODE_CERTIFICATE, PUBLIC)


def discard(site: Path, operator: Path | None = None) -> None:
    """Delete ``site`` if it is one laid out here (its mark says so): a mistyped path
    names some other directory, which is refused, never deleted. A site whose node never
    made its ledger gives the log key's first ledger back to ``operator``: one that did,
    deleted, leaves any later one under the key a fork (``--new-ledger``)."""
    if not site.exists() and not site.is_symlink():
        return
    if site.is_symlink() or not (site / SITE_MARK).is_file():
        raise ConfigError(
            f"{site} is not a site `ledger-gw consortium prepare` or `up` laid out (it "
            f"holds no {SITE_MARK}), so --fresh is not deleting it: give another --site, "
            "or delete it yourself",
            code="not_a_prepared_site",
        )
    unused = Layout(site, (), ()).node / NO_LEDGER_YET
    if operator is not None and unused.exists():
        write_file(operator / NO_LEDGER_YET, unused.read_bytes(), PUBLIC)
    shutil.rmtree(site)


def check_kept(site: Path) -> None:
    """Refuse a site to reuse whose directories are no longer as laid out: one a symlink
    would give a party's process, and what is issued into it, whatever directory it
    names (the operator's, with every member's keys); one others may write lets them
    swap a party's keys or the certificate it pins."""
    directories = [site]
    for root, names, _ in os.walk(site):
        directories += [Path(root, name) for name in names]
    redirected = [str(d) for d in directories if d.is_symlink()]
    if redirected:
        raise ConfigError(
            f"{', '.join(redirected)} in the site is a symlink: each party's directory "
            "holds its own files, so the site is not started from it"
        )
    loose = [str(d) for d in directories if d.stat().st_mode & 0o022]
    if loose:
        raise ConfigError(
            f"others may write {', '.join(loose)}: they could swap a party's keys, so the "
            "site is not started from it (chmod go-w, once you have checked its files)"
        )


@contextmanager
def _drafted(site: Path) -> Iterator[Path]:
    """A directory beside ``site`` to build it in, marked and renamed to ``site`` when
    the block ends, removed if the block raises: ``site`` is made whole or not at all.
    A draft a killed run left (marked from its start, every party's keys in it) is
    removed first; the caller holds the operator's consortium file, so no other run
    of it is drafting."""
    make_dirs(site.parent)
    for stale in site.parent.glob(f".{glob.escape(site.name)}.????????"):
        if not stale.is_symlink() and (stale / SITE_MARK).is_file():
            shutil.rmtree(stale)
    draft = Path(tempfile.mkdtemp(prefix=f".{site.name}.", dir=site.parent))
    try:
        os.chmod(draft, DIRECTORY)
        write_file(draft / SITE_MARK, _SITE_MARK_TEXT.encode(), PUBLIC)
        yield draft
        _check_free(site)
        replace_file(draft, site)  # over an empty directory, as over nothing
    except BaseException:
        shutil.rmtree(draft, ignore_errors=True)
        raise


def _check_free(site: Path) -> None:
    if site.is_symlink() or (site.exists() and (not site.is_dir() or any(site.iterdir()))):
        raise ConfigError(f"{site} exists: the site is prepared once")


def _copy(source: Path, target: Path, name: str | Path, mode: int) -> None:
    write_file(target / name, (source / name).read_bytes(), mode)


def _copy_member(source: Path, target: Path) -> None:
    """The member's own files of ``source`` (:data:`MEMBER_FILES`, its retired
    certificates) under ``target``, each no more open than its own and no one's but its
    owner's to write; nothing else found there."""
    if not source.is_dir():
        raise ConfigError(f"{source} is missing")
    names = [Path(name) for name in MEMBER_FILES if (source / name).is_file()]
    names += [p.relative_to(source) for p in sorted((source / RETIRED).glob("*.pem"))]
    make_dirs(target)
    for name in names:
        _copy(source, target, name, stat.S_IMODE((source / name).stat().st_mode) & 0o755)
