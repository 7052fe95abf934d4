"""Referral hand-over packages awaiting their receiver, and the nonces of the signed
requests that fetched them.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handovers",
        sa.Column("referral_id", sa.String(36), primary_key=True),
        sa.Column("to_org", sa.String(32), nullable=False),
        sa.Column("document_hash", sa.String(64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_handovers_expires_at", "handovers", ["expires_at"])
    op.create_table(
        "seen_nonces",
        sa.Column("nonce", sa.String(32), primary_key=True),
        sa.Column("org", sa.String(32), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_seen_nonces_seen_at", "seen_nonces", ["seen_at"])


def downgrade() -> None:
    op.drop_table("seen_nonces")
    op.drop_table("handovers")
