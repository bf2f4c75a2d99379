"""A write transaction held open past its block, so that what the caller makes of the engine
call's result (an HTTP reply) is written in the same transaction (hushan.api.idempotency).

While a `Hold` is active on a thread, the first write transaction that thread opens does not
commit when its block ends: it stays open, with its locks, until `Hold.finish` writes the last
rows and commits it, or rolls it back. Every transaction the thread opens meanwhile (an engine
call that writes twice, or reads after it wrote) joins the held one, taking the further locks
it names; a transaction opened before any write is an ordinary one. Work that needs the
writes committed and a connection of its own (a WAL checkpoint, a VACUUM) waits for the commit
(`after_commit`): inside the held transaction it would wait for that very transaction.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from hushan.store.base import Tx

_active = threading.local()


class Hold:
    """One thread's held write transaction, from its first write until `finish`."""

    def __init__(self) -> None:
        self.tx: Tx | None = None
        self._open: AbstractContextManager[Tx] | None = None
        self._after: list[Callable[[], None]] = []

    @property
    def holding(self) -> bool:
        return self._open is not None

    def finish(self, last: Callable[[Tx], None] | None) -> None:
        """`last(tx)` then commit, then what waited for the commit; with `last` None, roll
        back (and drop what waited)."""
        opened, tx, after = self._open, self.tx, self._after
        self._open = self.tx = None
        self._after = []
        if opened is None or tx is None:
            return
        if last is None:
            opened.__exit__(RuntimeError, RuntimeError("rolled back"), None)
            return
        try:
            last(tx)
        except BaseException:
            if not opened.__exit__(*sys.exc_info()):
                raise
            return
        opened.__exit__(None, None, None)
        for do in after:
            do()


def after_commit(do: Callable[[], None]) -> None:
    """`do()` now, or, while this thread's hold keeps a transaction open, once `finish` has
    committed it (never, if it rolls back)."""
    hold: Hold | None = getattr(_active, "hold", None)
    if hold is None or not hold.holding:
        do()
        return
    hold._after.append(do)


@contextmanager
def holding(hold: Hold) -> Iterator[Hold]:
    """Hold this thread's first write transaction until the block ends (then `hold.finish`
    must be called, on this thread)."""
    _active.hold = hold
    try:
        yield hold
    finally:
        _active.hold = None


def held(
    opened: AbstractContextManager[Tx],
    join: Callable[[Tx], None] | None = None,
    write: bool = True,
) -> AbstractContextManager[Tx]:
    """A backend's transaction (`opened`, not yet entered) as this thread's hold makes it:
    itself, the held transaction (after `join` took its further locks), or itself held open."""
    hold: Hold | None = getattr(_active, "hold", None)
    if hold is None or (not write and not hold.holding):
        return opened
    return _within(hold, opened, join, write)


@contextmanager
def _within(
    hold: Hold, opened: AbstractContextManager[Tx], join: Callable[[Tx], None] | None, write: bool
) -> Iterator[Tx]:
    if hold.tx is not None:
        if write and join is not None:
            join(hold.tx)
        yield hold.tx
        return
    tx = opened.__enter__()
    try:
        yield tx
    except BaseException:
        if not opened.__exit__(*sys.exc_info()):
            raise
        return
    hold.tx, hold._open = tx, opened  # committed by `finish`
