"""Registrations: a person's personal data, kept off-chain by the agency that collected it.

Erasure withdraws the consents this agency recorded for her, then deletes her record
and every document with its salt (crypto-shredding): the ledger is not rewritten, and
the keyed hashes on it no longer link to anything.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from typing import Any

from sqlalchemy import delete, select, text, tuple_, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chaincode.fields import PID, matches
from ledger_gw.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    RejectedError,
    TransitionError,
    UnavailableError,
    ValidationError,
)
from ledger_gw.interfaces import Deferring
from ledger_gw.offchain.models import Document, Person, PersonAlias, utcnow
from ledger_gw.pseudonym import (
    PseudonymError,
    canonical_attributes,
    check_distinguishable,
    document_hash,
    new_held_id,
)
from ledger_gw.pseudonym import new_salt as _new_salt
from ledger_gw.services import handover, queries
from ledger_gw.services.access import Caller
from ledger_gw.services.gateway import Gateway
from ledger_gw.services.pages import (
    DEFAULT_LIMIT,
    Key,
    Page,
    check_limit,
    decode_as,
    encode,
    page_of,
)

DOCUMENT_KINDS = frozenset({"referral", "consent_form", "other"})
MAX_DOCUMENT_BYTES = 1 << 20
#: A search's terms at most: a name and a birth date fit many times over, and each
#: registration a page reads is compared with them.
MAX_SEARCH_CHARS = 200


def check_attributes(attributes: Mapping[str, Any], *, new: bool = False) -> None:
    """``new``: they are to derive the keyed ID of a person not found under any ID they
    may have been given, so they must tell her apart from others of her name
    (`check_distinguishable`)."""
    try:
        canonical_attributes(attributes)
        if new:
            check_distinguishable(attributes)
    except PseudonymError as exc:
        raise ValidationError(str(exc), code=exc.code, field="attributes") from None


def derive_pid(gateway: Gateway, attributes: Mapping[str, Any] | None, held_id: str | None) -> str:
    """The keyed pseudonymous ID of identity attributes, or a checked person-held ID."""
    if held_id is not None:
        if not matches(PID, held_id) or not held_id.startswith("h."):
            raise ValidationError(
                "held_id is not a person-held ID", code="invalid_held_id", field="held_id"
            )
        return held_id
    if attributes is None:
        raise ValidationError(
            "give attributes or held_id", code="missing_field", field="attributes"
        )
    check_attributes(attributes, new=True)
    return gateway.pseudonym_key.pseudonym(attributes)


def _view(person: Person) -> dict[str, Any]:
    return {
        "person_id": person.id,
        "pid": person.pid,
        "attributes": person.attributes,
        "created_at": _aware(person.created_at),
        "updated_at": _aware(person.updated_at),
    }


class AlreadyRegisteredError(ConflictError):
    """She is registered here already: the answer names her registration, which only
    this agency's callers can read."""

    def __init__(self, person_id: str) -> None:
        super().__init__(
            "this person is already registered", code="already_registered", field="pid"
        )
        self.person_id = person_id

    @property
    def details(self) -> dict[str, Any]:
        return {"person_id": self.person_id}


def _not_found(person_id: str) -> NotFoundError:
    return NotFoundError(f"no registration {person_id}", code="registration_not_found")


