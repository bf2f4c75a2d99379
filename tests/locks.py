"""A store that checks every write is made under the locks of the users it changes, and can
race a writer deterministically."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from hushan.store.base import LogLeaf, Store, StoredCheckpoint, Tx


class Interleaved:
    """Wraps a store. Its next write that names users first runs `between` (on the real store,
    committed): after a claim has looked for its work and before it takes its locks. Every
    audit entry (a change of a pair) and every certificate record is checked to be written by
    a transaction holding both users' locks, and every leaf and checkpoint of the log by one
    holding the log's lock; `unlocked` lists those that were not."""

    def __init__(self, store: Store, between: Callable[[], object] = lambda: None) -> None:
        self._store = store
        self._between: Callable[[], object] | None = between
        self.unlocked: list[tuple[str, str, str]] = []
        self.leaves_per_write: list[int] = []  # log leaves appended, per write transaction

    @property
    def store(self) -> Store:
        """As a Store, for the code under test."""
        return self  # type: ignore[return-value]

    def read(self) -> Any:
        return self._store.read()

    @contextmanager
    def write(self, *users: str, log: bool = False) -> Iterator[Tx]:
        if users and self._between is not None:
            between, self._between = self._between, None
            between()
        locked = set(users)
        with self._store.write(*users, log=log) as tx:
            append_audit, put_certificate = tx.append_audit, tx.put_certificate
            append_leaves, put_checkpoint = tx.append_leaves, tx.put_checkpoint
            appended = 0

            def checked_leaves(leaves: Sequence[LogLeaf]) -> None:
                nonlocal appended
                appended += len(leaves)
                if not log:
                    self.unlocked.append(("leaves", "", ""))
                append_leaves(leaves)

            def checked_checkpoint(checkpoint: StoredCheckpoint) -> None:
                if not log:
                    self.unlocked.append(("checkpoint", "", ""))
                put_checkpoint(checkpoint)

            def checked_audit(entry: Any) -> None:
                if not {entry.user_a, entry.user_b} <= locked:
                    self.unlocked.append((entry.action.value, entry.user_a, entry.user_b))
                append_audit(entry)

            def checked_certificate(
                lo: str, hi: str, holder: str, size: int, now: datetime
            ) -> None:
                if not {lo, hi} <= locked:
                    self.unlocked.append(("certificate", lo, hi))
                put_certificate(lo, hi, holder, size, now)

            tx.append_audit = checked_audit  # type: ignore[method-assign]
            tx.put_certificate = checked_certificate  # type: ignore[method-assign]
            tx.append_leaves = checked_leaves  # type: ignore[method-assign]
            tx.put_checkpoint = checked_checkpoint  # type: ignore[method-assign]
            try:
                yield tx
            finally:
                del tx.append_audit, tx.put_certificate, tx.append_leaves, tx.put_checkpoint
                if appended:
                    self.leaves_per_write.append(appended)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
