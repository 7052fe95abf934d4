"""The agency gateway's HTTP API: a thin Flask layer over `ledger_gw.services`."""

from __future__ import annotations

from api.app import create_app

__all__ = ["create_app"]