def register(
    gateway: Gateway,
    caller: Caller,
    attributes: Mapping[str, str],
    *,
    id_scheme: str = "keyed",
    held_id: str | None = None,
    referral_id: str | None = None,
) -> dict[str, Any]:
    """Register her under the ID her attributes derive (or one they were given that the
    ledger knows, `_ledger_pid`), a person-held ID, or, with `referral_id`, the one the
    ledger records for a referral this organisation accepted: her attributes may have
    changed since, or the referring agency used another scheme, and she must stay one
    person across the two agencies. Under the referral's keyed ID, the IDs her
    attributes derive are her aliases, as after a correction (`correct`)."""
    check_attributes(attributes)
    if referral_id is not None:
        if held_id is not None or id_scheme != "keyed":
            raise ValidationError(
                "a registration from a referral takes the referral's pseudonymous ID: "
                "give neither held_id nor id_scheme",
                code="conflicting_fields",
                field="referral_id",
            )
        pid = handover.referred_pid(gateway, caller, referral_id)
    elif held_id is not None:
        pid = derive_pid(gateway, None, held_id)
    elif id_scheme == "held":
        pid = new_held_id()
    else:
        pid = None  # derived once she is not found under an ID she was given
    # Here already: under that ID, or by her attributes, under any ID they may have been
    # given (the one they derive now first, then under an earlier key version, or with
    # fewer folds).
    known = [] if pid is None else [pid]
    if referral_id is not None or (held_id is None and id_scheme == "keyed"):
        known.extend(gateway.pseudonym_key.pseudonyms(attributes))
    # The ID she gets when not found here, read before her store is held: the ledger may be slow.
    fresh = pid if pid is not None else _ledger_pid(gateway, caller, known)
    store = gateway.store(caller.org)
    try:
        with store.session() as s:
            found = _found(s, known, hold=True)
            if found:
                raise AlreadyRegisteredError(found[0][0])
            if pid is None:
                check_attributes(attributes, new=True)
                pid = fresh
            person = Person(id=str(uuid.uuid4()), pid=pid, attributes=dict(attributes))
            s.add(person)
            s.flush()
            if referral_id is not None:  # her ID is the referral's, whatever hers derive
                aliases = _aliases(gateway, pid, attributes)  # none registered here: looked up
                s.add_all(PersonAlias(pid=each, person_id=person.id) for each in aliases)
            return _view(person)
    except UnavailableError as exc:
        # Registered under that ID since the lookup, by a request alongside (a form sent
        # twice): PostgreSQL's lookup does not wait for a registration not yet committed.
        if isinstance(exc.__cause__, IntegrityError):
            with store.reading() as s:
                existing = s.scalar(select(Person.id).where(Person.pid == pid))
            if existing is not None:
                raise AlreadyRegisteredError(existing) from None
        raise


