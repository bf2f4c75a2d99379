"""Progressive cleanup: removing many contacts at once, with a preview and an undo.

What the remover may know decides everything here. A silent one-way delete by the other side
leaves no trace for the removed user (two worlds, semantics.md), so nothing the cleanup tells
them (candidates, preview, results, undo) may depend on whether a contact has removed them,
unless that removal was disclosed to them already (graded notices: `notify`, or an `on_contact`
one they were told of). Each plan is therefore made from `SeenPair`, the pair as the remover
sees it, never from the other side's edge:

- `mutual`: they removed you and you were told; your removal completes a mutual delete (the
  history is buffered until `purge_at`, Rule 4);
- `block_delete`: you block them; the removal erases the history at once for both (Rule 6);
- `one_way`: everything else. As far as you may know they still have you. If they had removed
  you without telling you, the removal is mutual in fact; this plan never says so, and neither
  does the result or the undo, which restores your side either way.

The single delete (`DELETE …/contacts/{other}`) runs on the same plan, so the preview, the bulk
removal and the single one cannot disagree on what is erased or told.

The undo restores the remover's own side: their edge, with its layer, and the history where
their removal had buffered it and nothing changed since. It never touches the other's list,
so it needs nobody's consent, and it gives the same answer in both worlds. What cannot come
back is said per contact, from the remover's own side only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from hushan.domain.errors import (
    CannotBefriendSelf,
    CleanupAlreadyUndone,
    DuplicateContacts,
    TooManyContacts,
    UndoWindowPassed,
)
from hushan.domain.model import Conversation, HistoryState, PairFacts
from hushan.domain.notices import NoticeGrade, Removal, effective_grade
from hushan.domain.posts import Layer

MONTH = timedelta(days=30)  # "no messages for N months" counts months of 30 days


class Parting(StrEnum):
    ONE_WAY = "one_way"
    MUTUAL = "mutual"
    BLOCK_DELETE = "block_delete"


class Told(StrEnum):
    """What the removed side learns of the removal, by the remover's grade (never a block)."""

    NOTHING = "nothing"  # silent: they learn only by trying to message you
    ON_CONTACT = "on_contact"  # told plainly when they next message you or look
    AT_ONCE = "at_once"  # a notice now


@dataclass(frozen=True, slots=True)
class SeenPair:
    """A pair as the remover may see it: their own side, and the other's removal of them only
    where it was disclosed to them. Nothing else of the other side is here."""

    in_contacts: bool
    you_block_them: bool
    removal_disclosed: bool
    history: Conversation | None  # as the remover reads it (its state is shared by both)
    grade: NoticeGrade  # the remover's own, as chosen


def seen_pair(facts: PairFacts, their_removal: Removal | None) -> SeenPair:
    """`their_removal` is the other's removal of the remover, if one is in force."""
    return SeenPair(
        in_contacts=facts.actor_has_other,
        you_block_them=facts.actor_blocks_other,
        removal_disclosed=their_removal is not None and their_removal.disclosed_at is not None,
        history=facts.conversation,
        grade=facts.actor_notice_grade,
    )


@dataclass(frozen=True, slots=True)
class RemovalPlan:
    """What removing one contact does, as the remover may know it.

    `restorable` says whether the history (and the friendship) can come back after the undo
    window: by a re-add (one-way), by a request they accept before `restorable_until`
    (mutual), or never (block-then-delete). `undo_until` is when the undo window closes
    (None: nothing to undo)."""

    parting: Parting
    history_after: HistoryState | None
    purge_at: datetime | None
    restorable: bool
    restorable_until: datetime | None
    undo_until: datetime | None
    told: Told

    @property
    def erases(self) -> bool:
        return self.parting is Parting.BLOCK_DELETE


def plan_removal(
    seen: SeenPair, minimum: NoticeGrade, now: datetime, buffer: timedelta, undo: timedelta
) -> RemovalPlan:
    """The plan of removing a contact the remover has (Rules 4 and 6, graded notices)."""
    history = seen.history
    live = history is not None and history.state is not HistoryState.PURGED
    if seen.you_block_them:
        return RemovalPlan(
            Parting.BLOCK_DELETE,
            HistoryState.PURGED if live else _state(history),
            None,
            restorable=False,
            restorable_until=None,
            undo_until=None,
            told=Told.NOTHING,  # a block is never disclosed (hushan.domain.notices)
        )
    if seen.removal_disclosed:
        active = history is not None and history.state is HistoryState.ACTIVE
        parting = Parting.MUTUAL
        purge_at = now + buffer if active else None
        after = HistoryState.BUFFERED if active else _state(history)
    else:
        parting, purge_at, after = Parting.ONE_WAY, None, _state(history)
    return RemovalPlan(
        parting,
        after,
        purge_at,
        restorable=True,
        restorable_until=purge_at,  # a one-way removal's re-add has no end
        undo_until=now + undo,
        told=_told(effective_grade(seen.grade, minimum)),
    )


def _state(history: Conversation | None) -> HistoryState | None:
    return None if history is None else history.state


def _told(grade: NoticeGrade) -> Told:
    return {
        NoticeGrade.SILENT: Told.NOTHING,
        NoticeGrade.ON_CONTACT: Told.ON_CONTACT,
        NoticeGrade.NOTIFY: Told.AT_ONCE,
    }[grade]


