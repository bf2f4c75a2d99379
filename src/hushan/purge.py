"""The purge sweep (Rule 5) and the erasure of block-then-delete (Rule 6).

Safety design, decided before the code:

1. Key first, rows after. A purge starts by deleting the conversation's wrapped data key and
   marking the conversation `purged`, in one transaction with its `key_destroyed` audit entry.
   From that commit on every copy of the ciphertext (live rows, WAL frames, backups) is
   unreadable, so whatever happens next, nothing of the history can come back. SQLite's
   `secure_delete` overwrites the freed bytes of the key row; after each sweep the WAL is
   checkpointed and truncated so its older frames, which still held the key, are gone too.
2. Many keys per transaction, one statement per key. Destroying a key touches one key row and
   one conversation row, never the messages, so this step costs the same for a conversation of
   one message as for one of a million.
3. Rows in bounded batches. Message rows of purged conversations are deleted `batch_rows` at a
   time, one transaction per batch, so no purge holds the write lock for long and API writes
   interleave. A batch runs on from one conversation into the next, so many small
   conversations share a transaction. A crash between batches leaves only ciphertext whose
   key is gone.
4. Done last. When a conversation has no message rows left, `rows_purged_at` is set and the
   `rows_purged` audit entry written in the same transaction.
5. Idempotent and resumable. Each step selects its work by state alone: buffered and due
   -> step 1; purged with `rows_purged_at` unset -> steps 3 and 4. Re-running after a crash at
   any point resumes where the last commit left off and never repeats a finished step; a
   conversation's state only moves forward (buffered -> purged -> rows purged).
6. Bounded. A sweep handles at most `max_conversations` per step, so one sweep's time is
   bounded; what is left is picked up by the next sweep.

7. Legal holds. A due history that a live legal hold covers (hushan.domain.holds) is not
   purged: under the same locks as step 1 the sweep records `purge_deferred_legal_hold` once,
   pins the hold to the conversation and leaves its key. Step 1's selection skips it from then
   on while a live hold covers it; once none does, the next sweep takes it as any other.

Expired friend requests are closed here too (Rule 1), each with its `request_expired` entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from hushan.clock import Clock, iso_utc
from hushan.domain.model import (
    AuditAction,
    AuditEntry,
    Conversation,
    HistoryEvent,
    RequestStatus,
)
from hushan.domain.rules import is_sealed, next_history_state, purge_is_due
from hushan.domain.sync import ChangeKind, NewChange
from hushan.store.base import Store, Tx

# Work items per transaction. Each locks its pair's two users on PostgreSQL, whose shared lock
# table holds about 64 locks per connection by default: 64 items lock at most 128 users.
KEYS_PER_TRANSACTION = 64
# Conversations looked at per row batch; more than one batch of rows rarely spans.
CONVERSATIONS_PER_BATCH = 64
# The defaults of a Purger: message rows deleted per transaction (the service passes its
# `purge_batch_rows` setting), and the work one sweep takes on per step (design point 6).
BATCH_ROWS = 1000
MAX_PER_STEP = 100_000

Progress = Callable[[str, int], None]


class _PairWork(Protocol):
    @property
    def pair(self) -> tuple[str, str]: ...


_Work = TypeVar("_Work", bound=_PairWork)


@dataclass(frozen=True, slots=True)
class _Claim(Generic[_Work]):
    tx: Tx
    items: list[_Work]
    found: int  # before locking: how much work there was


def _quiet(step: str, count: int) -> None:
    """The default progress listener: says nothing."""


@dataclass(frozen=True, slots=True)
class SweepReport:
    requests_expired: int
    keys_destroyed: int
    rows_deleted: int
    conversations_finished: int
    proposals_expired: int = 0  # mutual-delete proposals, closed by the service's sweep
    changes_pruned: int = 0  # sync feed changes past their retention, by the service's sweep
    erasures_finished: int = 0  # account erasures a crash left pending, by the service's sweep
    idempotency_keys_pruned: int = 0  # idempotency keys past their 24 h, by the service's sweep
    webhook_events_pruned: int = 0  # events and deliveries past their retention
    approvals_due: int = 0  # enterprise link approvals the deadline policy acted on
    handovers_ended: int = 0  # handovers whose period passed
    purges_deferred: int = 0  # due histories a legal hold kept (step 7)
    holds_expired: int = 0  # legal holds past their expiry, ended by the service's sweep

    @property
    def did_work(self) -> bool:
        return any(
            (
                self.requests_expired,
                self.proposals_expired,
                self.keys_destroyed,
                self.rows_deleted,
                self.conversations_finished,
                self.changes_pruned,
                self.erasures_finished,
                self.idempotency_keys_pruned,
                self.webhook_events_pruned,
                self.approvals_due,
                self.handovers_ended,
                self.purges_deferred,
                self.holds_expired,
            )
        )


def audit_pair(
    tx: Tx, now: datetime, actor: str, action: AuditAction, a: str, b: str, detail: str
) -> None:
    """Append an audit entry carrying the pair's relation and history as they are now, inside
    the transaction that made the change."""
    facts = tx.pair_facts(a, b)
    tx.append_audit(
        AuditEntry(now, actor, action, a, b, facts.relation, facts.history_state, detail)
    )


def destroy_key(
    tx: Tx, conversation: Conversation, actor: str, now: datetime, event: HistoryEvent
) -> None:
    """Step 1 for one conversation, inside the caller's transaction."""
    next_history_state(conversation.state, event)  # raises on a forbidden move
    tx.destroy_key(conversation, now, block_deleted=event is HistoryEvent.BLOCK_DELETE)
    lo, hi = conversation.user_lo, conversation.user_hi
    tx.add_changes(  # every device of both drops its copy (hushan.domain.sync)
        [
            NewChange(lo, ChangeKind.PURGE, hi, conversation.id),
            NewChange(hi, ChangeKind.PURGE, lo, conversation.id),
        ],
        now,
    )
    audit_pair(
        tx,
        now,
        actor,
        AuditAction.KEY_DESTROYED,
        conversation.user_lo,
        conversation.user_hi,
        f"conversation={conversation.id} reason={event.value}",
    )


