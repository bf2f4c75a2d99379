"""Graded deletion notices (`hushan.domain.notices`): what an end user may learn of the
other's removal of them, and their notices, as engine calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hushan.domain import notices, rules
from hushan.domain.model import PairFacts
from hushan.domain.notices import Notice, NoticeKind, Removal
from hushan.service.engine import EngineCore
from hushan.store.base import Tx


@dataclass(frozen=True, slots=True)
class RelationView:
    """What an end user may learn of a pair (graded notices): their own side, and the other's
    removal of them only where disclosed. Never the other's block."""

    other: str
    in_your_contacts: bool
    you_block_them: bool
    removed_you_at: datetime | None


class NoticesService(EngineCore):
    """The pair as one side may see it, the notices, and disclosure of a removal."""

    def relation_view(self, actor: str, other: str) -> RelationView:
        """The pair as the actor may see it: their own side, and the other's removal of them
        only where the other's grade discloses it (looking discloses an `on_contact` one)."""
        rules.check_not_self(actor, other)
        facts, removal = self._look_at(actor, other)
        return RelationView(
            other=other,
            in_your_contacts=facts.actor_has_other,
            you_block_them=facts.actor_blocks_other,
            removed_you_at=None if removal is None else removal.at,
        )

    def notices(self, actor: str, after_id: int = 0, limit: int = 100) -> list[Notice]:
        with self.store.read() as tx:
            return tx.notices(actor, after_id, limit)

    def mark_notices_read(self, actor: str, up_to_id: int) -> int:
        with self.store.write(actor) as tx:
            return tx.mark_notices_read(actor, up_to_id, self.clock.now())

    def _look_at(self, actor: str, other: str) -> tuple[PairFacts, Removal | None]:
        """The actor looks at the other: the pair's facts, and the other's removal of the
        actor where disclosed. A read, unless there is a removal to tell of (looking is the
        `on_contact` moment, which leaves a notice)."""
        with self.store.read() as tx:
            facts = self._facts(tx, actor, other)
        if not facts.other_removed_actor:
            return facts, None
        with self.store.write(actor, other) as tx:
            facts = self._facts(tx, actor, other)
            return facts, self._disclosed_removal(tx, facts, actor, other, self.clock.now())

    def _disclosed_removal(
        self, tx: Tx, facts: PairFacts, actor: str, other: str, now: datetime
    ) -> Removal | None:
        """The other's removal of the actor, if its grade lets the actor be told now; an
        `on_contact` removal told for the first time also leaves its notice."""
        if not facts.other_removed_actor:
            return None
        removal = tx.removal(other, actor)
        if removal is None or not notices.is_disclosed(removal):
            return None
        if removal.disclosed_at is None:
            tx.add_notice(actor, NoticeKind.REMOVED_YOU, other, removal.at, now)
            tx.mark_removal_disclosed(other, actor, now)
        return removal
