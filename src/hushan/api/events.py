"""The sync feed as Server-Sent Events: one response that streams a device's changes, catches
up, says so, then stays open and streams changes as they come (woken like a long-poll).

FastAPI's `EventSourceResponse` writes the events this generator yields, and a `: ping`
comment whenever 15 s pass without one, so that proxies keep a quiet stream open.

Changes come a page at a time: an event `changes` holding what `GET …/changes` answers
(`{"changes", "next_cursor", "more"}`), whose `id` is the cursor after it, so a client that
reconnects with `Last-Event-ID` goes on where it stopped. `caught_up` carries the cursor
reached (its `id` too, since skipped changes of purged conversations can move it with no
change to send). An error met mid-stream (the cursor expired under a long outage) ends it
with an `error` event holding the usual error body.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi.sse import ServerSentEvent
from pydantic_core import to_json

from hushan.api import shapes
from hushan.api.watch import ChangeWatcher
from hushan.domain.errors import HushanError
from hushan.domain.sync import ChangesPage

# A stream that was not woken looks at its feed this often all the same: a missed wake-up
# (the watcher reconnecting to the database) costs at most this long.
RECHECK_SECONDS = 15.0
PAGE = 500


def event(name: str, data: Any, seq: int | None = None) -> ServerSentEvent:
    # Encoded here by pydantic-core, as replies are: FastAPI's own encoder is far slower on a
    # page of 500 changes.
    return ServerSentEvent(
        event=name, id=None if seq is None else str(seq), raw_data=to_json(data).decode()
    )


async def change_events(
    pages: Callable[[int], Awaitable[ChangesPage]],
    watcher: ChangeWatcher,
    user_id: str,
    first: ChangesPage,
) -> AsyncIterator[ServerSentEvent]:
    """The stream from `first` on; `pages(cursor)` reads the page after `cursor` (off the
    event loop)."""
    page = first
    async with watcher.waiting(user_id) as woken:
        try:
            while True:
                cursor = page.next_cursor
                if page.changes:
                    yield event("changes", shapes.changes_json(page), cursor)
                if page.more:
                    page = await pages(cursor)
                    continue
                yield event("caught_up", {"cursor": cursor}, cursor)
                while True:
                    woken.clear()  # then look: a change after the look sets it again
                    page = await pages(cursor)
                    if page.next_cursor != cursor:
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woken.wait(), RECHECK_SECONDS)
        except HushanError as error:
            yield event("error", {"error": {"code": error.code, "message": error.message}})
