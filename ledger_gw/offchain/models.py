"""SQLAlchemy 2 models of one organisation's off-chain database.

Personal data lives only here. The ledger holds the person's pseudonymous ID and the
keyed hashes of her documents; deleting her row and her documents' salts unlinks it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A moment stored in UTC and read back aware: SQLite keeps no offset, so without
    this a timestamp written aware came back naive and left the API without its zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a naive datetime has no place in the off-chain store")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    pass


class Person(Base):
    """A registered person: her identity attributes and the pseudonymous ID derived from them."""

    __tablename__ = "persons"
    # Registrations are listed oldest first, a page at a time from a cursor.
    __table_args__ = (Index("ix_persons_created_at_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # random UUID, stable
    pid: Mapped[str] = mapped_column(String(40), unique=True, index=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    documents: Mapped[list[Document]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )


class PersonAlias(Base):
    """A further ID her attributes derive, since a correction changed them: she keeps the
    ID the ledger knows her by, and is found by what she is called now. Erased with her."""

    __tablename__ = "person_aliases"

    pid: Mapped[str] = mapped_column(String(40), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)


class Document(Base):
    """An off-chain document (referral note, consent form) and the salt of its ledger hash."""

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    hash: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    person: Mapped[Person] = relationship(back_populates="documents")


class ApiToken(Base):
    """A bearer token, stored as its SHA-256 only; scoped to one organisation and one role."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    org: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class DashboardSession(Base):
    """A dashboard log-in, named by a random ID in the signed cookie: logging out ends it
    here, so a copy of the cookie replayed afterwards is refused."""

    __tablename__ = "dashboard_sessions"

    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    token_id: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class AuditRecord(Base):
    """Who asked what: token, route, pseudonym, outcome. Never a request body."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    token_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    role: Mapped[str | None] = mapped_column(String(32), nullable=True)
    method: Mapped[str] = mapped_column(String(8))
    route: Mapped[str] = mapped_column(String(200))
    pid: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    status: Mapped[int] = mapped_column(Integer)
    code: Mapped[str | None] = mapped_column(String(64), nullable=True)


class SealedHandover(Base):
    """A referral hand-over package, sealed to the receiving organisation: kept only
    until that organisation has fetched it, or until it expires."""

    __tablename__ = "handovers"

    referral_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # Erasing her deletes the package (None: sealed before packages named their person).
    person_id: Mapped[str | None] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), index=True
    )
    to_org: Mapped[str] = mapped_column(String(32))
    document_hash: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)


class SeenNonce(Base):
    """A signed gateway-to-gateway request already answered: the same request sent again
    is refused while its time is still within the accepted window."""

    __tablename__ = "seen_nonces"

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    org: Mapped[str] = mapped_column(String(32))
    seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)


class StoreOwner(Base):
    """The one organisation whose store this is: another's gateway opening it would
    read her people and write its own among them."""

    __tablename__ = "store_owner"

    org: Mapped[str] = mapped_column(String(32), primary_key=True)