class ItemStatus(StrEnum):
    READY = "ready"  # a preview's: the contact would be removed as its plan says
    REMOVED = "removed"
    NOT_IN_CONTACTS = "not_in_contacts"
    USER_NOT_FOUND = "user_not_found"


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One contact of a preview or a bulk removal: its status, and its plan where it is (or
    would be) removed."""

    other: str
    status: ItemStatus
    plan: RemovalPlan | None = None


def check_batch(actor: str, contacts: Sequence[str], limit: int) -> None:
    """A batch names 1 to `limit` contacts, each once, never the remover."""
    if len(contacts) > limit:
        raise TooManyContacts(f"{len(contacts)} contacts named; at most {limit} in one batch.")
    seen: set[str] = set()
    for contact in contacts:
        if contact == actor:
            raise CannotBefriendSelf("A batch cannot name you yourself.")
        if contact in seen:
            raise DuplicateContacts(f"{contact} is named more than once.")
        seen.add(contact)


# ---- candidates ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Candidate:
    """A contact, with what the filters read: all of it the remover's own data."""

    id: str
    display_name: str
    added_at: datetime
    last_message_at: datetime | None  # in the history the two share now; None: never
    tags: tuple[str, ...]
    layer: Layer


@dataclass(frozen=True, slots=True)
class CandidateFilter:
    """Every filter given must hold (they combine with AND).

    - `no_messages_months`: no message between you for that many months (30 days each),
      never-messaged contacts included;
    - `never_messaged`: no message at all in the history you share;
    - `tag`: contacts you gave that tag;
    - `chat_only_candidates`: contacts still on the `full` layer with whom you have messages:
      people you talk to, whom `chat_only` keeps in reach while your posts stop showing to
      them (and they are not told), the step before removing them.
    """

    no_messages_months: int | None = None
    never_messaged: bool = False
    tag: str | None = None
    chat_only_candidates: bool = False

    def matches(self, candidate: Candidate, now: datetime) -> bool:
        last = candidate.last_message_at
        months = self.no_messages_months
        if months is not None and last is not None and last > now - months * MONTH:
            return False
        if self.never_messaged and last is not None:
            return False
        if self.tag is not None and self.tag not in candidate.tags:
            return False
        return not self.chat_only_candidates or (candidate.layer is Layer.FULL and last is not None)


# ---- undo ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CleanupBatch:
    id: int
    user_id: str
    created_at: datetime
    undo_until: datetime
    undone_at: datetime | None
    removed: int = 0  # contacts the batch removed


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One contact of a batch as kept for its undo. `buffered_conversation` and
    `buffered_purge_at` name the history the removal buffered (a mutual delete in fact): they
    are never shown, as they would tell of a silent removal by the other side."""

    other: str
    removed: bool
    parting: Parting | None = None
    layer: Layer | None = None
    told: Told | None = None
    buffered_conversation: int | None = None
    buffered_purge_at: datetime | None = None


def check_undo_window(batch: CleanupBatch, now: datetime) -> None:
    if batch.undone_at is not None:
        raise CleanupAlreadyUndone()
    if now >= batch.undo_until:
        raise UndoWindowPassed(
            f"The undo window of this cleanup closed at {batch.undo_until:%Y-%m-%dT%H:%M:%SZ}:"
            " send a friend request to each contact you want back."
        )


class UndoOutcome(StrEnum):
    RESTORED = "restored"
    ALREADY_IN_CONTACTS = "already_in_contacts"  # you added them back yourself meanwhile
    NOT_RESTORABLE = "not_restorable"


class NotRestorable(StrEnum):
    """Why a removal cannot be undone; each reason is of the remover's own side."""

    HISTORY_ERASED = "history_erased"  # a block-then-delete: gone for good
    YOU_BLOCK_THEM = "you_block_them"  # you blocked them since: unblock, then re-add
    FRIEND_LIMIT_REACHED = "friend_limit_reached"
    USER_ERASED = "user_erased"  # their account is gone
    NOT_REMOVED = "not_removed"  # the batch did not remove them (they were not a contact)


@dataclass(frozen=True, slots=True)
class UndoDecision:
    outcome: UndoOutcome
    reason: NotRestorable | None = None


@dataclass(frozen=True, slots=True)
class UndoResult:
    """One contact of an undo. `told` repeats what the removal told the other side, which an
    undo cannot take back (a notice sent at once stays in their inbox)."""

    other: str
    outcome: UndoOutcome
    reason: NotRestorable | None
    told: Told | None


def decide_undo(
    removed: bool,
    parting: Parting,
    other_exists: bool,
    in_contacts: bool,
    you_block_them: bool,
    contacts: int,
    max_friends: int,
) -> UndoDecision:
    """Whether the remover's side of one removal comes back, read from their own side only."""
    if not removed:
        return UndoDecision(UndoOutcome.NOT_RESTORABLE, NotRestorable.NOT_REMOVED)
    if parting is Parting.BLOCK_DELETE:
        return UndoDecision(UndoOutcome.NOT_RESTORABLE, NotRestorable.HISTORY_ERASED)
    if not other_exists:
        return UndoDecision(UndoOutcome.NOT_RESTORABLE, NotRestorable.USER_ERASED)
    if in_contacts:
        return UndoDecision(UndoOutcome.ALREADY_IN_CONTACTS)
    if you_block_them:
        return UndoDecision(UndoOutcome.NOT_RESTORABLE, NotRestorable.YOU_BLOCK_THEM)
    if contacts >= max_friends:
        return UndoDecision(UndoOutcome.NOT_RESTORABLE, NotRestorable.FRIEND_LIMIT_REACHED)
    return UndoDecision(UndoOutcome.RESTORED)


def history_comes_back(buffered: Conversation | None, now: datetime) -> bool:
    """The history a removal buffered comes back with the undo only as that removal left it:
    still buffered, not block-deleted, not yet due (Rule 4's restore)."""
    return (
        buffered is not None
        and buffered.state is HistoryState.BUFFERED
        and not buffered.block_deleted
        and buffered.hold_deferred_at is None
        and buffered.purge_at is not None
        and now < buffered.purge_at
    )
