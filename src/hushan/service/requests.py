"""Friend requests (Rules 1 and 3), and becoming friends: the edges, and the conversation
started, restored or replaced (Rule 4), as engine calls."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from hushan.domain import rules
from hushan.domain.model import (
    AuditAction,
    FriendRequest,
    HistoryEvent,
    HistoryState,
    PairFacts,
    RequestOutcome,
    RequestStatus,
    ordered,
)
from hushan.domain.sync import ChangeKind
from hushan.purge import destroy_key, due_event, keep_for_hold
from hushan.service.engine import EngineCore
from hushan.service.pairlog import PairLog
from hushan.store.base import NO_LIMIT, Tx


class RejectOutcome(StrEnum):
    REJECTED = "rejected"
    NOT_PENDING = "not_pending"


class WithdrawOutcome(StrEnum):
    WITHDRAWN = "withdrawn"
    NOT_PENDING = "not_pending"


class RequestsService(EngineCore):
    """Send, accept, reject, withdraw and list requests; befriend a pair."""

    def send_request(self, actor: str, target: str, message: str = "") -> RequestOutcome:
        rules.check_not_self(actor, target)
        rules.check_verification_message(message, self.limits.max_verification_chars)
        now = self.clock.now()
        with self.store.write(actor, target) as tx:
            return self._send_request(tx, now, actor, target, message)

    def _send_request(
        self, tx: Tx, now: datetime, actor: str, target: str, message: str
    ) -> RequestOutcome:
        """A friend request inside the caller's transaction, which holds both users' locks."""
        facts = self._facts(tx, actor, target)
        decision = rules.decide_friend_request(facts)
        if decision.action is rules.RequestAction.STORE:
            # Only a request that would wait needs to know of one coming the other way.
            crossing = tx.pending_request(target, actor, now)
            if crossing is not None and not crossing.swallowed:
                decision = rules.decide_friend_request(facts, crossing_request=True)
        pair = PairLog(tx, now, actor, target, facts)
        if decision.outcome is RequestOutcome.ALREADY_FRIENDS:
            pair.marker = rules.TOLD_ALREADY_FRIENDS
        if decision.action is rules.RequestAction.BEFRIEND:
            self._befriend(pair, facts, reason=decision.reason)
        elif decision.action is rules.RequestAction.NOTHING:
            # Logged, though nothing changes: a request that reaches someone who removed
            # the sender writes too, and the two must cost the sender the same (two worlds).
            pair.log(AuditAction.REQUEST_SENT)
        else:
            swallowed = decision.action is rules.RequestAction.SWALLOW
            expires_at = now + timedelta(seconds=self.limits.request_ttl_seconds)
            request_id = tx.put_pending_request(actor, target, message, swallowed, now, expires_at)
            action = AuditAction.REQUEST_SWALLOWED if swallowed else AuditAction.REQUEST_SENT
            pair.log(action, f"request={request_id}")
        return decision.outcome

    def accept_request(self, actor: str, requester: str) -> RequestOutcome:
        """Accept the pending request from `requester`: both edges exist afterwards."""
        now = self.clock.now()
        with self.store.write(actor, requester) as tx:
            facts = self._facts(tx, actor, requester)
            request = tx.pending_request(requester, actor, now)
            if not rules.request_reaches_addressee(request, facts):
                return rules.check_accept_answer(facts)
            rules.check_can_accept(facts)
            self._befriend(PairLog(tx, now, actor, requester, facts), facts, reason="accepted")
            return RequestOutcome.ADDED

    def reject_request(self, actor: str, requester: str) -> RejectOutcome:
        now = self.clock.now()
        with self.store.write(actor, requester) as tx:
            facts = self._facts(tx, actor, requester)
            request = tx.pending_request(requester, actor, now)
            if request is None or not rules.request_reaches_addressee(request, facts):
                return RejectOutcome.NOT_PENDING
            tx.decide_request(request.id, RequestStatus.REJECTED.value, now)
            PairLog(tx, now, actor, requester, facts).log(
                AuditAction.REQUEST_REJECTED, f"request={request.id}"
            )
            return RejectOutcome.REJECTED

    def withdraw_request(self, actor: str, target: str) -> WithdrawOutcome:
        """Withdraw the actor's pending request to `target` (swallowed or not: its sender
        cannot tell)."""
        rules.check_not_self(actor, target)
        now = self.clock.now()
        with self.store.write(actor, target) as tx:
            facts = self._facts(tx, actor, target)
            # One to someone they have is not theirs to see (they were told already_friends).
            if not facts.actor_has_other and self._withdraw_pending(
                PairLog(tx, now, actor, target, facts)
            ):
                return WithdrawOutcome.WITHDRAWN
            return WithdrawOutcome.NOT_PENDING

    def list_requests(
        self, actor: str, incoming: bool, after_id: int = 0, limit: int = NO_LIMIT
    ) -> list[FriendRequest]:
        now = self.clock.now()
        with self.store.read() as tx:
            if incoming:
                return tx.list_incoming(actor, now, after_id, limit)
            return tx.list_outgoing(actor, now, after_id, limit)

    # ---- internals --------------------------------------------------------------------------
    def _add_edge(self, pair: PairLog, contacts_before: int, owner: str, detail: str) -> None:
        rules.check_friend_limit(contacts_before, self.limits.max_friends)
        contact = pair.other if owner == pair.actor else pair.actor
        pair.tx.add_edge(owner, contact, pair.now)
        pair.tell(owner, ChangeKind.CONTACT_ADDED)
        if (
            pair.facts.actor_removed_other
            if owner == pair.actor
            else pair.facts.other_removed_actor
        ):
            pair.tx.end_removal(owner, contact)
        if owner == pair.actor:
            pair.actor_has_other = True
        else:
            pair.other_has_actor = True
        pair.log(AuditAction.EDGE_ADDED, f"{owner}->{contact} {detail}".strip())

    def _befriend(self, pair: PairLog, facts: PairFacts, reason: str) -> None:
        """Add whichever edges are missing, making the pair both_way; close pending requests
        between them and start, restore or replace the conversation (Rule 4)."""
        if not pair.actor_has_other:
            self._add_edge(pair, facts.actor_contacts, pair.actor, reason)
        if not pair.other_has_actor:
            self._add_edge(pair, facts.other_contacts, pair.other, reason)
        if facts.requests_pending:
            for request in pair.tx.close_pending_between(pair.actor, pair.other, pair.now):
                pair.log(AuditAction.REQUEST_ACCEPTED, f"request={request.id}")
        conversation = facts.conversation
        if conversation is not None and conversation.state is HistoryState.BUFFERED:
            if rules.can_restore(conversation, pair.now):
                pair.tx.set_history(conversation, HistoryState.ACTIVE.value, None)
                pair.history = rules.next_history_state(conversation.state, HistoryEvent.REFRIEND)
                pair.tell_both(ChangeKind.RESTORE, conversation.id)
                pair.log(AuditAction.HISTORY_RESTORED, f"conversation={conversation.id}")
                return
            # Due but not yet swept: purge it now, so nothing of it can come back; under a
            # legal hold it stays encrypted, readable by nobody, and the pair starts anew.
            holds = pair.tx.holds_covering([conversation]).get(conversation.id)
            if not holds:
                destroy_key(pair.tx, conversation, pair.actor, pair.now, due_event(conversation))
            elif conversation.hold_deferred_at is None:  # else its deferral is recorded
                keep_for_hold(pair.tx, conversation, holds, pair.now, seal=False)
            conversation = None
        if conversation is None or conversation.state is HistoryState.PURGED:
            self._start_conversation(pair)

    def _start_conversation(self, pair: PairLog) -> None:
        lo, hi = ordered(pair.actor, pair.other)
        conversation_id = pair.tx.insert_conversation(lo, hi, pair.now)
        pair.tx.insert_key(conversation_id, lo, self.sealer.new_wrapped_key(conversation_id))
        pair.history = HistoryState.ACTIVE
        pair.log(AuditAction.HISTORY_STARTED, f"conversation={conversation_id}")

    @staticmethod
    def _withdraw_pending(pair: PairLog) -> bool:
        """Close the actor's live request to the other, if there is one."""
        if not pair.facts.requests_pending:
            return False
        request = pair.tx.pending_request(pair.actor, pair.other, pair.now)
        if request is None:
            return False
        pair.tx.decide_request(request.id, RequestStatus.WITHDRAWN.value, pair.now)
        # A request sent while the actor had the other was never theirs to see (two worlds).
        told = rules.TOLD_ALREADY_FRIENDS if pair.facts.actor_has_other else ""
        pair.log(AuditAction.REQUEST_WITHDRAWN, f"request={request.id} {told}".strip())
        return True
