"""Progressive cleanup (`hushan.domain.cleanup`): candidates, the preview, the bulk removal
and its undo, as engine calls.

A bulk removal is one transaction: every contact of the batch is removed, or none is (a
failure of the database rolls the whole batch back, and a retry with the same
`Idempotency-Key` runs it again). Each contact is removed by the very function the single
delete runs (`ContactsService._remove_contact`), so audit entries, notices, sync changes and
webhook events are the same as for that many single deletes. The undo is one transaction too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hushan.domain import cleanup, posts, rules
from hushan.domain.cleanup import (
    BatchItem,
    Candidate,
    CandidateFilter,
    CleanupBatch,
    ItemResult,
    ItemStatus,
    UndoOutcome,
    UndoResult,
)
from hushan.domain.errors import CleanupBatchNotFound, UserNotFound
from hushan.domain.model import AuditAction, HistoryEvent, HistoryState
from hushan.domain.posts import Layer
from hushan.domain.sync import ChangeKind
from hushan.service.contacts import ContactsService, Removed
from hushan.service.engine import NO_ID_ABOVE
from hushan.service.pairlog import PairLog
from hushan.store.base import NO_LIMIT, Tx


@dataclass(frozen=True, slots=True)
class AppliedBatch:
    id: int
    undo_until: datetime
    results: list[ItemResult]


@dataclass(frozen=True, slots=True)
class UndoneBatch:
    id: int
    results: list[UndoResult]


class CleanupService(ContactsService):
    """Progressive cleanup: which contacts to consider, what removing them does, doing it in
    batches, and undoing a batch within its window."""

    def cleanup_candidates(
        self, actor: str, wanted: CandidateFilter, after: str = "", limit: int = NO_LIMIT
    ) -> list[Candidate]:
        """The actor's contacts after `after` (by id) that every filter given matches. All it
        reads is the actor's own: their list, tags, layers and the histories they can read."""
        if wanted.tag is not None:
            posts.check_tag(wanted.tag)
        now = self.clock.now()
        with self.store.read() as tx:
            last = {chat.other_id: chat.last_message_at for chat in tx.chat_list(actor)}
            tags = tx.tags_by_contact(actor)
            layers = tx.contact_layers(actor)
            found: list[Candidate] = []
            for contact in tx.list_contacts(actor, after):
                candidate = Candidate(
                    contact.user_id,
                    contact.display_name,
                    contact.added_at,
                    last.get(contact.user_id),
                    tuple(tags.get(contact.user_id, ())),
                    layers.get(contact.user_id, Layer.FULL),
                )
                if wanted.matches(candidate, now):
                    found.append(candidate)
                    if len(found) >= limit:
                        break
            return found

    def cleanup_preview(self, actor: str, contacts: Sequence[str]) -> list[ItemResult]:
        """What removing each contact would do, by the plan the removal itself follows."""
        cleanup.check_batch(actor, contacts, self.limits.cleanup_max_batch)
        now = self.clock.now()
        with self.store.read() as tx:
            return [self._preview_one(tx, now, actor, other) for other in contacts]

    def cleanup_remove(self, actor: str, contacts: Sequence[str]) -> AppliedBatch:
        """Remove the contacts, all in one transaction, each as the single delete would; kept
        as a batch the actor may undo until `undo_until`."""
        cleanup.check_batch(actor, contacts, self.limits.cleanup_max_batch)
        now = self.clock.now()
        undo_until = now + timedelta(seconds=self.limits.cleanup_undo_seconds)
        done: list[Removed] = []
        results: list[ItemResult] = []
        with self.store.write(actor, *contacts) as tx:
            layers = tx.contact_layers(actor)
            items: list[BatchItem] = []
            for other in contacts:
                try:
                    removed = self._remove_contact(tx, now, actor, other)
                except UserNotFound:  # found before anything of the pair was written
                    results.append(ItemResult(other, ItemStatus.USER_NOT_FOUND))
                    items.append(BatchItem(other, removed=False))
                    continue
                if removed is None:
                    results.append(ItemResult(other, ItemStatus.NOT_IN_CONTACTS))
                    items.append(BatchItem(other, removed=False))
                    continue
                done.append(removed)
                results.append(ItemResult(other, ItemStatus.REMOVED, removed.plan))
                buffered = removed.buffered
                items.append(
                    BatchItem(
                        other,
                        removed=True,
                        parting=removed.plan.parting,
                        layer=layers.get(other, Layer.FULL),
                        told=removed.plan.told,
                        buffered_conversation=None if buffered is None else buffered.id,
                        buffered_purge_at=None if buffered is None else self._purge_at(now),
                    )
                )
            batch_id = tx.insert_cleanup_batch(actor, now, undo_until)
            tx.insert_cleanup_items(batch_id, actor, items)
        for removed in done:
            self._finish_removal(removed)
        return AppliedBatch(batch_id, undo_until, results)

    def cleanup_batches(
        self, actor: str, before_id: int | None = None, limit: int = NO_LIMIT
    ) -> list[CleanupBatch]:
        """The actor's bulk removals, newest first: what a console offers to undo after a
        reload."""
        with self.store.read() as tx:
            return tx.cleanup_batches(actor, NO_ID_ABOVE if before_id is None else before_id, limit)

    def cleanup_undo(self, actor: str, batch_id: int) -> UndoneBatch:
        """Put back the actor's side of each removal of the batch that can come back
        silently, and say of each other why it cannot (hushan.domain.cleanup)."""
        with self.store.read() as tx:
            items = self._batch_items(tx, actor, batch_id)
        now = self.clock.now()
        with self.store.write(actor, *[item.other for item in items]) as tx:
            batch = tx.cleanup_batch(batch_id)
            if batch is None or batch.user_id != actor:  # erased meanwhile
                raise CleanupBatchNotFound()
            cleanup.check_undo_window(batch, now)
            results = [self._undo_one(tx, now, actor, item) for item in items]
            tx.mark_cleanup_undone(batch_id, now)
        return UndoneBatch(batch_id, results)

    # ---- internals --------------------------------------------------------------------------
    def _preview_one(self, tx: Tx, now: datetime, actor: str, other: str) -> ItemResult:
        facts = tx.pair_facts(actor, other)
        if not facts.other_exists:
            return ItemResult(other, ItemStatus.USER_NOT_FOUND)
        if not facts.actor_has_other:
            return ItemResult(other, ItemStatus.NOT_IN_CONTACTS)
        return ItemResult(other, ItemStatus.READY, self._removal_plan(tx, facts, actor, other, now))

    def _purge_at(self, now: datetime) -> datetime:
        return rules.purge_at_for(now, timedelta(seconds=self.limits.buffer_seconds))

    @staticmethod
    def _batch_items(tx: Tx, actor: str, batch_id: int) -> list[BatchItem]:
        batch = tx.cleanup_batch(batch_id)
        if batch is None or batch.user_id != actor:
            raise CleanupBatchNotFound()
        # by id in Python: the two backends' collations may order ids differently
        return sorted(tx.cleanup_items(batch_id), key=lambda item: item.other)

    def _undo_one(self, tx: Tx, now: datetime, actor: str, item: BatchItem) -> UndoResult:
        facts = tx.pair_facts(actor, item.other)
        decision = cleanup.decide_undo(
            removed=item.removed,
            parting=item.parting or cleanup.Parting.ONE_WAY,
            other_exists=facts.other_exists,
            in_contacts=facts.actor_has_other,
            you_block_them=facts.actor_blocks_other,
            contacts=facts.actor_contacts,
            max_friends=self.limits.max_friends,
        )
        if decision.outcome is UndoOutcome.RESTORED:
            pair = PairLog(tx, now, actor, item.other, facts)
            self._add_edge(pair, facts.actor_contacts, actor, "undo")
            if item.layer is Layer.CHAT_ONLY:
                tx.set_layer(actor, item.other, Layer.CHAT_ONLY)
            history = facts.conversation
            if (
                history is not None
                and history.id == item.buffered_conversation
                and history.purge_at == item.buffered_purge_at
                and cleanup.history_comes_back(history, now)
            ):
                tx.set_history(history, HistoryState.ACTIVE.value, None)
                pair.history = rules.next_history_state(history.state, HistoryEvent.REMOVAL_UNDONE)
                pair.tell_both(ChangeKind.RESTORE, history.id)
                pair.log(AuditAction.HISTORY_RESTORED, f"conversation={history.id} undo")
        return UndoResult(item.other, decision.outcome, decision.reason, item.told)
