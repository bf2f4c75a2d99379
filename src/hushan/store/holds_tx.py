"""The part of a transaction (`hushan.store.base.Tx`) that keeps legal holds
(`hushan.domain.holds`); `hushan.store.holds_sql` implements it for every backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime

from hushan.domain.holds import HoldEnd, LegalHold
from hushan.domain.model import Conversation


class HoldsTx(ABC):
    @abstractmethod
    def insert_hold(self, hold: LegalHold) -> None: ...

    @abstractmethod
    def get_hold(self, hold_id: str) -> LegalHold | None: ...

    @abstractmethod
    def list_holds(
        self, after: tuple[datetime, str], limit: int, live_only: bool = False
    ) -> list[LegalHold]:
        """Holds in the order they were placed (then by id), after the one at `after`."""

    @abstractmethod
    def end_hold(self, hold_id: str, now: datetime, how: HoldEnd) -> bool:
        """End a live hold; False (no change) if it had ended already."""

    @abstractmethod
    def rename_hold_users(self, hold_id: str, names: dict[str, str]) -> None:
        """Replace the users an ended hold names (an erased account's id goes)."""

    @abstractmethod
    def expired_holds(self, now: datetime, limit: int) -> list[LegalHold]:
        """Live holds whose expiry has passed."""

    @abstractmethod
    def holds_covering(self, conversations: Sequence[Conversation]) -> dict[int, list[str]]:
        """For each conversation that live holds cover (by its users, or pinned to it), their
        ids in order; conversations no hold covers are left out."""

    @abstractmethod
    def pair_held(self, lo: str, hi: str) -> bool:
        """Whether a live hold covers the pair: it names it, or is pinned to one of its
        conversations."""

    @abstractmethod
    def pin_holds(self, conversation_id: int, hold_ids: Sequence[str]) -> None: ...

    @abstractmethod
    def defer_purge(self, conversation_id: int, now: datetime) -> None:
        """Record that a hold kept the conversation from its due purge."""

    @abstractmethod
    def seal_conversation(self, conversation_id: int, now: datetime) -> None:
        """A block-then-delete under a hold: buffered, block-deleted (never restorable nor
        readable), due now and deferred now; the key stays."""

    @abstractmethod
    def pair_marked_held(self, lo: str, hi: str) -> bool:
        """Whether the pair's log says a hold covers it."""

    @abstractmethod
    def mark_pair_held(self, lo: str, hi: str, held: bool) -> None: ...

    @abstractmethod
    def marked_pairs_of(self, hold: LegalHold) -> list[tuple[str, str]]:
        """The pairs marked held that the hold names or is pinned to, in order."""
