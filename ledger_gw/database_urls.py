"""Database URLs as operators give them: parsed, or refused in a message that never
shows their password."""

from __future__ import annotations

from sqlalchemy import exc as sql_errors
from sqlalchemy.engine import URL, make_url

from ledger_gw.errors import ConfigError


def database_url(url: str) -> URL:
    """``url`` parsed, or refused in a message that does not show its password."""
    try:
        return make_url(url)
    except (sql_errors.ArgumentError, ValueError):  # ValueError: a port that is no number
        raise ConfigError(f"{shown_url(url)!r} is not a database URL") from None


def shown_url(url: str) -> str:
    """A database URL as a message may show it: its password masked; of one that does
    not parse, all between its scheme and its last '@'."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sql_errors.ArgumentError, ValueError):
        credentials, at, host = url.rpartition("@")
        if not at:
            return url
        scheme, sep, _ = credentials.rpartition("://")
        return f"{scheme}{sep}***@{host}"
