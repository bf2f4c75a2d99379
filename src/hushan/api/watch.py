"""Long-poll waiting for the sync feed: clients wait on an asyncio event per user, set from one
thread per process that watches the store (`Store.watch_changes`) for changes committed by any
process. A waiting client costs an entry in a dict, not a query: the watcher's cost does not
grow with the number of clients."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from hushan.store.base import Store

log = logging.getLogger("hushan.api")
RETRY_SECONDS = 1.0


class ChangeWatcher:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._waiting: dict[str, set[asyncio.Event]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @asynccontextmanager
    async def waiting(self, user_id: str) -> AsyncIterator[asyncio.Event]:
        """An event set when the user's feed may have new changes. Register before checking
        the feed, so that no change between the check and the wait is missed."""
        self._start()
        event = asyncio.Event()
        self._waiting.setdefault(user_id, set()).add(event)
        try:
            yield event
        finally:
            events = self._waiting.get(user_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._waiting[user_id]

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _start(self) -> None:
        # Started by the first long-poll, on the loop: a process that never serves one never
        # watches.
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(target=self._watch, name="hushan-watch", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        assert self._loop is not None
        while not self._stop.is_set():
            try:
                watching = self._store.watch_changes(self._stop)
                next(watching, None)  # watching now: whoever waits re-checks what came before
                self._loop.call_soon_threadsafe(self._wake_all)
                for users in watching:
                    if users:
                        self._loop.call_soon_threadsafe(self._wake, users)
            except Exception:  # the database went away: long-polls time out until it is back
                log.exception("watching the sync feed failed; retrying")
                self._stop.wait(RETRY_SECONDS)

    def _wake_all(self) -> None:
        self._wake(set(self._waiting))

    def _wake(self, users: set[str]) -> None:
        for user in users:
            for event in self._waiting.get(user, ()):
                event.set()
