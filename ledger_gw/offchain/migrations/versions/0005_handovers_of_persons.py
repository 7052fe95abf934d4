"""A hand-over package names the registration it was sealed from: erasing her deletes it.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Packages sealed before this revision name no one; they expire within days, and
    # their release checks that her registration is still here.
    with op.batch_alter_table("handovers") as batch:
        batch.add_column(sa.Column("person_id", sa.String(36), nullable=True))
        batch.create_foreign_key(
            "fk_handovers_person_id", "persons", ["person_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_handovers_person_id", ["person_id"])


def downgrade() -> None:
    with op.batch_alter_table("handovers") as batch:
        batch.drop_index("ix_handovers_person_id")
        batch.drop_constraint("fk_handovers_person_id", type_="foreignkey")
        batch.drop_column("person_id")
