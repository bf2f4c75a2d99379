"""The storage interface: one transaction (`Tx`) at a time, opened by a `Store`.

Every service call runs inside exactly one `Store.write()` or `Store.read()` block: a write
commits only when the block ends without an exception and rolls back otherwise, so no change
is ever half-applied. One implementation per backend subclasses these.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from hushan.domain.credentials import Credential, TokenInfo
from hushan.domain.groups import Group, GroupInvitation, GroupMember
from hushan.domain.model import (
    AuditEntry,
    Conversation,
    FriendRequest,
    PairFacts,
    PairStatus,
    User,
)
from hushan.domain.notices import Notice, NoticeGrade, NoticeKind, Removal
from hushan.domain.official import Binding, OfficialAccount
from hushan.domain.posts import Audience, Layer, Post
from hushan.domain.proposals import Proposal, ProposalStatus
from hushan.domain.sync import ChangeKind, Device, NewChange
from hushan.store.cleanup_tx import CleanupTx
from hushan.store.events_tx import EventsTx
from hushan.store.holds_tx import HoldsTx
from hushan.store.orgs_tx import OrgsTx
from hushan.tlog.smt import Node, Position


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    sender_id: str
    sealed: bytes
    created_at: datetime
    client_msg_id: str | None = None


@dataclass(frozen=True, slots=True)
class StoredReply:
    """The first reply to an idempotency key, and the fingerprint of the request it answered."""

    fingerprint: bytes
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True, slots=True)
class SweepRun:
    """One sweep as kept for the operator console: when, and what it did (its report's
    counts, by name)."""

    started_at: datetime
    finished_at: datetime
    report: dict[str, int]


@dataclass(frozen=True, slots=True)
class StoredChange:
    """A change of a user's sync feed as stored; a message's body still sealed."""

    seq: int
    kind: ChangeKind
    at: datetime
    other: str
    conversation_id: int | None
    message: StoredMessage | None
    detail: str
    lo: str | None = None  # the message's pair's lower id, where its key is kept


@dataclass(frozen=True, slots=True)
class LogLeaf:
    index: int
    seq: int
    user_lo: str
    user_hi: str
    pair_n: int
    entry: str
    hash: bytes


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str
    published_at: datetime


@dataclass(frozen=True, slots=True)
class ContactRow:
    user_id: str
    display_name: str
    added_at: datetime


@dataclass(frozen=True, slots=True)
class ChatRow:
    """A conversation in a user's chat list: the other user and the latest message time."""

    other_id: str
    conversation_id: int
    last_message_at: datetime | None


class StagedEdge(NamedTuple):
    """One edge of a bulk import: `owner` has `contact` in their list (from input `line`)."""

    line: int
    owner: str
    contact: str


@dataclass(frozen=True, slots=True)
class ImportCounts:
    users: int  # created (ids already known are kept as they are)
    edges: int
    pairs: int  # each with a new conversation and its key
    audit_entries: int
    events: int = 0  # outbox events, one per audit entry unless the import asked for none


# The `limit` of a list read whole (an export, a rule that counts): more rows than any has.
NO_LIMIT = 2**62
# The `after` of a list ordered by a moment and an id, read from its start.
FROM_START: tuple[datetime, str] = (datetime(1970, 1, 1, tzinfo=UTC), "")


