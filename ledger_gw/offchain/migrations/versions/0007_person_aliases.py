"""The further IDs a corrected registration's attributes derive: a later lookup by
them finds her under the ID she keeps. Erasing her deletes them.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A registration corrected before this revision has none until it is corrected again.
    op.create_table(
        "person_aliases",
        sa.Column("pid", sa.String(40), primary_key=True),
        sa.Column(
            "person_id",
            sa.String(36),
            sa.ForeignKey("persons.id", ondelete="CASCADE"),
            nullable=False,
        ),
    )
    op.create_index("ix_person_aliases_person_id", "person_aliases", ["person_id"])


def downgrade() -> None:
    op.drop_table("person_aliases")
