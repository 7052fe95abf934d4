"""Tokens expire; dashboard sessions are recorded so that logging out ends them.

Tokens issued before this revision are given the default lifetime from the upgrade on,
so that none is left valid forever and none stops working without notice.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

EXISTING_TOKENS_LIFETIME = dt.timedelta(days=90)


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    tokens = sa.table("api_tokens", sa.column("expires_at", sa.DateTime(timezone=True)))
    op.execute(
        tokens.update().values(expires_at=dt.datetime.now(dt.UTC) + EXISTING_TOKENS_LIFETIME)
    )
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.String(43), primary_key=True),
        sa.Column("token_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_dashboard_sessions_token_id", "dashboard_sessions", ["token_id"])


def downgrade() -> None:
    op.drop_table("dashboard_sessions")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