class Tx(EventsTx, OrgsTx, HoldsTx, CleanupTx, ABC):
    """One open transaction. Methods read or write; none commits.

    A list read takes `after`, the key of the last item of the page before (keyset paging, in
    the list's own order: hushan.api.paging), and `limit`."""

    # users and tokens
    @abstractmethod
    def insert_user(self, user: User) -> bool:
        """Insert; False (and no change) if the id is taken."""

    @abstractmethod
    def get_user(self, user_id: str) -> User | None: ...

    @abstractmethod
    def set_verification(self, user_id: str, required: bool) -> None: ...

    @abstractmethod
    def set_display_name(self, user_id: str, display_name: str) -> None: ...

    @abstractmethod
    def list_users(self, after: str = "", limit: int = NO_LIMIT) -> list[User]:
        """Users with ids after `after`, by id."""

    @abstractmethod
    def insert_token(
        self,
        token_hash: str,
        user_id: str,
        now: datetime,
        expires_at: datetime | None = None,
        minted_by: str | None = None,
    ) -> str:
        """Store a token's hash; returns the token's public id."""

    @abstractmethod
    def user_for_token(self, token_hash: str) -> str | None: ...

    @abstractmethod
    def token_by_hash(self, token_hash: str) -> TokenInfo | None: ...

    @abstractmethod
    def touch_token(self, token_hash: str, now: datetime, unless_since: datetime) -> None:
        """Record a use at `now`, unless one after `unless_since` is recorded."""

    @abstractmethod
    def user_tokens(
        self,
        user_id: str,
        after: tuple[datetime, str] = FROM_START,
        limit: int = NO_LIMIT,
    ) -> list[TokenInfo]:
        """The user's tokens, oldest first (expired ones included until revoked), after the
        one created at `after[0]` with id `after[1]`."""

    @abstractmethod
    def delete_token(self, user_id: str, token: str) -> bool:
        """Revoke the user's token of that id; False if they have none such."""

    @abstractmethod
    def delete_tokens(self, user_id: str, keep: str | None) -> int:
        """Revoke every token of the user's but the one with id `keep`; how many went."""

    # service credentials (hushan.domain.credentials)
    @abstractmethod
    def insert_credential(self, credential: Credential, secret_hash: str) -> None: ...

    @abstractmethod
    def credential(self, credential_id: str, now: datetime) -> Credential | None: ...

    @abstractmethod
    def credentials(
        self,
        now: datetime,
        after: tuple[datetime, str] = FROM_START,
        limit: int = NO_LIMIT,
    ) -> list[Credential]:
        """Every credential, revoked ones too, oldest first (by creation, then id)."""

    @abstractmethod
    def credential_for_secret(self, secret_hash: str, now: datetime) -> Credential | None:
        """The credential a live secret belongs to; None if revoked, rotated out or unknown."""

    @abstractmethod
    def rotate_credential(
        self, credential_id: str, secret_hash: str, now: datetime, old_until: datetime
    ) -> None:
        """Add a secret; the older ones work until `old_until` at the latest."""

    @abstractmethod
    def revoke_credential(self, credential_id: str, now: datetime) -> bool:
        """Revoke it and drop its secrets; False if it was revoked already."""

    # the pair, as the rules see it
    @abstractmethod
    def pair_facts(self, actor: str, other: str) -> PairFacts: ...

    @abstractmethod
    def pair_statuses(self, pairs: Sequence[tuple[str, str]]) -> list[PairStatus]:
        """The server's view of many pairs at once, in the order given (Rule 8)."""

    # edges and blocks
    @abstractmethod
    def add_edge(self, owner: str, contact: str, now: datetime) -> None: ...

    @abstractmethod
    def remove_edge(self, owner: str, contact: str) -> bool: ...

    @abstractmethod
    def list_contacts(self, owner: str, after: str = "", limit: int = NO_LIMIT) -> list[ContactRow]:
        """By contact id."""

    @abstractmethod
    def add_block(self, blocker: str, blocked: str, now: datetime) -> None: ...

    @abstractmethod
    def remove_block(self, blocker: str, blocked: str) -> bool: ...

    @abstractmethod
    def list_blocks(self, blocker: str, after: str = "", limit: int = NO_LIMIT) -> list[str]:
        """The ids the blocker blocks, in order."""

    # friend requests
    @abstractmethod
    def pending_request(self, from_id: str, to_id: str, now: datetime) -> FriendRequest | None:
        """The live (pending, unexpired) request from `from_id` to `to_id`, swallowed or not."""

    @abstractmethod
    def put_pending_request(
        self,
        from_id: str,
        to_id: str,
        message: str,
        swallowed: bool,
        now: datetime,
        expires_at: datetime,
    ) -> int:
        """Create the pending request, or replace the one already pending (no duplicates)."""

    @abstractmethod
    def decide_request(self, request_id: int, status: str, now: datetime) -> None: ...

    @abstractmethod
    def close_pending_between(self, a: str, b: str, now: datetime) -> list[FriendRequest]:
        """Mark every pending request between a and b (either way) accepted; return them."""

    @abstractmethod
    def list_incoming(
        self, to_id: str, now: datetime, after_id: int = 0, limit: int = NO_LIMIT
    ) -> list[FriendRequest]:
        """Live requests to `to_id`, minus swallowed ones and ones from users it blocks, by
        id."""

    @abstractmethod
    def list_outgoing(
        self, from_id: str, now: datetime, after_id: int = 0, limit: int = NO_LIMIT
    ) -> list[FriendRequest]:
        """Live requests from `from_id`, swallowed ones included (the sender cannot tell), but
        not those to users `from_id` has in contacts (they were told `already_friends`), by
        id."""

    @abstractmethod
    def due_requests(self, now: datetime, limit: int) -> list[FriendRequest]:
        """Pending requests whose expiry has passed."""

    # conversations, keys and messages
    @abstractmethod
    def insert_conversation(self, user_lo: str, user_hi: str, now: datetime) -> int: ...

    @abstractmethod
    def insert_key(self, conversation_id: int, lo: str, wrapped_key: bytes) -> None:
        """The new conversation's data key, kept beside its pair (`lo`, the lower id)."""

    @abstractmethod
    def wrapped_key(self, conversation_id: int, lo: str) -> bytes | None:
        """The conversation's data key (`lo`: its pair's lower id); None once destroyed."""

    @abstractmethod
    def set_history(
        self, conversation: Conversation, state: str, purge_at: datetime | None
    ) -> None: ...

    @abstractmethod
    def destroy_key(self, conversation: Conversation, now: datetime, block_deleted: bool) -> None:
        """Delete the wrapped key and mark the conversation purged (step 1 of a purge)."""

    @abstractmethod
    def due_for_purge(self, now: datetime, limit: int) -> list[Conversation]:
        """Buffered conversations whose purge_at has passed."""

    @abstractmethod
    def purged_with_rows(self, limit: int) -> list[Conversation]:
        """Purged conversations whose message rows are not yet all deleted."""

    @abstractmethod
    def delete_messages(self, conversation: Conversation, limit: int) -> int:
        """Delete up to `limit` message rows of the conversation; returns how many went."""

    @abstractmethod
    def mark_rows_purged(self, conversation: Conversation, now: datetime) -> bool:
        """Set rows_purged_at once; False if it was already set."""

    @abstractmethod
    def insert_message(
        self,
        conversation: Conversation,
        sender_id: str,
        sealed: bytes,
        now: datetime,
        client_msg_id: str | None = None,
    ) -> int: ...

    @abstractmethod
    def message_by_client_id(
        self, sender_id: str, client_msg_id: str
    ) -> tuple[int, str, StoredMessage] | None:
        """The sender's message with that client id, its conversation's id and its pair's
        lower id."""

    @abstractmethod
    def forget_client_id(self, message_id: int) -> None:
        """Free a client id whose message can no longer be read (its key destroyed)."""

    @abstractmethod
    def list_messages(
        self, conversation: Conversation, after_id: int, limit: int
    ) -> list[StoredMessage]: ...

    @abstractmethod
    def pair_conversations(self, a: str, b: str) -> list[Conversation]:
        """Every conversation the two have had, oldest first."""

    @abstractmethod
    def user_conversations(self, user_id: str) -> list[Conversation]:
        """Every conversation the user is in, whatever its state, oldest first."""

    @abstractmethod
    def chat_list(self, user_id: str, after: str = "", limit: int = NO_LIMIT) -> list[ChatRow]:
        """The user's active conversations (buffered and purged ones are hidden), by the other
        user's id."""

    # graded deletion notices (hushan.domain.notices)
    @abstractmethod
    def set_notice_grade(self, user_id: str, grade: NoticeGrade) -> None: ...

    @abstractmethod
    def record_removal(self, removal: Removal) -> None: ...

    @abstractmethod
    def end_removal(self, remover: str, removed: str) -> None:
        """The remover has the other again: nothing is left to disclose."""

    @abstractmethod
    def removal(self, remover: str, removed: str) -> Removal | None: ...

    @abstractmethod
    def mark_removal_disclosed(self, remover: str, removed: str, now: datetime) -> None: ...

    @abstractmethod
    def add_notice(
        self,
        user_id: str,
        kind: NoticeKind,
        other: str,
        happened: datetime,
        now: datetime,
        detail: str = "",
    ) -> None: ...

    @abstractmethod
    def notices(self, user_id: str, after_id: int, limit: int) -> list[Notice]:
        """The user's notices after `after_id`, oldest first."""

    @abstractmethod
    def mark_notices_read(self, user_id: str, up_to_id: int, now: datetime) -> int:
        """Mark the user's unread notices up to `up_to_id` read; returns how many."""

    # consensual mutual delete (hushan.domain.proposals)
    @abstractmethod
    def insert_proposal(
        self,
        proposer: str,
        other: str,
        message: str,
        remove_anyway: bool,
        now: datetime,
        expires_at: datetime,
        swallowed: bool,
    ) -> int: ...

    @abstractmethod
    def pending_proposal(self, proposer: str, other: str) -> Proposal | None:
        """The proposer's pending proposal to the other, whether its window has passed or not."""

    @abstractmethod
    def mark_proposal_spent(self, proposer: str, other: str) -> None:
        """The proposer removed the other themselves: "remove anyway" has nothing left to do."""

    @abstractmethod
    def decide_proposal(self, proposal_id: int, status: ProposalStatus, now: datetime) -> None: ...

    @abstractmethod
    def live_proposals(
        self,
        user_id: str,
        incoming: bool,
        now: datetime,
        after_id: int = 0,
        limit: int = NO_LIMIT,
    ) -> list[Proposal]:
        """Pending proposals to (incoming) or from the user whose window is still open, by
        id."""

    @abstractmethod
    def due_proposals(self, now: datetime, limit: int) -> list[Proposal]:
        """Pending proposals whose window has passed, oldest first."""

    # posts and layers (hushan.domain.posts)
    @abstractmethod
    def insert_post(
        self,
        author: str,
        body: str,
        audience: Audience,
        hidden_from: Sequence[str],
        tag: str | None,
        now: datetime,
    ) -> int: ...

    @abstractmethod
    def tag_contact(self, owner: str, contact: str, tag: str) -> None: ...

    @abstractmethod
    def untag_contact(self, owner: str, contact: str, tag: str) -> None: ...

    @abstractmethod
    def contact_tags(self, owner: str, contact: str) -> list[str]: ...

    @abstractmethod
    def tags_by_contact(self, owner: str) -> dict[str, list[str]]:
        """Every tag the owner gave, by contact, in one read (an export)."""

    @abstractmethod
    def feed(self, viewer: str, before_id: int, limit: int) -> list[Post]:
        """Posts the viewer may see, theirs and their contacts', newest first."""

    @abstractmethod
    def posts_by(self, viewer: str, author: str, before_id: int, limit: int) -> list[Post]:
        """The author's posts the viewer may see, newest first."""

    @abstractmethod
    def set_layer(self, owner: str, contact: str, layer: Layer) -> bool:
        """False (and no change) if the owner does not have the contact."""

    @abstractmethod
    def layers_by_contact(self, owner: str) -> dict[str, Layer]:
        """The owner's contacts on a layer other than `full`, in one read."""

    # official accounts (hushan.domain.official); `table` is FANS or ADMINS of official_sql
    @abstractmethod
    def insert_account(self, account_id: str, name: str, now: datetime) -> bool:
        """False (and nothing written) if the id is taken."""

    @abstractmethod
    def get_account(self, account_id: str) -> OfficialAccount | None: ...

    @abstractmethod
    def bind(self, table: str, account_id: str, user_id: str, now: datetime) -> bool:
        """False if the user already was bound so."""

    @abstractmethod
    def unbind(self, table: str, account_id: str, user_id: str) -> bool: ...

    @abstractmethod
    def bindings(
        self,
        table: str,
        account_id: str,
        after: tuple[datetime, str] = FROM_START,
        limit: int = NO_LIMIT,
    ) -> list[Binding]:
        """Oldest first, after the (since, user) key `after` (a keyset page)."""

    @abstractmethod
    def account_admins(self, account_id: str) -> set[str]: ...

    @abstractmethod
    def unbind_user_everywhere(self, user_id: str) -> None: ...

    # groups (hushan.domain.groups)
    @abstractmethod
    def set_hide_shared_groups(self, user_id: str, hide: bool) -> None: ...

    @abstractmethod
    def insert_group(self, name: str, owner: str, now: datetime) -> int:
        """Create the group with its owner as its first member."""

    @abstractmethod
    def get_group(self, group_id: int) -> Group | None: ...

    @abstractmethod
    def add_member(self, group_id: int, user_id: str, now: datetime) -> None: ...

    @abstractmethod
    def remove_member(self, group_id: int, user_id: str) -> bool: ...

    @abstractmethod
    def is_member(self, group_id: int, user_id: str) -> bool: ...

    @abstractmethod
    def group_members(
        self,
        group_id: int,
        after: tuple[datetime, str] = FROM_START,
        limit: int = NO_LIMIT,
    ) -> list[GroupMember]:
        """Members, longest-standing first (by when they joined, then id)."""

    @abstractmethod
    def set_group_owner(self, group_id: int, owner: str) -> None: ...

    @abstractmethod
    def delete_group(self, group_id: int) -> None:
        """Delete an empty group and its pending invitations."""

    @abstractmethod
    def user_groups(self, user_id: str, after_id: int = 0, limit: int = NO_LIMIT) -> list[Group]:
        """The user's groups, by id."""

    @abstractmethod
    def shared_groups(self, a: str, b: str) -> list[Group]: ...

    @abstractmethod
    def put_group_invitation(
        self, group_id: int, inviter: str, invitee: str, swallowed: bool, now: datetime
    ) -> None:
        """Create the invitation, or replace the pending one (no duplicates)."""

    @abstractmethod
    def take_group_invitation(self, group_id: int, invitee: str) -> GroupInvitation | None:
        """Remove the invitee's pending invitation to the group, swallowed or not, and
        return it."""

    @abstractmethod
    def group_invitations(
        self, invitee: str, after_group: int = 0, limit: int = NO_LIMIT
    ) -> list[GroupInvitation]:
        """The invitee's pending invitations, minus swallowed ones and ones from users the
        invitee blocks, by group id (the one key a renewed invitation keeps)."""

    # the device sync feed (hushan.domain.sync)
    @abstractmethod
    def add_changes(self, changes: Sequence[NewChange], now: datetime) -> None:
        """Append each change to its user's feed, with the next number of their sequence; the
        caller holds those users' write locks."""

    @abstractmethod
    def change_bounds(self, user_id: str) -> tuple[int, int | None]:
        """(the user's newest seq, 0 if none; their oldest kept seq, None if none)."""

    @abstractmethod
    def changes_after(self, user_id: str, after: int, limit: int) -> list[StoredChange]: ...

    @abstractmethod
    def blank_message_changes(self, conversation: Conversation) -> None:
        """Blank both users' feed changes for the messages of a purged conversation."""

    @abstractmethod
    def prune_changes(self, before: datetime, limit: int) -> int:
        """Drop up to `limit` changes made before `before`, never a user's newest."""

    @abstractmethod
    def purge_seqs(self, user_id: str) -> dict[int, int]:
        """For each purged conversation of the user's: the seq of its purge change."""

    @abstractmethod
    def insert_device(self, device: Device) -> None: ...

    @abstractmethod
    def device(self, user_id: str, device_id: str) -> Device | None: ...

    @abstractmethod
    def devices(
        self,
        user_id: str,
        after: tuple[datetime, str] = FROM_START,
        limit: int = NO_LIMIT,
    ) -> list[Device]:
        """The user's devices, first registered first."""

    @abstractmethod
    def acknowledge(self, user_id: str, device_id: str, cursor: int, now: datetime) -> None:
        """Move the device's cursor forward to `cursor` (never back)."""

    @abstractmethod
    def delete_device(self, user_id: str, device_id: str) -> bool: ...

    # account export and erasure (the service's data rights)
    @abstractmethod
    def start_erasure(self, user_id: str, now: datetime, claim: str, until: datetime) -> bool:
        """Delete the account and its tokens and mark its erasure pending, claimed by `claim`
        until `until`; False if there is no such account."""

    @abstractmethod
    def claim_erasure(self, user_id: str, claim: str, now: datetime, until: datetime) -> bool:
        """Hold or renew the erasure, unless another claim on it is still current."""

    @abstractmethod
    def erasure_pending(self, user_id: str) -> bool: ...

    @abstractmethod
    def pending_erasures(self, now: datetime, limit: int) -> list[str]:
        """Erasures nobody holds a current claim on."""

    @abstractmethod
    def related_users(self, user_id: str, limit: int) -> list[str]:
        """Users still tied to the user by any pair row (or an unfinished history)."""

    @abstractmethod
    def erase_pair_texts(self, a: str, b: str) -> int:
        """What the two wrote to or about each other outside their history (requests,
        proposals, tags, posts only the other could see, notice texts); how many rows went."""

    @abstractmethod
    def erase_pair_rows(self, user_id: str, other: str) -> int:
        """Every pair row of the two but edges and conversations, texts included; how many
        went."""

    @abstractmethod
    def erase_own_rows(self, user_id: str, tombstone: str) -> None:
        """Posts, devices, feed (its newest row kept, blank, as `tombstone`'s), inbox and
        invitations of the user."""

    @abstractmethod
    def last_audit_seq_of(self, user_id: str) -> int: ...

    @abstractmethod
    def replace_user_refs(self, user_id: str, ref_for: Callable[[str], str], claim: str) -> bool:
        """Replace every remaining plain id of the user, in each pair by `ref_for(other)`, drop
        the log's salts for their pairs, and end the erasure; False if `claim` lost it."""

    @abstractmethod
    def audit_entries_of(self, user_id: str) -> list[AuditEntry]:
        """Every audit entry naming the user, in order (an export)."""

    # idempotency keys (hushan.api.idempotency)
    @abstractmethod
    def idempotent_reply(self, caller: str, key: str, now: datetime) -> StoredReply | None:
        """The stored reply to the caller's key, unless it expired."""

    @abstractmethod
    def put_idempotent_reply(
        self, caller: str, key: str, reply: StoredReply, now: datetime, expires_at: datetime
    ) -> bool:
        """Store the reply; False (and no change) if the key has a live one already."""

    @abstractmethod
    def prune_idempotency(self, now: datetime, limit: int) -> int:
        """Drop up to `limit` expired keys; how many went."""

    # audit
    @abstractmethod
    def append_audit(self, entry: AuditEntry) -> None: ...

    @abstractmethod
    def audit_entries(self, after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]: ...

    @abstractmethod
    def audit_entries_before(self, before_seq: int, limit: int) -> list[AuditEntry]:
        """Up to `limit` entries older than `before_seq`, the newest first."""

    # health (/metrics, /readyz)
    @abstractmethod
    def purge_backlog(self, now: datetime) -> tuple[int, int, datetime | None]:
        """Histories due for purge and not yet purged: (buffered past `purge_at`, key
        destroyed with rows left, and the earliest of the first's `purge_at` and the second's
        `key_destroyed_at`)."""

    @abstractmethod
    def log_integration_lag(self) -> int:
        """Audit entries not yet in the transparency log."""

    @abstractmethod
    def schema_revision(self) -> str | None:
        """The database's Alembic revision."""

    @abstractmethod
    def record_sweep(self, run: SweepRun, keep: int) -> None:
        """Keep `run`, and only the newest `keep` runs."""

    @abstractmethod
    def last_sweeps(self, limit: int) -> list[SweepRun]:
        """The newest runs, newest first."""

    # transparency log
    @abstractmethod
    def log_head(self) -> tuple[int, int]:
        """(leaves in the log, seq of the last audit entry they cover)."""

    @abstractmethod
    def log_pair(self, lo: str, hi: str) -> tuple[bytes, int] | None:
        """The pair's ref salt and how many log entries it has, if it has any."""

    @abstractmethod
    def save_log_pair(self, lo: str, hi: str, salt: bytes, entries: int) -> None: ...

    @abstractmethod
    def pair_leaf_count(self, lo: str, hi: str) -> int:
        """How many leaves name the pair: for a pair without a salt, those of an erased
        account's pair whose salt the erasure dropped (a hold kept its history to purge)."""

    @abstractmethod
    def append_leaves(self, leaves: Sequence[LogLeaf]) -> None: ...

    @abstractmethod
    def put_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        """Store complete-subtree hashes of level 1 and up (level 0 is the leaves' own)."""

    @abstractmethod
    def node(self, level: int, index: int) -> bytes:
        """A complete-subtree hash (level 0: a leaf's); KeyError if it is not stored."""

    @abstractmethod
    def map_nodes(self, positions: Sequence[Position]) -> dict[Position, Node]:
        """The stored map nodes at those positions (absent ones are empty)."""

    @abstractmethod
    def put_map_nodes(self, nodes: Sequence[tuple[Position, Node]]) -> None:
        """Store map nodes, each replacing what its position held."""

    @abstractmethod
    def map_head(self) -> tuple[int, bytes]:
        """(log leaves the map covers, its root): (0, the empty root) before the first."""

    @abstractmethod
    def set_map_head(self, size: int, root: bytes) -> None: ...

    @abstractmethod
    def pair_leaves(self, lo: str, hi: str, below: int) -> list[LogLeaf]:
        """The pair's leaves with index < `below`, in order."""

    @abstractmethod
    def leaves(self, after: int, limit: int) -> list[LogLeaf]:
        """Leaves with index > `after`, in order (export)."""

    @abstractmethod
    def latest_checkpoint(self) -> StoredCheckpoint | None: ...

    @abstractmethod
    def checkpoints(self, after_size: int, limit: int) -> list[StoredCheckpoint]: ...

    @abstractmethod
    def put_checkpoint(self, checkpoint: StoredCheckpoint) -> None: ...

    @abstractmethod
    def add_checkpoint_signatures(self, size: int, lines: str) -> None:
        """Append signature lines (a witness's cosignatures) to a stored checkpoint's note."""

    @abstractmethod
    def last_certificate_size(self, lo: str, hi: str) -> int | None: ...

    @abstractmethod
    def put_certificate(self, lo: str, hi: str, holder: str, size: int, now: datetime) -> None: ...

    # bulk import (hushan.importer), inside `Store.bulk_write`
    @abstractmethod
    def stage_import(self, edges: Sequence[StagedEdge]) -> None:
        """Keep edges in this transaction's staging area until `apply_import`."""

    @abstractmethod
    def taken_import_pair(self) -> StagedEdge | None:
        """The first staged pair hushan already holds anything of (edge, block, request or
        conversation), with the line it came from; None when every pair is new."""

    @abstractmethod
    def apply_import(self, now: datetime, verification_required: bool) -> ImportCounts:
        """Users, edges, contact counts and one active conversation per pair (`audit_entries`
        is 0 here: `audit_import` writes them, last)."""

    @abstractmethod
    def import_over_limit(self, max_friends: int) -> tuple[str, int] | None:
        """An importing user whose contact count now exceeds `max_friends`, and that count."""

    @abstractmethod
    def imported_conversations(self, after_id: int, limit: int) -> list[tuple[int, str]]:
        """Ids of the import's new conversations after `after_id`, in order, each with its
        pair's lower user id (for their keys)."""

    @abstractmethod
    def insert_keys(self, keys: Sequence[tuple[int, str, bytes]]) -> None:
        """Conversations' data keys: (conversation id, the pair's lower id, wrapped key)."""

    @abstractmethod
    def audit_import(self, now: datetime, events: bool) -> int:
        """The audit entries of the applied import, numbered last, each with its outbox
        event if `events`; returns how many entries."""

    @abstractmethod
    def end_import(self) -> None:
        """Drop the staging area."""