def search(
    gateway: Gateway,
    caller: Caller,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[dict[str, Any]]:
    """The agency's own registrations, oldest first; with `q`, those whose attribute
    values, pseudonymous ID or person ID contain it (case-insensitive). Only this
    agency's database is searched: no other agency's people, and nothing on the ledger.

    Read in order from where the cursor points and no further than the page needs: an
    agency's list of people grows without bound, its pages must not cost more with it.
    A search reads at most MAX_SCANNED of them a page (each one decrypted to be
    searched): a page it ends short of `limit`, even empty, has a cursor where the
    search goes on."""
    check_limit(limit)
    if q is not None and len(q) > MAX_SEARCH_CHARS:
        raise ValidationError(f"search terms are at most {MAX_SEARCH_CHARS} characters", field="q")
    needle = (q or "").casefold()
    query = select(Person).order_by(Person.created_at, Person.id)
    if cursor:
        after = decode_as("registrations", cursor, _after)
        query = query.where(tuple_(Person.created_at, Person.id) > after)
    if not needle:
        query = query.limit(limit + 1)
    with (
        gateway.store(caller.org).reading() as s,
        # Streamed (a server-side cursor on PostgreSQL): closed where the page ends.
        closing(s.scalars(query.execution_options(yield_per=_CHUNK))) as rows,
    ):
        people = (_view(p) for p in rows)
        if not needle:
            return page_of("registrations", people, _position, limit)
        return _searched(people, needle, limit)


_CHUNK = 500  # rows fetched at a time while searching
#: Registrations a page of a search reads at most.
MAX_SCANNED = 5_000


def _searched(people: Iterable[dict[str, Any]], needle: str, limit: int) -> Page[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for scanned, view in enumerate(people, 1):
        if needle in _haystack(view):
            found.append(view)
            if len(found) > limit:
                return Page(found[:limit], encode("registrations", _position(found[limit - 1])))
        if scanned >= MAX_SCANNED:
            return Page(found, encode("registrations", _position(view)))
    return Page(found, None)


def _after(key: Key) -> tuple[dt.datetime, str]:
    """The (created_at, person_id) a cursor of this list names."""
    at, person_id = key
    moment = dt.datetime.fromisoformat(at)
    if moment.tzinfo is None:
        raise ValueError("a time with no zone")
    return moment, person_id


def _haystack(view: Mapping[str, Any]) -> str:
    values = [str(v) for v in view["attributes"].values()]
    return "\n".join([view["person_id"], view["pid"], *values]).casefold()


def _position(view: Mapping[str, Any]) -> tuple[str, str]:
    return (view["created_at"].isoformat(), view["person_id"])


def _aware(moment: dt.datetime) -> dt.datetime:
    """UTC, as stored: SQLite keeps no time zone, and a time without one is not an RFC
    3339 date-time (what the API documents)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def get(gateway: Gateway, caller: Caller, person_id: str) -> dict[str, Any]:
    with gateway.store(caller.org).session() as s:
        person = s.get(Person, person_id)
        if person is None:
            raise _not_found(person_id)
        return _view(person)


def correct(
    gateway: Gateway, caller: Caller, person_id: str, attributes: Mapping[str, str]
) -> dict[str, Any]:
    """Correct her personal data. Her pseudonymous ID stays: the ledger refers to it. The
    IDs her corrected attributes derive become her aliases, so that a lookup by them
    finds her rather than registering her again; attributes by which a lookup
    (`keyed_pid`) finds another registration here, even attributes that get no aliases,
    are refused (AlreadyRegisteredError, naming it), and nothing is changed.

    Her record is held until committed: an erasure at the same time has her gone, or
    waits."""
    check_attributes(attributes)
    store = gateway.store(caller.org)
    with store.session() as s:
        person = s.get(Person, person_id, with_for_update=True)
        if person is None:
            raise _not_found(person_id)
        aliases = _aliases(gateway, person.pid, attributes)
        found = _found(s, _looked_up(gateway, person.pid, attributes), hold=True)
        other = next((each for each, _ in found if each != person.id), None)
        if other is not None:
            raise AlreadyRegisteredError(other)
        s.execute(delete(PersonAlias).where(PersonAlias.person_id == person.id))
        s.add_all(PersonAlias(pid=each, person_id=person.id) for each in aliases)
        person.attributes = dict(attributes)
        person.updated_at = utcnow()
        s.flush()
        view = _view(person)
    store.purge_deleted()  # what she corrected leaves the WAL, or the dead rows
    return view


def _aliases(gateway: Gateway, pid: str, attributes: Mapping[str, str]) -> list[str]:
    """The IDs her attributes derive (`PseudonymKey.pseudonyms`) other than her own.
    None for a person-held ID, which is never derived from attributes, nor for attributes
    that do not tell her apart from others of her name (`check_distinguishable`): no new
    ID is derived from those, and anyone of her name would find her by them."""
    if pid.startswith("h."):
        return []
    try:
        check_distinguishable(attributes)
    except PseudonymError:
        return []
    return [each for each in gateway.pseudonym_key.pseudonyms(attributes) if each != pid]


def _looked_up(gateway: Gateway, pid: str, attributes: Mapping[str, str]) -> Sequence[str]:
    """The IDs a lookup by her attributes goes by (`keyed_pid`, `register`): every one
    they may have been given, those of attributes that get no aliases too, since one
    registered by them before the 1 January rule is found by them. None for a
    person-held ID, whose registration looks up none."""
    return () if pid.startswith("h.") else gateway.pseudonym_key.pseudonyms(attributes)


#: The advisory lock space of IDs a registration or a correction is about to take.
_ID_LOCKS = 0x50494453  # "PIDS"


def _found(s: Session, ids: Sequence[str], *, hold: bool = False) -> list[tuple[str, str]]:
    """The registrations these IDs name, as her pseudonymous ID or as an alias: (person
    ID, pid) each, in the order of the first of the IDs that names it. One query, however
    many the IDs.

    ``hold``: the IDs are about to be taken, as a pid or as aliases (two tables, so no one
    unique key keeps two registrations apart). On PostgreSQL each is locked until the
    transaction ends, in one order, so that a registration or a correction to them at the
    same time waits and then finds this one; SQLite's writers queue already."""
    order = {each: rank for rank, each in enumerate(dict.fromkeys(ids))}
    if not order:
        return []
    if hold and s.get_bind().dialect.name == "postgresql":
        lock = text("SELECT pg_advisory_xact_lock(:space, hashtext(:id))")
        for each in sorted(order):
            s.execute(lock, {"space": _ID_LOCKS, "id": each})
    named = union_all(
        select(Person.id, Person.pid, Person.pid.label("by")).where(Person.pid.in_(list(order))),
        select(Person.id, Person.pid, PersonAlias.pid)
        .join(PersonAlias, PersonAlias.person_id == Person.id)
        .where(PersonAlias.pid.in_(list(order))),
    )
    rows = sorted(s.execute(named), key=lambda row: order[row[2]])
    return list(dict.fromkeys((person_id, pid) for person_id, pid, _ in rows))


def erase(gateway: Gateway, caller: Caller, person_id: str) -> str:
    """Erase her here: withdraw on the ledger every consent this organisation recorded
    for her that is still active, so that nothing it shared on her behalf is shared any
    more, then delete her record, documents, salts and any hand-over package sealed from
    them. Returns the pid for the audit log.

    Her consents are read once more after her deletion is written and before it is
    committed, and what was recorded meanwhile is withdrawn too: until then she is held
    (her row, or the whole store on SQLite), so the erasure takes effect at that last
    read, and a consent recorded after it is the agency's new word. Her person ID is
    noted in the store's erasure journal before the commit, so that a backup restored
    from before is not served again (OffchainStore.erased).

    A withdrawal the ledger refuses (ConflictError, `consent_not_withdrawn`) or cannot
    take now (its FaultError) refuses the erasure, and nothing is deleted: a retry
    withdraws what is left. One kept in an offline gateway's outbox counts: it is logged when the
    node returns. A consent recorded offline and still in the outbox refuses it too
    (`_no_consent_queued`)."""
    store = gateway.store(caller.org)
    with store.reading() as s:
        pid = s.scalar(select(Person.pid).where(Person.id == person_id))
    if pid is not None:
        _withdraw_consents(gateway, caller, pid)  # before holding her: the ledger may be slow
        with store.session() as s:
            person = s.get(Person, person_id, with_for_update=True)
            if person is None:
                pid = None  # erased meanwhile
            else:
                s.delete(person)  # the database deletes her documents and packages with her
                s.flush()
                _withdraw_consents(gateway, caller, pid)  # those recorded since the first read
                store.note_erased(person_id)
    store.purge_deleted()  # a retry after a crash too: what was erased leaves the WAL
    if pid is None:
        raise _not_found(person_id)
    return pid


#: Where the event IDs of an erasure's withdrawals come from: one per consent, so that
#: a retry sends the same event again, which the ledger replays (a copy still in the
#: outbox too), rather than a second withdrawal it would refuse.
_WITHDRAWALS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:referral-ledger:erasure:consent.revoked")


def _withdraw_consents(gateway: Gateway, caller: Caller, pid: str) -> None:
    """Record `consent.revoked` for each active consent the caller's organisation
    recorded for her, whatever its purposes: she asked it to erase her, so it no longer
    answers for any (its consent form is erased with her). Another member's consents
    stay theirs: each opens that member's records only (chaincode.visibility)."""
    _no_consent_queued(gateway, caller)
    try:
        consents = queries.consents(gateway, caller, pid)["consents"]
        withdrawals = [
            {
                "event_id": str(uuid.uuid5(_WITHDRAWALS, c["consent_id"])),
                "type": "consent.revoked",
                "consent_id": c["consent_id"],
                "reason": "person_request",
            }
            for c in consents
            if c["collected_by"] == caller.org and c["active"]
        ]
        if not withdrawals:
            return
        for outcome in gateway.client(caller).submit_many(withdrawals):
            # revoked since it was read (she withdrew it elsewhere too): as wanted
            if outcome.error is not None and not isinstance(outcome.error, TransitionError):
                raise outcome.error
    except RejectedError as exc:
        raise ConflictError(
            f"the ledger refused to withdraw her consents ({exc.code}: {exc}); nothing was erased",
            code="consent_not_withdrawn",
        ) from exc


def _no_consent_queued(gateway: Gateway, caller: Caller) -> None:
    """A consent this organisation recorded while its log node was out of reach waits in
    its outbox, where no answer of the node shows it: withdrawn by no read of the
    erasure, it would be logged, active, once she is gone. Until the outbox has handed
    it over (within seconds of the node's return) the erasure is refused (503), and
    nothing is deleted."""
    ledger = gateway.ledger
    if not isinstance(ledger, Deferring):
        return
    pending = ledger.outbox_items(caller.org, 0, "pending")
    if any(item["type"] == "consent.granted" for item in pending):
        raise UnavailableError(
            "a consent this organisation recorded offline still waits in its outbox for the "
            "log node: nothing was erased; send the erasure again once it is logged",
            code="consent_queued",
        )


def add_document(
    gateway: Gateway, caller: Caller, person_id: str, kind: str, content: bytes
) -> dict[str, Any]:
    """Store a document off-chain; its keyed hash is what an event may carry."""
    if kind not in DOCUMENT_KINDS:
        raise ValidationError("kind is not a document kind", code="invalid_code", field="kind")
    if len(content) > MAX_DOCUMENT_BYTES:
        raise ValidationError("documents are limited to 1 MiB", code="too_large", field="content")
    with gateway.store(caller.org).session() as s:
        # held until committed: an erasure at the same time has her gone, or waits
        person = s.get(Person, person_id, with_for_update=True)
        if person is None:
            raise _not_found(person_id)
        salt = _new_salt()
        doc = Document(
            id=str(uuid.uuid4()),
            person_id=person.id,
            kind=kind,
            salt=salt,
            content=content,
            hash=document_hash(salt, content),
        )
        s.add(doc)
        s.flush()
        return {"document_id": doc.id, "kind": kind, "hash": doc.hash, "pid": person.pid}


def get_document(
    gateway: Gateway, caller: Caller, person_id: str, document_id: str
) -> dict[str, Any]:
    with gateway.store(caller.org).session() as s:
        doc = s.get(Document, document_id)
        if doc is None or doc.person_id != person_id:
            raise NotFoundError(f"no document {document_id}", code="document_not_found")
        return {
            "document_id": doc.id,
            "kind": doc.kind,
            "hash": doc.hash,
            "content": doc.content.decode("utf-8", errors="replace"),
            "created_at": doc.created_at,
        }


def is_registered(gateway: Gateway, caller: Caller, pid: str) -> bool:
    with gateway.store(caller.org).session() as s:
        return s.scalar(select(Person.id).where(Person.pid == pid)) is not None


def keyed_pid(gateway: Gateway, caller: Caller, attributes: Mapping[str, Any]) -> str:
    """Her keyed ID: the one her attributes derive, unless this agency registered her
    under another they may have been given, under an earlier key version or with fewer
    folds, or under the one she kept when her attributes were corrected (the ledger
    knows her by that one); not registered here, the one the ledger knows her by
    (`_ledger_pid`)."""
    check_attributes(attributes)
    given = gateway.pseudonym_key.pseudonyms(attributes)  # the one they derive now first
    with gateway.store(caller.org).reading() as s:
        found = _found(s, given)
    if not found:
        check_attributes(attributes, new=True)
        return _ledger_pid(gateway, caller, given)
    return found[0][1]


def _ledger_pid(gateway: Gateway, caller: Caller, given: Sequence[str]) -> str:
    """The ID a person this agency has not registered gets: of those her attributes may
    have been given (`PseudonymKey.pseudonyms`, the one they derive now first), the first
    the ledger holds an event of, else the one they derive now. Another agency may have
    registered her before a key rotation or a fold, and recorded her assistance under
    that ID: under another, a grant here would not be flagged a possible duplicate of
    hers, nor her history read before giving. Events the caller may not see count too (a
    query's `withheld`). One query an ID, none when there is one; while the ledger
    cannot be read (a log node out of reach), the one they derive now."""
    if len(given) < 2:
        return given[0]
    client = gateway.client(caller)
    try:
        for each in given:
            held = client.history(each, "deduplication")
            if held["events"] or held["withheld"]:
                return each
    except UnavailableError:
        pass
    return given[0]


def check_key_versions(gateway: Gateway) -> None:
    """Refuse a pseudonymisation key file older than the registrations it would serve:
    one here under a version newer than the file's current one shows a copy from before
    a rotation put back, under which every new ID would be derived with a key the
    consortium left (perhaps because it leaked), apart from the other members' IDs. Read
    at start: every keyed ID registered here, as a pid or as an alias."""
    current = gateway.pseudonym_key.version
    for org, store in gateway.stores.items():
        with store.reading() as s:
            for column in (Person.pid, PersonAlias.pid):
                known = (column.not_like(f"k{v}.%") for v in range(1, current + 1))
                newer = s.scalar(select(column).where(column.like("k%"), *known).limit(1))
                version = newer[1 : newer.index(".")] if newer else "0"
                if int(version) > current:
                    raise ConfigError(
                        f"{org} registered people under pseudonymisation key version "
                        f"k{version}, newer than k{current}, the current one of the key "
                        "file: it is an older copy (put back from before a rotation); give "
                        "the gateway the consortium's pseudonym.key",
                        code="pseudonym_key_rolled_back",
                    )
