"""Registrations listed a page at a time, oldest first, from the page's cursor.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_persons_created_at_id", "persons", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_persons_created_at_id", table_name="persons")
