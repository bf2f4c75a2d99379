"""The service functions: every way in (library, HTTP, CLI) calls these and nothing else.

Each public method is one transaction: it loads the pair's facts, asks a rule in
`hushan.domain.rules`, writes what the rule decided and the audit entries that account for it
(Rule 7), and commits, or raises a `HushanError` having changed nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hushan.clock import Clock, iso_utc
from hushan.crypto import Sealer
from hushan.domain import groups, notices, posts, proposals, rules, sync
from hushan.domain.errors import (
    BlockedByRecipient,
    CursorOutOfRange,
    DeviceNotFound,
    ErasureInProgress,
    GroupInvitationNotFound,
    GroupNotFound,
    InvalidTransition,
    NotGroupOwner,
    NotInYourContacts,
    ProposalNotFound,
    ProposalPending,
    RecipientRemovedYou,
    Refused,
    Unauthenticated,
    UserExists,
    UserNotFound,
)
from hushan.domain.groups import (
    Group,
    GroupInvitation,
    GroupMember,
    InviteOutcome,
    LeaveOutcome,
    MemberOutcome,
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
from hushan.domain.posts import Audience, Layer, Post
from hushan.domain.proposals import Proposal, ProposalStatus
from hushan.domain.sync import Change, ChangeKind, ChangesPage, Device, NewChange
from hushan.purge import Purger, SweepReport, destroy_key
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


PROPOSALS_PER_ROUND = 64
REMOVED_ANYWAY = "removed_anyway"  # a notice's detail: the proposer's side went regardless


@dataclass(frozen=True, slots=True)
class PostsView:
    posts: list[Post]
    removed_you_at: datetime | None  # only where the author's grade discloses it


@dataclass(frozen=True, slots=True)
class SharedGroups:
    other: str
    groups: list[Group]  # empty when the other hides them from the viewer
    removed_you_at: datetime | None  # only where the other's grade discloses it


@dataclass(frozen=True, slots=True)
class Residue:
    """Where one of the user's histories is, and when it will be gone (the data residue)."""

    other: str
    conversation_id: int
    state: HistoryState
    purge_at: datetime | None
    key_destroyed_at: datetime | None
    rows_purged_at: datetime | None
    # Devices that may still hold a copy: any device while the history lives; once purged,
    # those that have not yet acknowledged its purge instruction.
    devices_with_copies: list[str]


CHANGES_PRUNED_PER_ROUND = 1000
RELATED_PER_ROUND = 64  # an erasure's pairs, looked up a batch at a time
ERASURE_LEASE = timedelta(minutes=10)  # an erasure's claim, renewed every round of pairs
ERASURES_PER_SWEEP = 16


@dataclass(frozen=True, slots=True)
class ExportedHistory:
    other: str
    conversation: Conversation
    messages: list[Message]  # empty once purged


@dataclass(frozen=True, slots=True)
class AccountExport:
    """Everything hushan holds that the user may read (data rights: an export)."""

    user: User
    exported_at: datetime
    contacts: list[tuple[ContactRow, list[str]]]  # each with the tags the user gave
    blocks: list[str]
    requests_incoming: list[FriendRequest]
    requests_outgoing: list[FriendRequest]
    histories: list[ExportedHistory]
    notices: list[Notice]
    proposals_incoming: list[Proposal]
    proposals_outgoing: list[Proposal]
    posts: list[Post]
    groups: list[Group]
    devices: list[Device]
    audit: list[AuditEntry]  # the user's own actions only (`own_entry`)


def own_entry(entry: AuditEntry) -> AuditEntry:
    """One of the user's own audit entries as they may read it: a request swallowed by a block
    reads as sent, as it did to them (the export leaves out the relation and history state,
    which would tell the other side's edge and block)."""
    if entry.action is AuditAction.REQUEST_SWALLOWED:
        return dataclasses.replace(entry, action=AuditAction.REQUEST_SENT)
    return entry


def _group_lock(group_id: int) -> str:
    # Named among the users a write locks, so that changes to one group's membership (and its
    # owner) are serialized; no user id contains ':', so it is nobody's lock.
    return f"group:{group_id}"


_NO_ID_ABOVE = 2**62  # "before" when a page starts at the newest post


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class _PairLog:
    """Tracks a pair's edges and history during one change, and audits each step with the
    state that step produced (Rule 7)."""

    def __init__(self, tx: Tx, now: datetime, actor: str, other: str, facts: PairFacts) -> None:
        self.tx, self.now, self.actor, self.other = tx, now, actor, other
        self.facts = facts
        self.actor_has_other = facts.actor_has_other
        self.other_has_actor = facts.other_has_actor
        self.history = facts.history_state

    @property
    def relation(self) -> PairRelation:
        return PairRelation.of(self.actor_has_other, self.other_has_actor)

    def tell_both(self, kind: ChangeKind, conversation_id: int, detail: str = "") -> None:
        """A change of the pair's shared history, for both users' devices."""
        self.tx.add_changes(
            [
                NewChange(self.actor, kind, self.other, conversation_id, detail=detail),
                NewChange(self.other, kind, self.actor, conversation_id, detail=detail),
            ],
            self.now,
        )

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
                detail=detail,
            )
        )


