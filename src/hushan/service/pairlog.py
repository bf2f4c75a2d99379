"""`PairLog`: one change to a pair, as every part of the engine records it (Rule 7)."""

from __future__ import annotations

from datetime import datetime

from hushan.domain.model import AuditAction, AuditEntry, PairFacts, PairRelation
from hushan.domain.sync import ChangeKind, NewChange
from hushan.store.base import Tx


class PairLog:
    """Tracks a pair's edges and history during one change, and audits each step with the
    state that step produced (Rule 7)."""

    def __init__(self, tx: Tx, now: datetime, actor: str, other: str, facts: PairFacts) -> None:
        self.tx, self.now, self.actor, self.other = tx, now, actor, other
        self.facts = facts
        self.actor_has_other = facts.actor_has_other
        self.other_has_actor = facts.other_has_actor
        self.history = facts.history_state
        self.marker = ""  # a detail word every entry of this change carries

    @property
    def relation(self) -> PairRelation:
        return PairRelation.of(self.actor_has_other, self.other_has_actor)

    def tell(self, user: str, kind: ChangeKind) -> None:
        """A change of one side's own list, for their devices (if they have any: without a
        device there is no feed)."""
        self.tell_each([user], kind)

    def tell_both(
        self,
        kind: ChangeKind,
        conversation_id: int,
        message_id: int | None = None,
        detail: str = "",
    ) -> None:
        """A change of the pair's shared history (or a message in it), for both sides'."""
        self.tell_each([self.actor, self.other], kind, conversation_id, message_id, detail)

    def tell_each(
        self,
        users: list[str],
        kind: ChangeKind,
        conversation_id: int | None = None,
        message_id: int | None = None,
        detail: str = "",
    ) -> None:
        with_device = {
            self.actor: self.facts.actor_has_device,
            self.other: self.facts.other_has_device,
        }
        found = [
            NewChange(user, kind, self.other_side(user), conversation_id, message_id, detail)
            for user in users
            if with_device[user]
        ]
        if found:
            self.tx.add_changes(found, self.now)

    def other_side(self, user: str) -> str:
        return self.other if user == self.actor else self.actor

    def log(self, action: AuditAction, detail: str = "") -> None:
        self.tx.append_audit(
            AuditEntry(
                at=self.now,
                actor=self.actor,
                action=action,
                user_a=self.actor,
                user_b=self.other,
                relation=self.relation,
                history_state=self.history,
                detail=f"{detail} {self.marker}".strip(),
            )
        )