def due_event(conversation: Conversation) -> HistoryEvent:
    """Why a due history's key goes: its purge date, or the block-then-delete that sealed it
    under a legal hold now ended (the key's reason, as its certificates state it)."""
    return HistoryEvent.BLOCK_DELETE if is_sealed(conversation) else HistoryEvent.PURGE_DUE


def keep_for_hold(
    tx: Tx, conversation: Conversation, hold_ids: Sequence[str], now: datetime, seal: bool
) -> None:
    """Step 7 for one conversation, inside the caller's transaction (which holds its pair's
    locks): its key stays. `seal` is a block-then-delete or an erasure under the hold: the
    history becomes unreadable to both at once (buffered, never restorable, due now, every
    device of both told to drop it); otherwise a due purge is deferred. Either way the holds
    are pinned to it and the pair's log says it is held."""
    lo, hi = conversation.user_lo, conversation.user_hi
    if seal:
        next_history_state(conversation.state, HistoryEvent.HELD_BLOCK_DELETE)
        tx.seal_conversation(conversation.id, now)
        tx.add_changes(
            [
                NewChange(lo, ChangeKind.PURGE, hi, conversation.id),
                NewChange(hi, ChangeKind.PURGE, lo, conversation.id),
            ],
            now,
        )
        purge_at = now
    else:
        tx.defer_purge(conversation.id, now)
        purge_at = conversation.purge_at or now
    tx.pin_holds(conversation.id, hold_ids)
    tx.mark_pair_held(lo, hi, True)
    audit_pair(
        tx,
        now,
        Purger.SYSTEM_ACTOR,
        AuditAction.PURGE_DEFERRED_LEGAL_HOLD,
        lo,
        hi,
        f"conversation={conversation.id} purge_at={iso_utc(purge_at)} holds={','.join(hold_ids)}",
    )


