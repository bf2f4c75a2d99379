"""The part of a transaction (`hushan.store.base.Tx`) that keeps cleanup batches
(`hushan.domain.cleanup`); `hushan.store.cleanup_sql` implements it for every backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime

from hushan.domain.cleanup import BatchItem, CleanupBatch
from hushan.domain.posts import Layer


class CleanupTx(ABC):
    @abstractmethod
    def insert_cleanup_batch(self, user_id: str, now: datetime, undo_until: datetime) -> int:
        """A new batch of the user's; its id."""

    @abstractmethod
    def insert_cleanup_items(
        self, batch_id: int, user_id: str, items: Sequence[BatchItem]
    ) -> None: ...

    @abstractmethod
    def cleanup_batch(self, batch_id: int) -> CleanupBatch | None: ...

    @abstractmethod
    def cleanup_batches(self, user_id: str, before_id: int, limit: int) -> list[CleanupBatch]:
        """The user's batches, newest first, with ids below `before_id`."""

    @abstractmethod
    def cleanup_items(self, batch_id: int) -> list[BatchItem]:
        """The batch's items, by the other user's id."""

    @abstractmethod
    def mark_cleanup_undone(self, batch_id: int, now: datetime) -> None: ...

    @abstractmethod
    def contact_layers(self, owner: str) -> dict[str, Layer]:
        """The layer of each contact in the owner's list."""
