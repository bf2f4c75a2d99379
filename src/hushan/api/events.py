"""The sync feed as Server-Sent Events: one response that streams a device's changes, catches
up, says so, then stays open and streams changes as they come (woken like a long-poll).

Changes come a page at a time: an event `changes` holding what `GET …/changes` answers
(`{"changes", "next_cursor", "more"}`), whose `id` is the cursor after it, so a client that
reconnects with `Last-Event-ID` goes on where it stopped. `caught_up` carries the cursor
reached (its `id` too, since skipped changes of purged conversations can move it with no
change to send). A comment line every 15 s keeps proxies from closing a quiet stream. An error
met mid-stream (the cursor expired under a long outage) ends it with an `error` event holding
the usual error body.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from pydantic_core import to_json

from hushan.api import schemas as s
from hushan.api.watch import ChangeWatcher
from hushan.domain.errors import HushanError
from hushan.domain.sync import ChangesPage

KEEP_ALIVE_SECONDS = 15.0
PAGE = 500


def event(name: str, seq: int, data: Any) -> bytes:
    return b"event: " + name.encode() + b"\nid: %d\ndata: " % seq + to_json(data) + b"\n\n"


async def change_events(
    pages: Callable[[int], Awaitable[ChangesPage]],
    watcher: ChangeWatcher,
    user_id: str,
    first: ChangesPage,
) -> AsyncIterator[bytes]:
    """The stream from `first` on; `pages(cursor)` reads the page after `cursor` (off the
    event loop)."""
    page = first
    async with watcher.waiting(user_id) as woken:
        try:
            while True:
                cursor = page.next_cursor
                if page.changes:
                    yield event("changes", cursor, s.changes_json(page))
                if page.more:
                    page = await pages(cursor)
                    continue
                yield event("caught_up", cursor, {"cursor": cursor})
                while True:
                    woken.clear()  # then look: a change after the look sets it again
                    page = await pages(cursor)
                    if page.next_cursor != cursor:
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woken.wait(), KEEP_ALIVE_SECONDS)
                        continue
                    yield b": keep-alive\n\n"
        except HushanError as error:
            body = {"error": {"code": error.code, "message": error.message}}
            yield b"event: error\ndata: " + to_json(body) + b"\n\n"
