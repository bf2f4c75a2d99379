"""The engine's core (see `hushan.service`): users, requests, the three ways to part,
messages, the views of a pair, and the internals the other parts share."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hushan.clock import Clock, iso_utc
from hushan.crypto import Sealer
from hushan.domain import notices, rules
from hushan.domain.errors import (
    BlockedByRecipient,
    InvalidTransition,
    RecipientRemovedYou,
    Refused,
    Unauthenticated,
    UserExists,
    UserNotFound,
)
from hushan.domain.model import (
    AuditAction,
    AuditEntry,
    Conversation,
    FriendRequest,
    HistoryEvent,
    HistoryState,
    Message,
    PairFacts,
    PairRelation,
    PairStatus,
    RequestOutcome,
    RequestStatus,
    User,
    ordered,
)
from hushan.domain.notices import Notice, NoticeGrade, NoticeKind, Removal
from hushan.domain.sync import ChangeKind, NewChange
from hushan.purge import Purger, destroy_key
from hushan.store.base import ChatRow, ContactRow, Store, StoredMessage, Tx
from hushan.tlog.log import TransparencyLog
from hushan.tlog.note import Signer


@dataclass(frozen=True, slots=True)
class Limits:
    """The contract's bracketed defaults, as one deployment set them."""

    buffer_seconds: float = 30 * 86400
    request_ttl_seconds: float = 7 * 86400
    max_friends: int = 10_000
    max_message_chars: int = 4096
    max_verification_chars: int = 200
    relation_check_max_pairs: int = 1000
    notice_minimum: NoticeGrade = NoticeGrade.SILENT  # the least disclosure of removals
    proposal_ttl_seconds: float = 48 * 3600  # a mutual-delete proposal's window
    max_group_members: int = 500
    max_devices: int = 20
    change_retention_seconds: float = 90 * 86400  # how long the sync feed keeps a change


class DeleteOutcome(StrEnum):
    DELETED = "deleted"
    NOT_IN_CONTACTS = "not_in_contacts"


class BlockOutcome(StrEnum):
    BLOCKED = "blocked"
    ALREADY_BLOCKED = "already_blocked"
    UNBLOCKED = "unblocked"
    NOT_BLOCKED = "not_blocked"


class RejectOutcome(StrEnum):
    REJECTED = "rejected"
    NOT_PENDING = "not_pending"


class WithdrawOutcome(StrEnum):
    WITHDRAWN = "withdrawn"
    NOT_PENDING = "not_pending"


@dataclass(frozen=True, slots=True)
class BlockDeleteOutcome:
    newly_blocked: bool
    deleted: bool
    history_purged: bool


@dataclass(frozen=True, slots=True)
class History:
    """What one side can read of a pair's conversation (the contract's table)."""

    state: HistoryState | None
    purge_at: datetime | None
    read_only: bool
    messages: list[Message]


@dataclass(frozen=True, slots=True)
class PairInspection:
    status: PairStatus
    conversation: Conversation | None
    key_present: bool


@dataclass(frozen=True, slots=True)
class RelationView:
    """What an end user may learn of a pair (graded notices): their own side, and the other's
    removal of them only where disclosed. Never the other's block."""

    other: str
    in_your_contacts: bool
    you_block_them: bool
    removed_you_at: datetime | None


NO_ID_ABOVE = 2**62  # "before" when a page starts at the newest post


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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


