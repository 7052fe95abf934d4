"""The organisation an off-chain store belongs to, so that a gateway of another one
pointed at it (a shared URL, a file restored in the wrong place) is refused.

The first gateway to migrate a store after this revision records its organisation.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("store_owner", sa.Column("org", sa.String(32), primary_key=True))


def downgrade() -> None:
    op.drop_table("store_owner")
