"""Data rights: the export of an account, and its erasure, as engine calls."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hushan.domain import rules
from hushan.domain.cleanup import CleanupBatch
from hushan.domain.errors import ErasureInProgress, InvalidTransition, UserNotFound
from hushan.domain.groups import Group
from hushan.domain.model import (
    AuditAction,
    AuditEntry,
    Conversation,
    FriendRequest,
    HistoryState,
    Message,
    User,
)
from hushan.domain.notices import Notice
from hushan.domain.posts import Post
from hushan.domain.proposals import Proposal
from hushan.domain.sync import ChangeKind, Device
from hushan.service.contacts import ContactsService
from hushan.service.engine import NO_ID_ABOVE
from hushan.service.groups import GroupsService, group_lock
from hushan.service.pairlog import PairLog
from hushan.service.webhooks import RELAY_BATCH
from hushan.store.base import NO_LIMIT, ContactRow, Tx
from hushan.store.held import after_commit

RELATED_PER_ROUND = 64  # an erasure's pairs, looked up a batch at a time
ERASURES_PER_SWEEP = 16
# The lease of an erasure queued for `hushan worker`: lapsed from the start, whatever the clock
# of the process that takes it (the API's test clock may run ahead of the worker's).
UNCLAIMED = datetime(1970, 1, 1, tzinfo=UTC)


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
    audit: list[AuditEntry]  # the user's own actions only (`own_entries`)
    cleanup_batches: list[CleanupBatch] = dataclasses.field(default_factory=list)


def own_entries(entries: list[AuditEntry], user_id: str) -> list[AuditEntry]:
    """The user's own audit entries as they may read them (two worlds): a request swallowed by
    a block reads as sent, as it did to them; what a request they were told `already_friends`
    of did is left out, as nothing happened to them (it reached someone who had removed them).
    The export also leaves out the relation and history state, which would tell the other
    side's edge and block."""
    return [
        dataclasses.replace(entry, action=AuditAction.REQUEST_SENT)
        if entry.action is AuditAction.REQUEST_SWALLOWED
        else entry
        for entry in entries
        if entry.actor == user_id and rules.TOLD_ALREADY_FRIENDS not in entry.detail.split()
    ]