class Hushan:
    """The relationship engine. Thread-safe; holds no state of its own besides its parts."""

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
            pair = _PairLog(tx, now, actor, target, facts)
            if decision.action is rules.RequestAction.BEFRIEND:
                self._befriend(pair, facts, reason=decision.reason)
            elif decision.action is not rules.RequestAction.NOTHING:
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
            if request is None or request.swallowed:
                return rules.check_accept_answer(facts)
            rules.check_can_accept(facts)
            self._befriend(_PairLog(tx, now, actor, requester, facts), facts, reason="accepted")
            return RequestOutcome.ADDED

    def reject_request(self, actor: str, requester: str) -> RejectOutcome:
        now = self.clock.now()
        with self.store.write(actor, requester) as tx:
            facts = self._facts(tx, actor, requester)
            request = tx.pending_request(requester, actor, now)
            if request is None or request.swallowed:
                return RejectOutcome.NOT_PENDING
            tx.decide_request(request.id, RequestStatus.REJECTED.value, now)
            _PairLog(tx, now, actor, requester, facts).log(
                AuditAction.REQUEST_REJECTED, f"request={request.id}"
            )
            return RejectOutcome.REJECTED

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
            pair = _PairLog(tx, now, actor, other, facts)
            block_delete = rules.is_block_delete(facts)
            self._remove_edge(pair, facts, may_buffer=not block_delete)
            erased = self._erase(pair, facts.conversation) if block_delete else None
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
            tx.add_block(actor, other, now)
            _PairLog(tx, now, actor, other, facts).log(AuditAction.BLOCK_ADDED)
            return BlockOutcome.BLOCKED

    def unblock(self, actor: str, other: str) -> BlockOutcome:
        """Rule 3: undo exactly the block, nothing else (an erased history stays erased)."""
        rules.check_not_self(actor, other)
        now = self.clock.now()
        with self.store.write(actor, other) as tx:
            facts = self._facts(tx, actor, other)
            if not tx.remove_block(actor, other):
                return BlockOutcome.NOT_BLOCKED
            _PairLog(tx, now, actor, other, facts).log(AuditAction.BLOCK_REMOVED)
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
            pair = _PairLog(tx, now, actor, other, facts)
            newly_blocked = not facts.actor_blocks_other
            if newly_blocked:
                tx.add_block(actor, other, now)
                pair.log(AuditAction.BLOCK_ADDED)
            deleted = facts.actor_has_other
            if deleted:
                self._remove_edge(pair, facts, may_buffer=False)
            erased = self._erase(pair, facts.conversation)
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
                tx.add_changes(
                    [
                        NewChange(
                            actor, ChangeKind.MESSAGE, recipient, conversation.id, message_id
                        ),
                        NewChange(
                            recipient, ChangeKind.MESSAGE, actor, conversation.id, message_id
                        ),
                    ],
                    now,
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

    def sweep(self) -> SweepReport:
        """Run one purge sweep (Rule 5), close mutual-delete proposals whose window passed,
        then sign a checkpoint of the log."""
        report = self.purger.sweep()  # first: nothing else may hold up a due purge
        report = dataclasses.replace(
            report,
            proposals_expired=self.expire_proposals(),
            changes_pruned=self.prune_changes(),
            erasures_finished=self.finish_erasures(),
        )
        self.log.publish()
        return report

    # ---- posts and layers (hushan.domain.posts) ---------------------------------------------
    def create_post(
        self,
        actor: str,
        body: str,
        audience: Audience = Audience.ALL,
        hidden_from: Sequence[str] = (),
        tag: str | None = None,
    ) -> Post:
        rules.check_message_body(body, self.limits.max_message_chars)
        for user_id in hidden_from:
            rules.check_user_id(user_id)
        tag = posts.check_tag(tag) if audience is Audience.TAG else None
        now = self.clock.now()
        hidden = hidden_from if audience is Audience.EXCEPT else ()
        with self.store.write(actor) as tx:
            if tx.get_user(actor) is None:
                raise UserNotFound()
            post_id = tx.insert_post(actor, body, audience, hidden, tag, now)
        return Post(post_id, actor, body, audience, now, tag)

    def feed(self, actor: str, before_id: int | None = None, limit: int = 20) -> list[Post]:
        with self.store.read() as tx:
            return tx.feed(actor, before_id or _NO_ID_ABOVE, limit)

    def posts_by(
        self, actor: str, author: str, before_id: int | None = None, limit: int = 20
    ) -> PostsView:
        """The author's posts as the actor may see them. Where the author removed the actor
        under a grade that discloses it, the view says so (and looking is the `on_contact`
        moment); under `silent` the posts just stop showing."""
        removal = None if actor == author else self._look_at(actor, author)[1]
        with self.store.read() as tx:
            posts = tx.posts_by(actor, author, before_id or _NO_ID_ABOVE, limit)
        return PostsView(posts, None if removal is None else removal.at)

    def tag_contact(self, actor: str, other: str, tag: str, on: bool = True) -> list[str]:
        """Give a contact a tag (or take it away); the other side is not told."""
        rules.check_not_self(actor, other)
        posts.check_tag(tag)
        with self.store.write(actor, other) as tx:
            if not self._facts(tx, actor, other).actor_has_other:
                raise NotInYourContacts()
            if on:
                tx.tag_contact(actor, other, tag)
            else:
                tx.untag_contact(actor, other, tag)
            return tx.contact_tags(actor, other)

    def contact_tags(self, actor: str, other: str) -> list[str]:
        with self.store.read() as tx:
            return tx.contact_tags(actor, other)

    def set_layer(self, actor: str, other: str, layer: Layer) -> Layer:
        """Put a contact on a layer; the other side is not told."""
        rules.check_not_self(actor, other)
        with self.store.write(actor, other) as tx:
            if not tx.set_layer(actor, other, layer):
                raise NotInYourContacts()
        return layer

    # ---- groups (hushan.domain.groups) -------------------------------------------------------
    def create_group(self, actor: str, name: str) -> Group:
        groups.check_group_name(name)
        now = self.clock.now()
        with self.store.write(actor) as tx:
            if tx.get_user(actor) is None:
                raise UserNotFound()
            group_id = tx.insert_group(name, actor, now)
        return Group(group_id, name, actor, now, members=1)

    def invite_to_group(self, actor: str, group_id: int, invitee: str) -> InviteOutcome:
        """Invite a contact of the actor's; the answer is the same whether or not the invitee
        blocks the actor (then the invitation is swallowed, Rule 3)."""
        now = self.clock.now()
        with self.store.write(actor, invitee, _group_lock(group_id)) as tx:
            self._member_group(tx, group_id, actor)
            if tx.is_member(group_id, invitee):
                return InviteOutcome.ALREADY_MEMBER
            facts = self._facts(tx, actor, invitee)
            groups.check_can_invite(facts)
            tx.put_group_invitation(group_id, actor, invitee, facts.other_blocks_actor, now)
            return InviteOutcome.INVITED

    def join_group(self, actor: str, group_id: int) -> Group:
        """Accept a pending invitation to the group."""
        now = self.clock.now()
        with self.store.write(actor, _group_lock(group_id)) as tx:
            self._take_invitation(tx, actor, group_id)
            group = tx.get_group(group_id)
            if group is None:  # invitations go with their group: a bug if it is missing
                raise InvalidTransition("An invitation to a group that is gone (a bug).")
            groups.check_room(group.members, self.limits.max_group_members)
            tx.add_member(group_id, actor, now)
        return dataclasses.replace(group, members=group.members + 1)

    def decline_group_invitation(self, actor: str, group_id: int) -> None:
        with self.store.write(actor, _group_lock(group_id)) as tx:
            self._take_invitation(tx, actor, group_id)

    def group_invitations(self, actor: str) -> list[GroupInvitation]:
        with self.store.read() as tx:
            return tx.group_invitations(actor)

    def leave_group(self, actor: str, group_id: int) -> LeaveOutcome:
        """Leave; an owner who leaves hands the group to its longest-standing member, and the
        last member out dissolves it."""
        with self.store.write(actor, _group_lock(group_id)) as tx:
            return self._leave(tx, actor, self._member_group(tx, group_id, actor))

    @staticmethod
    def _leave(tx: Tx, actor: str, group: Group) -> LeaveOutcome:
        tx.remove_member(group.id, actor)
        rest = tx.group_members(group.id)
        if not rest:
            tx.delete_group(group.id)
            return LeaveOutcome.DISSOLVED
        if group.owner == actor:
            tx.set_group_owner(group.id, rest[0].user_id)
        return LeaveOutcome.LEFT

    def remove_group_member(self, actor: str, group_id: int, member: str) -> MemberOutcome:
        """The owner removes someone else (anyone may leave: `leave_group`)."""
        with self.store.write(actor, member, _group_lock(group_id)) as tx:
            group = self._member_group(tx, group_id, actor)
            if group.owner != actor or member == actor:
                raise NotGroupOwner()
            if not tx.remove_member(group_id, member):
                return MemberOutcome.NOT_A_MEMBER
            return MemberOutcome.REMOVED

    def list_groups(self, actor: str) -> list[Group]:
        with self.store.read() as tx:
            return tx.user_groups(actor)

    def group_members(self, actor: str, group_id: int) -> list[GroupMember]:
        with self.store.read() as tx:
            self._member_group(tx, group_id, actor)
            return tx.group_members(group_id)

    def shared_groups(self, actor: str, other: str) -> SharedGroups:
        """The groups both are in, as the actor may see them: hidden by the other's
        `hide_shared_groups` only where that tells the actor nothing their own side and the
        other's notice grade do not (hushan.domain.groups); looking is an `on_contact` moment."""
        rules.check_not_self(actor, other)
        facts, removal = self._look_at(actor, other)
        with self.store.read() as tx:
            them = tx.get_user(other)
            hides = them is not None and them.hide_shared_groups
            hidden = groups.shared_groups_hidden(hides, facts, removal is not None)
            found = [] if hidden else tx.shared_groups(actor, other)
        return SharedGroups(other, found, None if removal is None else removal.at)

    @staticmethod
    def _member_group(tx: Tx, group_id: int, user_id: str) -> Group:
        """The group, if the user is in it; to anyone else it does not exist."""
        group = tx.get_group(group_id)
        if group is None or not tx.is_member(group_id, user_id):
            raise GroupNotFound()
        return group

    @staticmethod
    def _take_invitation(tx: Tx, invitee: str, group_id: int) -> GroupInvitation:
        """Take the invitee's invitation to the group, if they can see it: not swallowed, and
        not from someone they block now (as with friend requests)."""
        invitation = tx.take_group_invitation(group_id, invitee)
        if invitation is None or invitation.swallowed:
            raise GroupInvitationNotFound()
        if tx.pair_facts(invitee, invitation.inviter).actor_blocks_other:
            raise GroupInvitationNotFound()
        return invitation

    # ---- devices, the sync feed and the data residue (hushan.domain.sync) ------------------
    def register_device(self, actor: str, name: str) -> Device:
        """A new device; its cursor starts at the feed's head (it fetches the current state,
        contacts and conversations, by the usual calls, then follows the feed)."""
        sync.check_device_name(name)
        now = self.clock.now()
        with self.store.write(actor) as tx:
            if tx.get_user(actor) is None:
                raise UserNotFound()
            sync.check_device_room(len(tx.devices(actor)), self.limits.max_devices)
            head, _ = tx.change_bounds(actor)
            device = Device(secrets.token_hex(8), actor, name, head, now)
            tx.insert_device(device)
        return device

    def devices(self, actor: str) -> list[Device]:
        with self.store.read() as tx:
            return tx.devices(actor)

    def remove_device(self, actor: str, device_id: str) -> None:
        with self.store.write(actor) as tx:
            if not tx.delete_device(actor, device_id):
                raise DeviceNotFound()

    def device_changes(
        self, actor: str, device_id: str, after: int | None = None, limit: int = 100
    ) -> ChangesPage:
        """The changes after `after` (default: the device's acknowledged cursor), in order.
        A message of a conversation purged since is skipped: its content went with its key."""
        with self.store.read() as tx:
            device = self._device(tx, actor, device_id)
            start = device.cursor if after is None else after
            head, oldest = tx.change_bounds(actor)
            sync.check_cursor(start, head, oldest)
            stored = tx.changes_after(actor, start, limit)
            keys: dict[int, AESGCM | None] = {}
            changes: list[Change] = []
            for found in stored:
                stored_message, conversation_id = found.message, found.conversation_id
                if stored_message is None or conversation_id is None:
                    if found.kind is not ChangeKind.MESSAGE and found.kind is not ChangeKind.GONE:
                        changes.append(
                            Change(
                                found.seq,
                                found.kind,
                                found.at,
                                found.other,
                                conversation_id,
                                None,
                                found.detail,
                            )
                        )
                    continue  # a message deleted by a purge, or blanked: nothing is served
                if conversation_id not in keys:
                    wrapped = tx.wrapped_key(conversation_id)
                    keys[conversation_id] = (
                        None if wrapped is None else self.sealer.unwrap(wrapped, conversation_id)
                    )
                key = keys[conversation_id]
                if key is None:
                    continue  # purged since: its content went with its key
                body = self.sealer.open(key, conversation_id, stored_message.sealed)
                message = Message(
                    stored_message.id, conversation_id, stored_message.sender_id, body, found.at
                )
                changes.append(
                    Change(found.seq, found.kind, found.at, found.other, conversation_id, message)
                )
        next_cursor = stored[-1].seq if stored else start
        return ChangesPage(start, changes, next_cursor, more=next_cursor < head)

    def acknowledge(self, actor: str, device_id: str, cursor: int) -> Device:
        """The device has applied every change up to `cursor`; its cursor never moves back."""
        with self.store.write(actor) as tx:
            self._device(tx, actor, device_id)
            head, _ = tx.change_bounds(actor)
            if not 0 <= cursor <= head:
                raise CursorOutOfRange(f"The cursor must be between 0 and {head}.")
            tx.acknowledge(actor, device_id, cursor, self.clock.now())
            return self._device(tx, actor, device_id)

    def feed_head(self, actor: str) -> int:
        with self.store.read() as tx:
            return tx.change_bounds(actor)[0]

    def data_residue(self, actor: str) -> list[Residue]:
        """For each history the actor has had with someone: its state, when it goes, and which
        of their devices may still hold a copy."""
        with self.store.read() as tx:
            if tx.get_user(actor) is None:
                raise UserNotFound()
            conversations = tx.user_conversations(actor)
            devices = tx.devices(actor)
            purge_seqs = tx.purge_seqs(actor)
            _, oldest = tx.change_bounds(actor)
        found = []
        for conversation in conversations:
            if conversation.state is HistoryState.PURGED:
                # Without its instruction (dropped with age) only an expired device is left.
                seq = purge_seqs.get(conversation.id, (oldest or 1) - 1)
                holding = [d.id for d in devices if d.cursor < seq]
            else:
                holding = [d.id for d in devices]
            other = conversation.user_hi if conversation.user_lo == actor else conversation.user_lo
            found.append(
                Residue(
                    other,
                    conversation.id,
                    conversation.state,
                    conversation.purge_at,
                    conversation.key_destroyed_at,
                    conversation.rows_purged_at,
                    holding,
                )
            )
        return found

    def prune_changes(self) -> int:
        """Drop feed changes past their retention (never a user's newest), in batches."""
        before = self.clock.now() - timedelta(seconds=self.limits.change_retention_seconds)
        pruned = 0
        while True:
            # No user's lock: pruning never touches the newest change a writer numbers from.
            with self.store.write() as tx:
                gone = tx.prune_changes(before, CHANGES_PRUNED_PER_ROUND)
            pruned += gone
            if gone < CHANGES_PRUNED_PER_ROUND:
                return pruned

    @staticmethod
    def _device(tx: Tx, actor: str, device_id: str) -> Device:
        device = tx.device(actor, device_id)
        if device is None:
            raise DeviceNotFound()
        return device

    # ---- data rights: export and account erasure -------------------------------------------
    _PAGE = 10_000

    def export_account(self, actor: str) -> AccountExport:
        """Everything the actor may read, from one consistent snapshot: profile, contacts and
        tags, blocks, requests, every history still readable, notices, proposals, posts,
        groups, devices, and the audit entries that name them."""
        now = self.clock.now()
        with self.store.read() as tx:
            user = tx.get_user(actor)
            if user is None:
                raise UserNotFound()
            contacts = [(c, tx.contact_tags(actor, c.user_id)) for c in tx.list_contacts(actor)]
            histories = []
            for conversation in tx.user_conversations(actor):
                other = (
                    conversation.user_hi if conversation.user_lo == actor else conversation.user_lo
                )
                messages = []
                if conversation.state is not HistoryState.PURGED:
                    key, after = self._data_key(tx, conversation), 0
                    while page := tx.list_messages(conversation.id, after, self._PAGE):
                        messages += self._opened(key, conversation.id, page)
                        after = page[-1].id
                histories.append(ExportedHistory(other, conversation, messages))
            posts_, before = [], _NO_ID_ABOVE
            while page_ := tx.posts_by(actor, actor, before, self._PAGE):
                posts_ += page_
                before = page_[-1].id
            return AccountExport(
                user=user,
                exported_at=now,
                contacts=contacts,
                blocks=tx.list_blocks(actor),
                requests_incoming=tx.list_incoming(actor, now),
                requests_outgoing=tx.list_outgoing(actor, now),
                histories=histories,
                notices=tx.notices(actor, 0, 2**31),
                proposals_incoming=tx.live_proposals(actor, True, now),
                proposals_outgoing=tx.live_proposals(actor, False, now),
                posts=posts_,
                groups=tx.user_groups(actor),
                devices=tx.devices(actor),
                audit=[own_entry(e) for e in tx.audit_entries_of(actor) if e.actor == actor],
            )

    def erase_account(self, user_id: str) -> None:
        """Erase the account: it is gone at once (no token works, nobody can reach it); every
        relationship then parts as a block-then-delete would, each history purged at once for
        both sides; posts, devices, feed, inbox, tags, requests and proposals go; the user
        leaves every group; and the audit log keeps its events, with the id replaced in each
        pair by a reference nobody can tie back to it. A crash midway leaves the erasure
        pending: the sweep finishes it once the claim on it lapses."""
        now, claim = self.clock.now(), secrets.token_hex(16)
        with self.store.write(user_id) as tx:
            started = tx.start_erasure(user_id, now, claim, now + ERASURE_LEASE)
            pending = started or tx.erasure_pending(user_id)
            claimed = started or (
                pending and tx.claim_erasure(user_id, claim, now, now + ERASURE_LEASE)
            )
        if not pending:
            raise UserNotFound()
        if not claimed:
            raise ErasureInProgress()
        self._complete_erasure(user_id, claim)

    def finish_erasures(self) -> int:
        """Finish erasures a crash left pending, once their claim lapsed (the sweep's part)."""
        now = self.clock.now()
        with self.store.read() as tx:
            pending = tx.pending_erasures(now, ERASURES_PER_SWEEP)
        finished = 0
        for user_id in pending:
            claim = secrets.token_hex(16)
            with self.store.write(user_id) as tx:
                if not tx.claim_erasure(user_id, claim, now, now + ERASURE_LEASE):
                    continue  # taken by someone else meanwhile
            try:
                self._complete_erasure(user_id, claim)
            except ErasureInProgress:
                continue  # taken over by another process, which finishes it
            finished += 1
        return finished

    def _complete_erasure(self, user_id: str, claim: str) -> None:
        key = secrets.token_bytes(32)  # for this run's references only; never stored

        def ref_for(other: str) -> str:
            # One reference per pair: the other side's records name the erased user by one no
            # other pair shares, so nobody can put the user's pairs back together.
            message = f"{user_id}\x00{other}".encode()
            # ':' is no user id's: a reference can never be taken for an account.
            return "erased:" + hmac.new(key, message, hashlib.sha256).hexdigest()[:32]

        done: set[str] = set()
        while True:
            with self.store.read() as tx:
                related = tx.related_users(user_id, RELATED_PER_ROUND)
            if not related:
                break
            if done.issuperset(related):  # erased once, yet still tied: never loop on it
                raise InvalidTransition(f"Pair rows left after erasing {related} (a bug).")
            for other in related:
                self._erase_pair(user_id, other, claim)
            done.update(related)
        with self.store.read() as tx:
            group_ids = tx.user_groups_ids(user_id)
        for group_id in group_ids:
            with self.store.write(user_id, _group_lock(group_id)) as tx:
                self._hold_erasure(tx, user_id, claim)
                group = tx.get_group(group_id)
                if group is not None and tx.is_member(group_id, user_id):  # else removed since
                    self._leave(tx, user_id, group)
        with self.store.write(user_id) as tx:
            self._hold_erasure(tx, user_id, claim)
            tx.erase_own_rows(user_id, tombstone=f"erased:{secrets.token_hex(16)}")
        while True:
            self.log.publish()  # every entry naming the user gets its leaf first
            with self.store.write(user_id, log=True) as tx:
                if tx.last_audit_seq_of(user_id) <= tx.log_head()[1]:
                    if not tx.replace_user_refs(user_id, ref_for, claim):
                        raise ErasureInProgress("Another process took this erasure over.")
                    break
        self.store.flush_freed_pages()

    def _hold_erasure(self, tx: Tx, user_id: str, claim: str) -> None:
        """Renew the claim inside a write of the erasure, or stop: another process took the
        erasure over (it lapsed), and nothing this one would write may land."""
        now = self.clock.now()
        if not tx.claim_erasure(user_id, claim, now, now + ERASURE_LEASE):
            raise ErasureInProgress("Another process took this erasure over.")

    def _erase_pair(self, user_id: str, other: str, claim: str) -> None:
        """One pair of an erasure, in one transaction: both edges go, the history is erased
        as by a block-then-delete (Rule 6), every other row of the pair goes, and the other's
        devices are told; then the rows of any history of theirs still purging."""
        now = self.clock.now()
        with self.store.write(user_id, other) as tx:
            self._hold_erasure(tx, user_id, claim)
            facts = tx.pair_facts(user_id, other)
            pair = _PairLog(tx, now, user_id, other, facts)
            if facts.actor_has_other:
                tx.remove_edge(user_id, other)
                pair.actor_has_other = False
                pair.log(AuditAction.EDGE_REMOVED, f"{user_id}->{other}")
            if facts.other_has_actor:
                tx.remove_edge(other, user_id)
                tx.add_changes([NewChange(other, ChangeKind.CONTACT_REMOVED, user_id)], now)
                pair.other_has_actor = False
            erased = self._erase(pair, facts.conversation)
            rows = tx.erase_pair_rows(user_id, other)
            if facts.actor_has_other or facts.other_has_actor or erased or rows:
                pair.log(AuditAction.ACCOUNT_ERASED)  # blocks, requests and the rest went too
        with self.store.read() as tx:
            lo, hi = ordered(user_id, other)
            purging = [
                c
                for c in tx.user_conversations(user_id)
                if (c.user_lo, c.user_hi) == (lo, hi)
                and c.state is HistoryState.PURGED
                and c.rows_purged_at is None
            ]
        for conversation in purging:
            self.purger.finish(conversation)

    # ---- consensual mutual delete (hushan.domain.proposals) ---------------------------------
    def propose_mutual_delete(
        self, actor: str, other: str, message: str = "", remove_anyway: bool = False
    ) -> Proposal:
        rules.check_not_self(actor, other)
        rules.check_verification_message(message, self.limits.max_verification_chars)
        now = self.clock.now()
        self._expire_due_between(actor, other, now)  # committed first: it may change the pair
        with self.store.write(actor, other) as tx:
            theirs = tx.pending_proposal(other, actor)
            if tx.pending_proposal(actor, other) or (theirs and not theirs.swallowed):
                raise ProposalPending()  # a swallowed one is invisible to its addressee
            facts = self._facts(tx, actor, other)
            proposals.check_can_propose(facts)
            swallowed = facts.other_blocks_actor  # Rule 3: they never see it
            expires_at = now + timedelta(seconds=self.limits.proposal_ttl_seconds)
            proposal_id = tx.insert_proposal(
                actor, other, message, remove_anyway, now, expires_at, swallowed
            )
            if not swallowed:
                tx.add_notice(other, NoticeKind.MUTUAL_DELETE_PROPOSED, actor, now, now, message)
        status = ProposalStatus.PENDING
        return Proposal(
            proposal_id, actor, other, message, remove_anyway, status, now, expires_at, swallowed
        )

    def accept_mutual_delete(self, actor: str, proposer: str) -> ProposalStatus:
        """Both edges go in this one transaction (a mutual delete, Rule 4); both are told."""
        now = self.clock.now()
        with self.store.write(actor, proposer) as tx:
            proposal = self._live_proposal(tx, proposer, actor, now, answering=True)
            for remover, removed in ((actor, proposer), (proposer, actor)):
                self._consented_removal(tx, remover, removed, now, told=True)
            tx.decide_proposal(proposal.id, ProposalStatus.ACCEPTED, now)
            for user, other in ((actor, proposer), (proposer, actor)):
                tx.add_notice(user, NoticeKind.MUTUAL_DELETE_ACCEPTED, other, now, now)
        return ProposalStatus.ACCEPTED

    def _consented_removal(
        self, tx: Tx, remover: str, removed: str, now: datetime, told: bool
    ) -> None:
        """Remove the remover's edge, if it is still there, as agreed. It is a plain removal
        even under the remover's block: erasing at once (Rule 6) would show the other side the
        block, so the history is buffered as in any mutual delete, and the blocker can still
        erase it with a block-and-delete. `told`: the other side knows of it from the
        proposal's notices, so it is kept as disclosed; else it is kept under the remover's
        grade like any delete."""
        facts = self._facts(tx, remover, removed)  # read again: an earlier removal changed it
        if facts.actor_has_other:
            pair = _PairLog(tx, now, remover, removed, facts)
            self._remove_edge(pair, facts, may_buffer=True, consented=told)

    def decline_mutual_delete(self, actor: str, proposer: str) -> bool:
        """Decline; returns whether the proposer asked for their side to go anyway (it went,
        if it was still there: the answer does not tell whether they had removed you)."""
        now = self.clock.now()
        with self.store.write(actor, proposer) as tx:
            proposal = self._live_proposal(tx, proposer, actor, now, answering=True)
            tx.decide_proposal(proposal.id, ProposalStatus.DECLINED, now)
            self._remove_anyway(tx, proposal, now)
            detail = REMOVED_ANYWAY if proposal.remove_anyway else ""
            tx.add_notice(proposer, NoticeKind.MUTUAL_DELETE_DECLINED, actor, now, now, detail)
        return proposal.remove_anyway

    def withdraw_mutual_delete(self, actor: str, other: str) -> ProposalStatus:
        now = self.clock.now()
        with self.store.write(actor, other) as tx:
            proposal = self._live_proposal(tx, actor, other, now)
            tx.decide_proposal(proposal.id, ProposalStatus.WITHDRAWN, now)
            if not proposal.swallowed:
                tx.add_notice(other, NoticeKind.MUTUAL_DELETE_WITHDRAWN, actor, now, now)
        return ProposalStatus.WITHDRAWN

    def list_proposals(self, actor: str, incoming: bool) -> list[Proposal]:
        with self.store.read() as tx:
            return tx.live_proposals(actor, incoming, self.clock.now())

    def expire_proposals(self) -> int:
        """Close every proposal whose window has passed (each in its pair's own transaction)."""
        now, expired = self.clock.now(), 0
        while True:
            with self.store.read() as tx:
                due = tx.due_proposals(now, PROPOSALS_PER_ROUND)
            for found in due:
                with self.store.write(*found.pair) as tx:
                    proposal = tx.pending_proposal(*found.pair)
                    if proposal is not None and proposal.id == found.id:  # else decided since
                        self._expire_proposal(tx, proposal, now)
                        expired += 1
            if len(due) < PROPOSALS_PER_ROUND:
                return expired

    def _live_proposal(
        self, tx: Tx, proposer: str, other: str, now: datetime, answering: bool = False
    ) -> Proposal:
        """The proposer's pending proposal to the other, its window open; `answering` (the
        other accepts or declines) also hides one that was swallowed."""
        proposal = tx.pending_proposal(proposer, other)
        if proposal is None or proposal.is_due(now) or (answering and proposal.swallowed):
            raise ProposalNotFound()
        return proposal

    def _expire_due_between(self, a: str, b: str, now: datetime) -> None:
        with self.store.write(a, b) as tx:
            for proposal in (tx.pending_proposal(a, b), tx.pending_proposal(b, a)):
                if proposal is not None and proposal.is_due(now):
                    self._expire_proposal(tx, proposal, now)

    def _expire_proposal(self, tx: Tx, proposal: Proposal, now: datetime) -> None:
        tx.decide_proposal(proposal.id, ProposalStatus.EXPIRED, now)
        self._remove_anyway(tx, proposal, now)
        detail = REMOVED_ANYWAY if proposal.remove_anyway else ""
        told = [proposal.pair] if proposal.swallowed else [proposal.pair, proposal.pair[::-1]]
        for user, other in told:
            kind = NoticeKind.MUTUAL_DELETE_EXPIRED
            tx.add_notice(user, kind, other, proposal.expires_at, now, detail)

    def _remove_anyway(self, tx: Tx, proposal: Proposal, now: datetime) -> None:
        """With "remove anyway", the proposer's side goes, unless they removed the other
        themselves since (a side added back after that belongs to a later friendship). A
        swallowed proposal's addressee was never told of it, so that removal is kept under
        the proposer's own grade, as any delete of theirs."""
        if proposal.remove_anyway and not proposal.spent:
            told = not proposal.swallowed
            self._consented_removal(tx, proposal.proposer, proposal.other, now, told=told)

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

    def _add_edge(self, pair: _PairLog, contacts_before: int, owner: str, detail: str) -> None:
        rules.check_friend_limit(contacts_before, self.limits.max_friends)
        contact = pair.other if owner == pair.actor else pair.actor
        pair.tx.add_edge(owner, contact, pair.now)
        pair.tx.add_changes([NewChange(owner, ChangeKind.CONTACT_ADDED, contact)], pair.now)
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

    def _befriend(self, pair: _PairLog, facts: PairFacts, reason: str) -> None:
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

    def _start_conversation(self, pair: _PairLog) -> None:
        lo, hi = ordered(pair.actor, pair.other)
        conversation_id = pair.tx.insert_conversation(lo, hi, pair.now)
        pair.tx.insert_key(conversation_id, self.sealer.new_wrapped_key(conversation_id))
        pair.history = HistoryState.ACTIVE
        pair.log(AuditAction.HISTORY_STARTED, f"conversation={conversation_id}")

    def _remove_edge(
        self, pair: _PairLog, facts: PairFacts, may_buffer: bool, consented: bool = False
    ) -> None:
        """Remove the actor's edge; if the other had already removed theirs and the history is
        active, this is a mutual delete and the history goes to the buffer (Rule 4), unless
        the caller is about to erase it (`may_buffer=False`, Rule 6)."""
        pair.tx.remove_edge(pair.actor, pair.other)
        pair.tx.add_changes(
            [NewChange(pair.actor, ChangeKind.CONTACT_REMOVED, pair.other)], pair.now
        )
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
            pair.tell_both(ChangeKind.HISTORY_BUFFERED, conversation.id, iso_utc(purge_at))
            pair.log(
                AuditAction.HISTORY_BUFFERED,
                f"conversation={conversation.id} purge_at={iso_utc(purge_at)}",
            )

    def _record_removal(
        self, pair: _PairLog, facts: PairFacts, consented: bool, erasing: bool
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

    def _erase(self, pair: _PairLog, conversation: Conversation | None) -> Conversation | None:
        """Rule 6: destroy the live conversation's key now; its rows follow right after."""
        if conversation is None or conversation.state is HistoryState.PURGED:
            return None
        destroy_key(pair.tx, conversation, pair.actor, pair.now, HistoryEvent.BLOCK_DELETE)
        pair.history = HistoryState.PURGED
        return conversation

    def _finish_erasure(self, conversation: Conversation) -> None:
        self.purger.finish(conversation)
        self.store.flush_freed_pages()
