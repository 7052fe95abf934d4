"""Tables of the embedded ledger (SQLAlchemy Core; SQLite or PostgreSQL).

The tables keyed by something other than an integer are WITHOUT ROWID on SQLite: one
B-tree instead of a table and its primary-key index. World state keeps each key's
current value only, and no copy of what the log holds already: a value quotes the part
of its entry it contains (embedded.quoting). Earlier values are what replaying the log
gives, as verification does.

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

# On SQLite, an INTEGER primary key is the table's rowid: the table's own B-tree is keyed
# by it, with no separate index (SQLite's INTEGER holds 64 bits).
Position = BigInteger().with_variant(Integer(), "sqlite")

# One row per committed transaction: the leaf data of the Merkle tree, each entry in
# its stored form (embedded.packing).
log = Table(
    "log",
    metadata,
    Column("seq", Position, primary_key=True, autoincrement=False),
    Column("tx_id", LargeBinary(32), nullable=False, unique=True),  # the SHA-256, not hex
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

# World state: each key's current value and the log position that wrote it. The value
# is stored (embedded.packing) without the part of that entry it quotes, if any:
# ``quote_at`` is where the part goes, ``quote_from`` and ``quote_len`` where the entry
# (as written) holds it.
state = Table(
    "state",
    metadata,
    Column("key", LargeBinary, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("value", LargeBinary, nullable=False),
    Column("quote_at", Integer, nullable=True),
    Column("quote_from", Integer, nullable=True),
    Column("quote_len", Integer, nullable=True),
    sqlite_with_rowid=False,
)

# The node's signed tree heads, with any cosignatures appended to the note.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("size", Position, primary_key=True, autoincrement=False),
    Column("note", Text, nullable=False),
)

# The sizes whose checkpoint met the consortium's witness quorum when its cosignatures
# were stored: the latest witnessed checkpoint is then one lookup, however many newer
# ones the witnesses have not cosigned (while they are down, one a commit). Only a
# pointer: the note is verified again whenever it is read.
witnessed = Table(
    "witnessed",
    metadata,
    Column("size", Position, primary_key=True, autoincrement=False),
)