class EngineCore:
    """The relationship engine's core: its parts, users, requests, the three ways to part,
    messages, what an end user may see of a pair, and the internals every part shares."""

    def __init__(
        self,
        store: Store,
        sealer: Sealer,
        signer: Signer,
        clock: Clock,
        limits: Limits | None = None,
        purge_batch_rows: int = 1000,
        backup_retention: timedelta = timedelta(days=35),
    ) -> None:
        self.store = store
        self.sealer = sealer
        self.clock = clock
        self.limits = limits or Limits()
        self.purger = Purger(store, clock, batch_rows=purge_batch_rows)
        self.log = TransparencyLog(store, signer, clock, backup_retention)

    # ---- users and tokens -------------------------------------------------------------
    def create_user(
        self, user_id: str, display_name: str | None = None, verification_required: bool = True
    ) -> tuple[User, str]:
        """Create a user and their first bearer token (returned once; only its hash is kept)."""
        rules.check_user_id(user_id)
        now = self.clock.now()
        user = User(user_id, display_name or user_id, verification_required, now)
        token = secrets.token_urlsafe(32)
        with self.store.write(user_id) as tx:
            if tx.erasure_pending(user_id):
                raise UserExists(f"The account {user_id!r} is still being erased.")
            if not tx.insert_user(user):
                raise UserExists(f"A user with id {user_id!r} already exists.")
            tx.insert_token(hash_token(token), user_id, now)
        return user, token

    def issue_token(self, user_id: str) -> str:
        token = secrets.token_urlsafe(32)
        with self.store.write(user_id) as tx:
            if tx.get_user(user_id) is None:
                raise UserNotFound()
            tx.insert_token(hash_token(token), user_id, self.clock.now())
        return token

    def authenticate(self, token: str) -> str:
        with self.store.read() as tx:
            user_id = tx.user_for_token(hash_token(token))
        if user_id is None:
            raise Unauthenticated()
        return user_id

    def get_user(self, user_id: str) -> User:
        with self.store.read() as tx:
            user = tx.get_user(user_id)
        if user is None:
            raise UserNotFound()
        return user

    def update_settings(
        self,
        actor: str,
        verification_required: bool | None = None,
        notice_grade: NoticeGrade | None = None,
        hide_shared_groups: bool | None = None,
    ) -> User:
        """Change any of the actor's own settings, in one transaction; None keeps a value."""
        if notice_grade is not None:
            notices.check_notice_grade(notice_grade, self.limits.notice_minimum)
        with self.store.write(actor) as tx:
            if tx.get_user(actor) is None:
                raise UserNotFound()
            if verification_required is not None:
                tx.set_verification(actor, verification_required)
            if notice_grade is not None:
                tx.set_notice_grade(actor, notice_grade)
            if hide_shared_groups is not None:
                tx.set_hide_shared_groups(actor, hide_shared_groups)
            user = tx.get_user(actor)
        assert user is not None
        return user

    # ---- friend requests (Rule 1, Rule 3) -------------------------------------------------
    def send_request(self, actor: str, target: str, message: str = "") -> RequestOutcome:
        rules.check_not_self(actor, target)
        rules.check_verification_message(message, self.limits.max_verification_chars)
        now = self.clock.now()
        with self.store.write(actor, target) as tx:
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
                request_id = tx.put_pending_request(
                    actor, target, message, swallowed, now, expires_at
                )
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

    def list_requests(self, actor: str, incoming: bool) -> list[FriendRequest]:
        now = self.clock.now()
        with self.store.read() as tx:
            return tx.list_incoming(actor, now) if incoming else tx.list_outgoing(actor, now)

    # ---- contacts: delete, block, block-then-delete (the three ways to part) ---------------
    def delete_contact(self, actor: str, other: str) -> DeleteOutcome:
        """Remove `other` from the actor's list. One-way, mutual or block-then-delete follows
        from the state the pair was in (Rules 4 and 6); the other side is told only as the
        actor's notice grade says (hushan.domain.notices)."""
        rules.check_not_self(actor, other)
        now = self.clock.now()
        with self.store.write(actor, other) as tx:
            facts = self._facts(tx, actor, other)
            if not facts.actor_has_other:
                return DeleteOutcome.NOT_IN_CONTACTS
            pair = PairLog(tx, now, actor, other, facts)
            block_delete = rules.is_block_delete(facts)
            self._remove_edge(pair, facts, may_buffer=not block_delete)
            erased = None
            if block_delete:
                erased = self._erase(pair, facts.conversation)
                tx.erase_pair_texts(actor, other)
        if erased is not None:
            self._finish_erasure(erased)
        return DeleteOutcome.DELETED

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
        if erased is not None:
            self._finish_erasure(erased)
        return BlockDeleteOutcome(newly_blocked, deleted, erased is not None)

    def list_contacts(self, actor: str) -> list[ContactRow]:
        with self.store.read() as tx:
            return tx.list_contacts(actor)

    def list_blocks(self, actor: str) -> list[str]:
        with self.store.read() as tx:
            return tx.list_blocks(actor)

    # ---- messages (Rule 2) ---------------------------------------------------------------
    def send_message(self, actor: str, recipient: str, body: str) -> Message:
        rules.check_message_body(body, self.limits.max_message_chars)
        now = self.clock.now()
        with self.store.write(actor, recipient) as tx:
            facts = self._facts(tx, actor, recipient)
            refusal = self._refusal(tx, facts, actor, recipient, now)
            if refusal is None:
                conversation = facts.conversation
                if conversation is None or conversation.state is not HistoryState.ACTIVE:
                    raise InvalidTransition("Friends without an active conversation (a bug).")
                key = self._data_key(tx, conversation)
                sealed = self.sealer.seal(key, conversation.id, body)
                message_id = tx.insert_message(conversation.id, actor, sealed, now)
                PairLog(tx, now, actor, recipient, facts).tell_both(
                    ChangeKind.MESSAGE, conversation.id, message_id=message_id
                )
                return Message(message_id, conversation.id, actor, body, now)
        raise refusal  # after the commit: a disclosure the refusal made is kept

    def _refusal(
        self, tx: Tx, facts: PairFacts, actor: str, recipient: str, now: datetime
    ) -> Refused | None:
        """Rule 2's refusal, if any. Where the recipient removed the sender under a grade that
        discloses it, the refusal says so plainly, in place of the 朋友验证 text and of any
        block (which is never disclosed)."""
        try:
            rules.check_message_allowed(facts)
        except (RecipientRemovedYou, BlockedByRecipient) as refused:
            removal = self._disclosed_removal(tx, facts, actor, recipient, now)
            if removal is not None:
                return RecipientRemovedYou(notices.removal_message(removal))
            return refused
        return None

    # ---- graded deletion notices ------------------------------------------------------------
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

    def history(self, actor: str, other: str, after_id: int = 0, limit: int = 100) -> History:
        """The conversation as the actor may read it: kept, buffered (read-only, with its purge
        date), or purged (nothing)."""
        with self.store.read() as tx:
            facts = self._facts(tx, actor, other)
            conversation = facts.conversation
            if conversation is None:
                return History(None, None, False, [])
            if conversation.state is HistoryState.PURGED:
                return History(HistoryState.PURGED, None, True, [])
            key = self._data_key(tx, conversation)
            stored = tx.list_messages(conversation.id, after_id, limit)
        messages = self._opened(key, conversation.id, stored)
        return History(
            conversation.state,
            conversation.purge_at,
            conversation.state is HistoryState.BUFFERED,
            messages,
        )

    def chat_list(self, actor: str) -> list[ChatRow]:
        with self.store.read() as tx:
            return tx.chat_list(actor)

    # ---- server-side views (Rule 8) -------------------------------------------------------
    def relation_check(self, pairs: list[tuple[str, str]]) -> list[PairStatus]:
        rules.check_pair_batch(len(pairs), self.limits.relation_check_max_pairs)
        with self.store.read() as tx:
            return tx.pair_statuses(pairs)

    def inspect_pair(self, a: str, b: str) -> PairInspection:
        with self.store.read() as tx:
            for user_id in (a, b):
                if tx.get_user(user_id) is None:
                    raise UserNotFound(f"No such user: {user_id!r}.")
            (status,) = tx.pair_statuses([(a, b)])
            conversation = tx.pair_facts(a, b).conversation
            key_present = conversation is not None and tx.wrapped_key(conversation.id) is not None
        return PairInspection(status, conversation, key_present)

    def audit_log(self, after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]:
        with self.store.read() as tx:
            return tx.audit_entries(after_seq, limit)

    # ---- internals --------------------------------------------------------------------------
    @staticmethod
    def _facts(tx: Tx, actor: str, other: str) -> PairFacts:
        facts = tx.pair_facts(actor, other)
        if not facts.other_exists:
            raise UserNotFound(f"No such user: {other!r}.")
        return facts

    def _data_key(self, tx: Tx, conversation: Conversation) -> AESGCM:
        wrapped = tx.wrapped_key(conversation.id)
        if wrapped is None:
            raise InvalidTransition("A live conversation without its key (a bug).")
        return self.sealer.unwrap(wrapped, conversation.id)

    def _opened(
        self, key: AESGCM, conversation_id: int, stored: Sequence[StoredMessage]
    ) -> list[Message]:
        return [
            Message(
                m.id,
                conversation_id,
                m.sender_id,
                self.sealer.open(key, conversation_id, m.sealed),
                m.created_at,
            )
            for m in stored
        ]

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
                pair.tx.set_history(conversation.id, HistoryState.ACTIVE.value, None)
                pair.history = rules.next_history_state(conversation.state, HistoryEvent.REFRIEND)
                pair.tell_both(ChangeKind.RESTORE, conversation.id)
                pair.log(AuditAction.HISTORY_RESTORED, f"conversation={conversation.id}")
                return
            # Due but not yet swept: purge it now, so nothing of it can come back.
            destroy_key(pair.tx, conversation, pair.actor, pair.now, HistoryEvent.PURGE_DUE)
            conversation = None
        if conversation is None or conversation.state is HistoryState.PURGED:
            self._start_conversation(pair)

    def _start_conversation(self, pair: PairLog) -> None:
        lo, hi = ordered(pair.actor, pair.other)
        conversation_id = pair.tx.insert_conversation(lo, hi, pair.now)
        pair.tx.insert_key(conversation_id, self.sealer.new_wrapped_key(conversation_id))
        pair.history = HistoryState.ACTIVE
        pair.log(AuditAction.HISTORY_STARTED, f"conversation={conversation_id}")

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
        conversation = facts.conversation
        if (
            may_buffer
            and rules.is_mutual_delete(facts)
            and conversation is not None
            and conversation.state is HistoryState.ACTIVE
        ):
            purge_at = rules.purge_at_for(pair.now, timedelta(seconds=self.limits.buffer_seconds))
            pair.history = rules.next_history_state(conversation.state, HistoryEvent.MUTUAL_DELETE)
            pair.tx.set_history(conversation.id, pair.history.value, purge_at)
            pair.tell_both(ChangeKind.HISTORY_BUFFERED, conversation.id, detail=iso_utc(purge_at))
            pair.log(
                AuditAction.HISTORY_BUFFERED,
                f"conversation={conversation.id} purge_at={iso_utc(purge_at)}",
            )

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

    def _add_block(self, pair: PairLog) -> None:
        """Rule 3: the block, which also closes the blocker's own pending request to the
        blocked side, so that accepting it can never bring them into the blocker's list. It
        stays closed when the block is lifted: the blocker sends a new one if they wish."""
        pair.tx.add_block(pair.actor, pair.other, pair.now)
        pair.log(AuditAction.BLOCK_ADDED)
        self._withdraw_pending(pair)

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

    def _erase(self, pair: PairLog, conversation: Conversation | None) -> Conversation | None:
        """Rule 6: destroy the live conversation's key now; its rows follow right after."""
        if conversation is None or conversation.state is HistoryState.PURGED:
            return None
        destroy_key(pair.tx, conversation, pair.actor, pair.now, HistoryEvent.BLOCK_DELETE)
        pair.history = HistoryState.PURGED
        return conversation

    def _finish_erasure(self, conversation: Conversation) -> None:
        self.purger.finish(conversation)
        self.store.flush_freed_pages()