# Seconds a write waits for its turn (locks) before giving up with `Busy`.
DEFAULT_BUSY_TIMEOUT = 5.0


class Store(ABC):
    """Opens transactions on one database. Thread-safe: each thread gets its own connection."""

    @abstractmethod
    def write(self, *users: str, log: bool = False) -> AbstractContextManager[Tx]:
        """A write transaction that changes what belongs to `users` (their edges, blocks,
        requests, shared conversations, counts) and, with `log`, the transparency log's tables.

        Every lock is taken when the transaction starts, never later, so no two writers can
        wait on each other in a cycle: transactions on disjoint users run side by side where
        the backend allows it (PostgreSQL), and one at a time where it does not (SQLite).
        Audit entries are sequenced at commit, so their order is the order of commits."""

    def write_if_free(self) -> AbstractContextManager[Tx]:
        """A write worth making only if it needs no wait (a hint, such as a token's last use):
        `Busy` at once where another writer holds the lock. By default a plain `write`, for a
        backend whose writers to different rows do not wait on each other."""
        return self.write()

    def write_unsynced(self) -> AbstractContextManager[Tx]:
        """A `write` of rows a crash of the database itself may lose, because what they record
        is then simply done again (a webhook attempt's outcome: the attempt is made again): its
        commit does not wait for the disk, and it reaches the database in as few round trips as
        the backend can make it. By default a plain `write`, for a backend whose commit never
        waits for the disk (SQLite's WAL at `synchronous=NORMAL`)."""
        return self.write()

    @abstractmethod
    def bulk_write(self) -> AbstractContextManager[Tx]:
        """A write transaction that excludes every other writer for its whole length (reads go
        on), for changes to more users than `write` can name: a bulk import."""

    @abstractmethod
    def scratch(self) -> AbstractContextManager[Tx]:
        """A transaction that writes only this connection's temporary tables (a bulk import's
        staging) and so takes no write lock: they outlive it, for a `bulk_write` that follows
        on the same connection (inside `pinned`)."""

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """Keep this thread's transactions on one connection until the block ends, so that
        temporary tables outlive the transaction that made them (a bulk import's staging). A
        backend whose threads keep one connection each anyway has nothing to do."""
        yield

    @abstractmethod
    def after_bulk_load(self) -> None:
        """Refresh what the query planner knows of the tables after a bulk load."""

    @abstractmethod
    def read(self) -> AbstractContextManager[Tx]:
        """A read-only transaction on one consistent snapshot."""

    @abstractmethod
    def watch_changes(self, stop: threading.Event) -> Iterator[set[str]]:
        """Until `stop` is set: each time other transactions (in any process) have added sync
        changes, the users they were for. The first yield, an empty set, says it is watching
        (what committed before may have been missed); later it may also yield an empty set now
        and then (to check `stop`). Waiting costs no CPU to speak of."""

    @abstractmethod
    def flush_freed_pages(self) -> None:
        """Make sure bytes freed by a purge leave every file the backend keeps (WAL included)."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def table_names(self) -> list[str]: ...

    @abstractmethod
    def dump_rows(self, table: str) -> Iterator[tuple[Any, ...]]:
        """Every row of a table, for tests and audits that must see all stored data."""
