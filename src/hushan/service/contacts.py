"""Contacts: delete, block, block-then-delete (the three ways to part, Rules 3, 4 and 6), and
the lists, as engine calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from hushan.clock import iso_utc
from hushan.domain import cleanup, notices, rules
from hushan.domain.cleanup import RemovalPlan
from hushan.domain.model import AuditAction, Conversation, HistoryEvent, HistoryState, PairFacts
from hushan.domain.notices import NoticeGrade, NoticeKind, Removal
from hushan.domain.sync import ChangeKind
from hushan.purge import destroy_key, keep_for_hold
from hushan.service.directory import open_directory_changes
from hushan.service.miniprograms import revoke_pair_grants
from hushan.service.pairlog import PairLog
from hushan.service.requests import RequestsService
from hushan.store.base import NO_LIMIT, ContactRow, Tx
from hushan.store.held import after_commit


class DeleteOutcome(StrEnum):
    DELETED = "deleted"
    NOT_IN_CONTACTS = "not_in_contacts"


class BlockOutcome(StrEnum):
    BLOCKED = "blocked"
    ALREADY_BLOCKED = "already_blocked"
    UNBLOCKED = "unblocked"
    NOT_BLOCKED = "not_blocked"


@dataclass(frozen=True, slots=True)
class Removed:
    """What one removal did: its plan (all the remover may be told), the history it erased
    (its rows are purged after the commit), and the history it buffered, which only the undo
    of a bulk removal reads and nobody is shown."""

    plan: RemovalPlan
    erased: Conversation | None
    buffered: Conversation | None


@dataclass(frozen=True, slots=True)
class BlockDeleteOutcome:
    newly_blocked: bool
    deleted: bool
    history_purged: bool


class ContactsService(RequestsService):
    """Delete, block, unblock, block-then-delete; the contact and block lists. Built on
    requests: a block closes the blocker's own pending request."""

    def delete_contact(
        self, actor: str, other: str, *, guard: Callable[[Tx], None] | None = None
    ) -> DeleteOutcome:
        """Remove `other` from the actor's list. One-way, mutual or block-then-delete follows
        from the state the pair was in (Rules 4 and 6); the other side is told only as the
        actor's notice grade says (hushan.domain.notices). `guard`, if given, may refuse the
        removal inside its transaction (an organisation's bulk removal during a handover)."""
        rules.check_not_self(actor, other)
        now = self.clock.now()
        with self.store.write(actor, other) as tx:
            if guard is not None:
                guard(tx)
            removed = self._remove_contact(tx, now, actor, other)
        if removed is None:
            return DeleteOutcome.NOT_IN_CONTACTS
        self._finish_removal(removed)
        return DeleteOutcome.DELETED

    def _remove_contact(self, tx: Tx, now: datetime, actor: str, other: str) -> Removed | None:
        """One removal inside the caller's transaction, which holds both users' locks; None
        when the actor does not have the other. What it does follows the plan a preview shows
        (hushan.domain.cleanup), made here from the same facts: the single delete and the bulk
        one are this one function."""
        facts = self._facts(tx, actor, other)
        if not facts.actor_has_other:
            return None
        plan = self._removal_plan(tx, facts, actor, other, now)
        pair = PairLog(tx, now, actor, other, facts)
        self._remove_edge(pair, facts, may_buffer=not plan.erases)
        erased = None
        if plan.erases:
            erased = self._erase(pair, facts.conversation)
            tx.erase_pair_texts(actor, other)
            self._directory_change(pair)
        buffered = None
        if (
            not plan.erases
            and pair.history is HistoryState.BUFFERED
            and facts.history_state is HistoryState.ACTIVE
        ):
            buffered = facts.conversation
        return Removed(plan, erased, buffered)

    def _removal_plan(
        self, tx: Tx, facts: PairFacts, actor: str, other: str, now: datetime
    ) -> RemovalPlan:
        """The plan of removing the other, from what the actor may know of the pair alone."""
        their_removal = tx.removal(other, actor) if facts.other_removed_actor else None
        return cleanup.plan_removal(
            cleanup.seen_pair(facts, their_removal),
            self.limits.notice_minimum,
            now,
            timedelta(seconds=self.limits.buffer_seconds),
            timedelta(seconds=self.limits.cleanup_undo_seconds),
        )

    def _finish_removal(self, removed: Removed) -> None:
        """After the commit: a block-then-delete's history rows follow its destroyed key."""
        if removed.erased is not None:
            self._finish_erasure(removed.erased)

    def block(self, actor: str, other: str) -> BlockOutcome:
        """Rule 3: stop the other's messages, requests and views; no list changes."""
        rules.check_not_self(actor, other)
        now = self.clock.now()
        with self.store.write(actor, other) as tx:
            facts = self._facts(tx, actor, other)
            if facts.actor_blocks_other:
                return BlockOutcome.ALREADY_BLOCKED
            self._add_block(PairLog(tx, now, actor, other, facts))
            return BlockOutcome.BLOCKED

    def unblock(self, actor: str, other: str) -> BlockOutcome:
        """Rule 3: undo exactly the block, nothing else (an erased history stays erased)."""
        rules.check_not_self(actor, other)
        now = self.clock.now()
        with self.store.write(actor, other) as tx:
            facts = self._facts(tx, actor, other)
            if not tx.remove_block(actor, other):
                return BlockOutcome.NOT_BLOCKED
            PairLog(tx, now, actor, other, facts).log(AuditAction.BLOCK_REMOVED)
            return BlockOutcome.UNBLOCKED

    def block_and_delete(self, actor: str, other: str) -> BlockDeleteOutcome:
        """Rule 6 in one call: block, remove, and erase the history at once for both sides.

        The erasure happens even if the actor had already removed the other: the call is an
        explicit request to erase, and repeating it is a no-op.
        """
        rules.check_not_self(actor, other)
        now = self.clock.now()
        with self.store.write(actor, other) as tx:
            facts = self._facts(tx, actor, other)
            pair = PairLog(tx, now, actor, other, facts)
            newly_blocked = not facts.actor_blocks_other
            if newly_blocked:
                self._add_block(pair)
            deleted = facts.actor_has_other
            if deleted:
                self._remove_edge(pair, facts, may_buffer=False)
            erased = self._erase(pair, facts.conversation)
            tx.erase_pair_texts(actor, other)
            self._directory_change(pair)
        if erased is not None:
            self._finish_erasure(erased)
        return BlockDeleteOutcome(newly_blocked, deleted, erased is not None)

    def list_contacts(self, actor: str, after: str = "", limit: int = NO_LIMIT) -> list[ContactRow]:
        with self.store.read() as tx:
            return tx.list_contacts(actor, after, limit)

    def list_blocks(self, actor: str, after: str = "", limit: int = NO_LIMIT) -> list[str]:
        with self.store.read() as tx:
            return tx.list_blocks(actor, after, limit)

    # ---- internals --------------------------------------------------------------------------
    def _remove_edge(
        self, pair: PairLog, facts: PairFacts, may_buffer: bool, consented: bool = False
    ) -> None:
        """Remove the actor's edge; if the other had already removed theirs and the history is
        active, this is a mutual delete and the history goes to the buffer (Rule 4), unless
        the caller is about to erase it (`may_buffer=False`, Rule 6)."""
        pair.tx.remove_edge(pair.actor, pair.other)
        pair.tell(pair.actor, ChangeKind.CONTACT_REMOVED)
        pair.actor_has_other = False
        pair.log(AuditAction.EDGE_REMOVED, f"{pair.actor}->{pair.other}")
        self._record_removal(pair, facts, consented, erasing=not may_buffer)
        if facts.actor_proposed_removal and not consented:
            pair.tx.mark_proposal_spent(pair.actor, pair.other)
        if rules.is_mutual_delete(facts):  # the apps' grants between the two end with it
            revoke_pair_grants(pair.tx, self.sealer, pair.actor, pair.other, pair.now)
        conversation = facts.conversation
        if (
            may_buffer
            and rules.is_mutual_delete(facts)
            and conversation is not None
            and conversation.state is HistoryState.ACTIVE
        ):
            purge_at = rules.purge_at_for(pair.now, timedelta(seconds=self.limits.buffer_seconds))
            pair.history = rules.next_history_state(conversation.state, HistoryEvent.MUTUAL_DELETE)
            pair.tx.set_history(conversation, pair.history.value, purge_at)
            pair.tell_both(ChangeKind.HISTORY_BUFFERED, conversation.id, detail=iso_utc(purge_at))
            pair.log(
                AuditAction.HISTORY_BUFFERED,
                f"conversation={conversation.id} purge_at={iso_utc(purge_at)}",
            )
        if rules.is_mutual_delete(facts):
            self._directory_change(pair)

    def _directory_change(self, pair: PairLog) -> None:
        """Two colleagues parted (a mutual delete, or a block-then-delete): their
        organisations' directories change through an approval (hushan.service.orgs), which
        the parting itself never waits for."""
        open_directory_changes(pair.tx, pair.now, pair.actor, pair.other, self.limits)

    def _record_removal(
        self, pair: PairLog, facts: PairFacts, consented: bool, erasing: bool
    ) -> None:
        """Keep the removal with the grade it is made under; `notify` tells the other now. A
        removal the other consented to (or was told of by its proposal) is known already."""
        if consented:
            known = Removal(pair.actor, pair.other, pair.now, NoticeGrade.NOTIFY, pair.now)
            pair.tx.record_removal(known)
            return
        grade = notices.effective_grade(facts.actor_notice_grade, self.limits.notice_minimum)
        if erasing or grade is NoticeGrade.SILENT:
            # Nothing will ever be disclosed (a block-then-delete is always silent: telling
            # would point at the block), so nothing is kept, and the default costs no write.
            return
        told = notices.notifies_at_once(grade)
        removal = Removal(pair.actor, pair.other, pair.now, grade, pair.now if told else None)
        pair.tx.record_removal(removal)
        if told:
            pair.tx.add_notice(pair.other, NoticeKind.REMOVED_YOU, pair.actor, pair.now, pair.now)

    def _add_block(self, pair: PairLog) -> None:
        """Rule 3: the block, which also closes the blocker's own pending request to the
        blocked side, so that accepting it can never bring them into the blocker's list. It
        stays closed when the block is lifted: the blocker sends a new one if they wish."""
        pair.tx.add_block(pair.actor, pair.other, pair.now)
        pair.log(AuditAction.BLOCK_ADDED)
        self._withdraw_pending(pair)

    def _erase(self, pair: PairLog, conversation: Conversation | None) -> Conversation | None:
        """Rule 6: destroy the live conversation's key now; its rows follow right after. The
        apps' grants between the two are revoked with it. Under a legal hold the history is
        sealed instead (unreadable to both at once, its key kept: hushan.purge step 7), and
        None returned: there are no rows to purge yet."""
        revoke_pair_grants(pair.tx, self.sealer, pair.actor, pair.other, pair.now)
        if conversation is None or conversation.state is HistoryState.PURGED:
            return None
        holds = pair.tx.holds_covering([conversation]).get(conversation.id)
        if holds:
            if not rules.is_sealed(conversation):  # else sealed by an earlier one already
                keep_for_hold(pair.tx, conversation, holds, pair.now, seal=True)
            pair.history = HistoryState.BUFFERED
            return None
        destroy_key(pair.tx, conversation, pair.actor, pair.now, HistoryEvent.BLOCK_DELETE)
        pair.history = HistoryState.PURGED
        return conversation

    def _finish_erasure(self, conversation: Conversation) -> None:
        self.purger.finish(conversation)
        after_commit(self.store.flush_freed_pages)  # a keyed request's commit is still to come