class RightsService(GroupsService, ContactsService):
    """An account's export, and its erasure (resumable, claimed with a lease)."""

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
            tags = tx.tags_by_contact(actor)
            contacts = [(c, tags.get(c.user_id, [])) for c in tx.list_contacts(actor)]
            histories = []
            for conversation in tx.user_conversations(actor):
                other = (
                    conversation.user_hi if conversation.user_lo == actor else conversation.user_lo
                )
                messages = []
                if rules.is_readable(conversation):
                    key, after = self._data_key(tx, conversation), 0
                    while page := tx.list_messages(conversation, after, self._PAGE):
                        messages += self._opened(key, conversation.id, page)
                        after = page[-1].id
                histories.append(ExportedHistory(other, conversation, messages))
            posts_, before = [], NO_ID_ABOVE
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
                audit=own_entries(tx.audit_entries_of(actor), actor),
                cleanup_batches=tx.cleanup_batches(actor, NO_ID_ABOVE, NO_LIMIT),
            )

    def erase_account(self, user_id: str) -> None:
        """Erase the account: it is gone at once (no token works, nobody can reach it); every
        relationship then parts as a block-then-delete would, each history purged at once for
        both sides and the mini-programs' grants between the two revoked (`grant.revoked` goes
        out through the outbox in that pair's transaction); posts, devices, feed, inbox, tags,
        requests and proposals go; the user leaves every group; and the audit log keeps its
        events, with the id replaced in each pair by a reference nobody can tie back to it. A
        crash midway leaves the erasure pending: the sweep finishes it once the claim on it
        lapses."""
        self.complete_erasure(user_id, self.begin_erasure(user_id))

    def erasure_pending(self, user_id: str) -> bool:
        """Whether an erasure of the account has begun and is not done yet."""
        with self.store.read() as tx:
            return tx.erasure_pending(user_id)

    @property
    def _erasure_lease(self) -> timedelta:
        return timedelta(seconds=self.limits.erasure_lease_seconds)

    def begin_erasure(self, user_id: str) -> str:
        """The erasure's first step: the account is gone at once, and its erasure is claimed.
        Returns the claim, for `complete_erasure` (now, or as a job)."""
        now, claim = self.clock.now(), secrets.token_hex(16)
        with self.store.write(user_id) as tx:
            started = tx.start_erasure(user_id, now, claim, now + self._erasure_lease)
            pending = started or tx.erasure_pending(user_id)
            claimed = started or (
                pending and tx.claim_erasure(user_id, claim, now, now + self._erasure_lease)
            )
        if not pending:
            raise UserNotFound()
        if not claimed:
            raise ErasureInProgress()
        return claim

    def queue_erasure(self, user_id: str) -> None:
        """The erasure's first step, the rest left to `hushan worker`: the account is gone at
        once, and its erasure is pending with no claim on it, for the next `finish_erasures`
        (a worker polls for them) to take."""
        now = self.clock.now()
        with self.store.write(user_id) as tx:
            started = tx.start_erasure(user_id, now, secrets.token_hex(16), UNCLAIMED)
            pending = started or tx.erasure_pending(user_id)
        if not pending:
            raise UserNotFound()
        if not started:
            raise ErasureInProgress()

    def finish_erasures(self, limit: int = ERASURES_PER_SWEEP) -> int:
        """Finish pending erasures nobody holds: those queued for a worker, and those a crash
        left once their claim lapsed (the worker's part, and the sweep's)."""
        now = self.clock.now()
        with self.store.read() as tx:
            pending = tx.pending_erasures(now, limit)
        finished = 0
        for user_id in pending:
            claim, now = secrets.token_hex(16), self.clock.now()
            with self.store.write(user_id) as tx:
                if not tx.claim_erasure(user_id, claim, now, now + self._erasure_lease):
                    continue  # taken by someone else meanwhile
            try:
                self.complete_erasure(user_id, claim)
            except ErasureInProgress:
                continue  # taken over by another process, which finishes it
            finished += 1
        return finished

    def complete_erasure(self, user_id: str, claim: str) -> None:
        """Everything after `begin_erasure`, under its claim (resumable, see erase_account)."""
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
            group_ids = [group.id for group in tx.user_groups(user_id)]
        for group_id in group_ids:
            with self.store.write(user_id, group_lock(group_id)) as tx:
                self._hold_erasure(tx, user_id, claim)
                group = tx.get_group(group_id)
                if group is not None and tx.is_member(group_id, user_id):  # else removed since
                    self._leave(tx, user_id, group)
        with self.store.write(user_id) as tx:
            self._hold_erasure(tx, user_id, claim)
            # The platforms the user linked get the erasure's events (relayed while their
            # links still stand) before the links go with the rest.
            while tx.relay_events(self.clock.now(), RELAY_BATCH) == RELAY_BATCH:
                pass
            tx.erase_own_rows(user_id, tombstone=f"erased:{secrets.token_hex(16)}")
            tx.unbind_user_everywhere(user_id)
            tx.leave_orgs(user_id)
        while True:
            self.log.publish()  # every entry naming the user gets its leaf first
            with self.store.write(user_id, log=True) as tx:
                if tx.last_audit_seq_of(user_id) <= tx.log_head()[1]:
                    if not tx.replace_user_refs(user_id, ref_for, claim):
                        raise ErasureInProgress("Another process took this erasure over.")
                    break
        after_commit(self.store.flush_freed_pages)

    def _hold_erasure(self, tx: Tx, user_id: str, claim: str) -> None:
        """Renew the claim inside a write of the erasure, or stop: another process took the
        erasure over (it lapsed), and nothing this one would write may land."""
        now = self.clock.now()
        if not tx.claim_erasure(user_id, claim, now, now + self._erasure_lease):
            raise ErasureInProgress("Another process took this erasure over.")

    def _erase_pair(self, user_id: str, other: str, claim: str) -> None:
        """One pair of an erasure, in one transaction: both edges go, the history is erased
        as by a block-then-delete (Rule 6), every other row of the pair goes, and the other's
        devices are told; then the rows of any history of theirs still purging."""
        now = self.clock.now()
        with self.store.write(user_id, other) as tx:
            self._hold_erasure(tx, user_id, claim)
            facts = tx.pair_facts(user_id, other)
            pair = PairLog(tx, now, user_id, other, facts)
            if facts.actor_has_other:
                tx.remove_edge(user_id, other)
                pair.actor_has_other = False
                pair.log(AuditAction.EDGE_REMOVED, f"{user_id}->{other}")
            if facts.other_has_actor:
                tx.remove_edge(other, user_id)
                pair.tell(other, ChangeKind.CONTACT_REMOVED)
                pair.other_has_actor = False
            erased = self._erase(pair, facts.conversation)
            rows = tx.erase_pair_rows(user_id, other)
            if facts.actor_has_other or facts.other_has_actor or erased or rows:
                pair.log(AuditAction.ACCOUNT_ERASED)  # blocks, requests and the rest went too
        with self.store.read() as tx:
            purging = [
                c
                for c in tx.pair_conversations(user_id, other)
                if c.state is HistoryState.PURGED and c.rows_purged_at is None
            ]
        for conversation in purging:
            self.purger.finish(conversation)
