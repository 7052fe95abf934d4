"""PostgreSQL samples no personal data into its planner statistics.

ANALYZE (which autovacuum runs on its own) copies sampled values of each column into
pg_statistic, where they outlive the rows an erasure deletes, as long as the table is
not analyzed again with rows left in it: her documents and their salts among them, and
with a salt a copy of her document is linked to the ledger's hash again. These columns
are sampled no more, and what was sampled of them is dropped: setting a column's type
again drops its statistics, rewriting nothing when the type is the same. SQLite keeps
statistics only when ANALYZE is run, which the gateway never runs.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: (table, column, its type): personal data, or what links the ledger to it.
PERSONAL_COLUMNS = (
    ("documents", "content", "BYTEA"),
    ("documents", "salt", "BYTEA"),
    ("handovers", "sealed", "BYTEA"),
    ("person_aliases", "pid", "VARCHAR(40)"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, kind in PERSONAL_COLUMNS:
        op.execute(
            f"ALTER TABLE {table} ALTER COLUMN {column} SET STATISTICS 0, "
            f"ALTER COLUMN {column} TYPE {kind}"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, _ in PERSONAL_COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STATISTICS -1")
