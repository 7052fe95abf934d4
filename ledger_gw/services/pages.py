"""Cursor pagination over ordered lists: an opaque cursor names the last item a page
showed, so appending new items never shifts or repeats the next page.

A cursor is base64url of a small JSON array: the list it belongs to, then the sort key of
the last item shown. It carries no secret and grants nothing (every page is read with
the caller's own rights); a cursor of another list, or one that is not ours, is refused.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from ledger_gw import strict_json
from ledger_gw.errors import MalformedError, ValidationError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_CURSOR = 512

T = TypeVar("T")
Key = tuple[str, ...]


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next: str | None  # the cursor of the following page, None on the last one


def encode(kind: str, key: Key) -> str:
    raw = json.dumps([kind, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(kind: str, cursor: str) -> Key:
    """The key a cursor of list `kind` names; ValidationError for anything else."""
    return decode_as(kind, cursor, lambda key: key)


def decode_as(kind: str, cursor: str, read: Callable[[Key], T]) -> T:
    """What `read` makes of the key a cursor of list `kind` names; ValidationError for a
    cursor that list did not give, or whose key `read` refuses (ValueError).

    No lone surrogate nor NUL reaches a query: no key holds one, and neither can be sent
    to PostgreSQL, whose failure would answer a client's cursor as a database down."""
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = strict_json.loads(raw)
        if (
            not isinstance(value, list)
            or len(value) < 2
            or value[0] != kind
            or not all(isinstance(v, str) and "\x00" not in v for v in value)
        ):
            raise ValueError
        return read(tuple(value[1:]))
    except (ValueError, binascii.Error, MalformedError):
        raise ValidationError(
            "cursor is not one this list gave", code="invalid_cursor", field="cursor"
        ) from None


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(
            f"limit must be 1 to {MAX_LIMIT}", code="invalid_value", field="limit"
        )
    return limit


def paginate(
    kind: str,
    items: Sequence[T],
    key: Callable[[T], Key],
    cursor: str | None,
    limit: int = DEFAULT_LIMIT,
) -> Page[T]:
    """The page after `cursor` of `items`, which are sorted by `key`."""
    check_limit(limit)
    after = decode(kind, cursor) if cursor else None
    return page_of(kind, (i for i in items if after is None or key(i) > after), key, limit)


def page_of(kind: str, rest: Iterable[T], key: Callable[[T], Key], limit: int) -> Page[T]:
    """The first `limit` of `rest` (what follows a cursor, in order), read no further
    than one item past them: whether there is a next page."""
    shown = list(itertools.islice(rest, limit + 1))
    more = len(shown) > limit
    del shown[limit:]
    return Page(shown, encode(kind, key(shown[-1])) if more else None)
