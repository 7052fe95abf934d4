"""Tables of the embedded ledger (SQLAlchemy Core; SQLite or PostgreSQL).

The tables keyed by something other than an integer are WITHOUT ROWID on SQLite: one
B-tree instead of a table and its primary-key index. World state is split in two so
that each write touches one small random-keyed row: `state` maps a key to the write
that made its current value (rows of a hundred bytes, dense pages, few splits), and
`versions` holds every value ever written, appended in log order.

Keys are stored as UTF-8 bytes: Fabric's composite keys contain U+0000, which
PostgreSQL text cannot hold, and byte order is code point order, as Fabric sorts.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# One row per committed transaction: the leaf data of the Merkle tree.
log = Table(
    "log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("tx_id", String(64), nullable=False, unique=True),
    Column("timestamp", String(32), nullable=False),
    Column("entry", LargeBinary, nullable=False),
)

# Each certificate that signed an entry, once: entries name it by reference (SHA-256 of
# its DER), which the leaf commits to, so a row is checked by hashing it. Written in the
# transaction that appends its first entry.
certificates = Table(
    "certificates",
    metadata,
    Column("ref", String(64), primary_key=True),
    Column("pem", Text, nullable=False),
    sqlite_with_rowid=False,
)

# Hashes of every perfect subtree of the tree (level 0 = leaf hashes).
nodes = Table(
    "nodes",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
    sqlite_with_rowid=False,
)

# World state: which write made each key's current value (the idx-th write at seq), and
# that value itself when it is small (INLINE_MAX bytes at most): the contract's index
# entries, which it reads a person's range at a time, then need no lookup in `versions`.
state = Table(
    "state",
    metadata,
    Column("key", LargeBinary, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("idx", Integer, nullable=False),
    Column("value", LargeBinary, nullable=True),
    sqlite_with_rowid=False,
)
INLINE_MAX = 128

# Every value written: the idx-th write (in key order) of the transaction at seq.
versions = Table(
    "versions",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("value", LargeBinary, nullable=False),
    sqlite_with_rowid=False,
)

# The node's signed tree heads, with any cosignatures appended to the note.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("note", Text, nullable=False),
)
