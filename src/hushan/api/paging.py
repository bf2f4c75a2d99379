"""Cursor pagination, the one paging style of every list: `limit` (1-1000, default 100) and
`cursor`, the `next` of the page before, which the reply gives as `null` on the last page.

Pages are keyset pages, never offsets: each list is ordered by a key that is unique within it
and never changes for an item (a contact's id, a message's id, a token's creation time and id),
and a cursor holds the key of the last item sent. The next page starts after that key, so a
walk returns every item that exists for its whole length exactly once, whatever is added or
removed meanwhile; an offset would skip an item or repeat one each time an earlier one comes
or goes.

A cursor is URL-safe base64 (unpadded) of the JSON `[kind, key]`. Clients treat it as opaque;
the kind binds it to its list, so a cursor of one list is refused by another
(`invalid_cursor`), as is one that does not decode or whose key is not of its list's shape.
Nothing here is secret: a hand-made cursor is only another position in the caller's own list.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, Protocol, TypeVar

from fastapi import Query

from hushan.clock import from_micros, to_micros
from hushan.domain.errors import InvalidCursor

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Far above any cursor this module writes (a kind and a key of at most a few hundred bytes).
MAX_CURSOR_CHARS = 1024
MAX_KEY_INT = 2**63 - 1  # what a database integer holds
MAX_KEY_CHARS = 256  # ids are at most 64; an erased user's reference a little more

K = TypeVar("K")
T = TypeVar("T")


class KeyCodec(Protocol[K]):
    """A list's key as JSON in its cursor, and back."""

    def dump(self, key: K) -> Any: ...

    def load(self, raw: Any) -> K:
        """The key, or `InvalidCursor` when `raw` is not one of this shape."""
        ...


def _int(raw: Any) -> int:
    if type(raw) is not int or not 0 <= raw <= MAX_KEY_INT:
        raise InvalidCursor()
    return raw


def _text(raw: Any) -> str:
    if type(raw) is not str or not 0 < len(raw) <= MAX_KEY_CHARS or "\x00" in raw:
        raise InvalidCursor()
    try:
        raw.encode()  # JSON can spell a lone surrogate, which no database can compare
    except UnicodeEncodeError:
        raise InvalidCursor() from None
    return raw


class RowIdKey:
    """A row's id or sequence number (messages, notices, posts, requests, the audit log)."""

    def dump(self, key: int) -> Any:
        return key

    def load(self, raw: Any) -> int:
        return _int(raw)


class TextKey:
    """A user's id (contacts, blocks, the chat list, users)."""

    def dump(self, key: str) -> Any:
        return key

    def load(self, raw: Any) -> str:
        return _text(raw)


class TimedKey:
    """A moment that never changes for the item, then its id: lists kept in the order things
    were made (tokens, devices, a group's members)."""

    def dump(self, key: tuple[datetime, str]) -> Any:
        return [to_micros(key[0]), key[1]]

    def load(self, raw: Any) -> tuple[datetime, str]:
        if type(raw) is not list or len(raw) != 2:
            raise InvalidCursor()
        micros, ident = _int(raw[0]), _text(raw[1])
        try:
            return from_micros(micros), ident
        except OverflowError:  # past the year 9999
            raise InvalidCursor() from None


ROW_ID = RowIdKey()
TEXT = TextKey()
TIMED = TimedKey()


def encode(kind: str, codec: KeyCodec[K], key: K) -> str:
    data = json.dumps([kind, codec.dump(key)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(kind: str, codec: KeyCodec[K], cursor: str) -> K:
    if len(cursor) > MAX_CURSOR_CHARS:
        raise InvalidCursor()
    try:
        data = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        found = json.loads(data)
    except (UnicodeError, binascii.Error, ValueError):
        raise InvalidCursor() from None
    if type(found) is not list or len(found) != 2 or found[0] != kind:
        raise InvalidCursor("That cursor belongs to another list, or was altered.")
    return codec.load(found[1])


@dataclass(frozen=True, slots=True)
class Page(Generic[K]):
    """One page asked of a list: after which key (None: from the start), and how many."""

    kind: str
    codec: KeyCodec[K]
    after: K | None
    limit: int

    @property
    def fetch(self) -> int:
        """How many to read: one more than the page, which tells whether another follows."""
        return self.limit + 1

    def cut(self, found: Sequence[T], key: Callable[[T], K]) -> tuple[Sequence[T], str | None]:
        """The page's items among those fetched, and the `next` cursor (None on the last)."""
        if len(found) <= self.limit:
            return found, None
        shown = found[: self.limit]
        return shown, encode(self.kind, self.codec, key(shown[-1]))


Limit = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description=f"Items per page, 1-{MAX_LIMIT}."),
]
CursorQuery = Annotated[
    str | None,
    Query(description="The `next` of the previous page, as it came; none for the first page."),
]


def pages(kind: str, codec: KeyCodec[K]) -> Callable[..., Page[K]]:
    """The dependency that reads a list's `limit` and `cursor` (the cursor must be its own)."""

    def page(limit: Limit = DEFAULT_LIMIT, cursor: CursorQuery = None) -> Page[K]:
        after = None if cursor is None else decode(kind, codec, cursor)
        return Page(kind, codec, after, limit)

    return page
