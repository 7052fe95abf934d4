"""Alembic environment: run programmatically on a connection the store hands over."""

from __future__ import annotations

from alembic import context

from ledger_gw.offchain.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