class Purger:
    """Runs sweeps. Safe to call from several threads: each step is its own transaction."""

    SYSTEM_ACTOR = "system"

    def __init__(
        self,
        store: Store,
        clock: Clock,
        batch_rows: int = BATCH_ROWS,
        max_conversations: int = MAX_PER_STEP,
    ) -> None:
        self._store = store
        self._clock = clock
        self._batch_rows = batch_rows
        self._max = max_conversations

    def sweep(self, progress: Progress | None = None) -> SweepReport:
        """One sweep; `progress(step, count)` is told after each batch (for a progress bar)."""
        report = progress or _quiet
        now = self._clock.now()
        expired = self._expire_requests(now, report)
        destroyed, deferred = self._destroy_due_keys(now, report)
        deleted, finished = self.delete_rows(report)
        if destroyed or finished:
            self._store.flush_freed_pages()
        return SweepReport(expired, destroyed, deleted, finished, purges_deferred=deferred)

    def _expire_requests(self, now: datetime, progress: Progress) -> int:
        count = 0
        while count < self._max:
            with self._claim(lambda tx: tx.due_requests(now, KEYS_PER_TRANSACTION)) as claim:
                for request in claim.items:
                    claim.tx.decide_request(request.id, RequestStatus.EXPIRED.value, now)
                    audit_pair(
                        claim.tx,
                        now,
                        self.SYSTEM_ACTOR,
                        AuditAction.REQUEST_EXPIRED,
                        request.from_id,
                        request.to_id,
                        f"request={request.id}",
                    )
            count += len(claim.items)
            progress("requests expired", count)
            if claim.found < KEYS_PER_TRANSACTION:
                break
        return count

    def _destroy_due_keys(self, now: datetime, progress: Progress) -> tuple[int, int]:
        """Step 1 for every due history, step 7 for those a hold covers: (keys destroyed,
        purges deferred)."""
        count = deferred = 0
        while count < self._max:
            with self._claim(lambda tx: tx.due_for_purge(now, KEYS_PER_TRANSACTION)) as claim:
                # Read under the pairs' locks, which placing a hold takes too: a hold placed
                # before this point is seen here, and one placed after finds the key gone.
                held = claim.tx.holds_covering(claim.items)
                for conversation in claim.items:
                    if not purge_is_due(conversation, now):
                        continue
                    holds = held.get(conversation.id)
                    if holds:
                        keep_for_hold(claim.tx, conversation, holds, now, seal=False)
                        deferred += 1
                    else:
                        destroy_key(
                            claim.tx, conversation, self.SYSTEM_ACTOR, now, due_event(conversation)
                        )
            count += len(claim.items)
            progress("keys destroyed", count - deferred)
            if claim.found < KEYS_PER_TRANSACTION:
                break
        return count - deferred, deferred

    def delete_rows(self, progress: Progress | None = None) -> tuple[int, int]:
        """Steps 3 and 4 for every purged conversation with rows left, one batch of rows per
        transaction, a batch running on from one conversation into the next."""
        deleted = finished = 0
        while finished < self._max:
            with self._claim(lambda tx: tx.purged_with_rows(CONVERSATIONS_PER_BATCH)) as claim:
                gone, done = self._delete_batch(claim.tx, claim.items)
            deleted, finished = deleted + gone, finished + done
            (progress or _quiet)("message rows deleted", deleted)
            if not claim.found:
                break
        return deleted, finished

    def finish(self, conversation: Conversation) -> None:
        """Steps 3 and 4 for one conversation whose key is already destroyed (until its rows
        are gone, or another sweep is found to have finished it)."""
        while True:
            with self._store.write(conversation.user_lo, conversation.user_hi) as tx:
                gone, done = self._delete_batch(tx, [conversation])
            if done or gone < self._batch_rows:
                return

    @contextmanager
    def _claim(self, find: Callable[[Tx], Sequence[_Work]]) -> Iterator[_Claim[_Work]]:
        """A write transaction holding the locks of the pairs that `find` names, and the work
        it finds again under those locks (another sweep or a user may have got there first:
        work is selected by state, so what was done is no longer found). Work that appeared
        in between, for pairs not locked, is left to the next round."""
        with self._store.read() as tx:
            found = find(tx)
        users = {user for work in found for user in work.pair}
        with self._store.write(*users) as tx:
            items = [work for work in find(tx) if users.issuperset(work.pair)]
            yield _Claim(tx, items, len(found))

    def _delete_batch(self, tx: Tx, conversations: list[Conversation]) -> tuple[int, int]:
        """Delete up to `batch_rows` message rows, conversation after conversation, finishing
        (step 4) each one emptied. Returns (rows deleted, conversations finished)."""
        budget = self._batch_rows
        finished = 0
        for conversation in conversations:
            budget -= tx.delete_messages(conversation, budget)
            if budget == 0:
                break  # rows may be left: the next batch goes on from this conversation
            now = self._clock.now()
            tx.blank_message_changes(conversation)  # their changes in both users' feeds
            if tx.mark_rows_purged(conversation, now):  # else another sweep finished it
                audit_pair(
                    tx,
                    now,
                    self.SYSTEM_ACTOR,
                    AuditAction.ROWS_PURGED,
                    conversation.user_lo,
                    conversation.user_hi,
                    f"conversation={conversation.id}",
                )
                finished += 1
        return self._batch_rows - budget, finished
