"""The rules of the behaviour contract, one named function each. No I/O: state in, decision out.

Rule numbers refer to the contract (semantics.md). Each function reads only what it is given;
the service layer loads a `PairFacts`, asks a rule, and writes what the rule decided.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from hushan.domain.errors import (
    BlockedByRecipient,
    CannotBefriendSelf,
    FriendLimitReached,
    InvalidTransition,
    InvalidUserId,
    MessageEmpty,
    MessageTooLong,
    NotInYourContacts,
    RecipientRemovedYou,
    RequestNotFound,
    TooManyPairs,
    VerificationTooLong,
    YouBlockedUser,
)
from hushan.domain.model import (
    Conversation,
    FriendRequest,
    HistoryEvent,
    HistoryState,
    PairFacts,
    RequestOutcome,
)

USER_ID_PATTERN = r"[A-Za-z0-9_.\-]{1,64}"
_USER_ID = re.compile(USER_ID_PATTERN)

# The history state machine in one place. Anything not listed is an InvalidTransition.
HISTORY_TRANSITIONS: dict[tuple[HistoryState, HistoryEvent], HistoryState] = {
    (HistoryState.ACTIVE, HistoryEvent.MUTUAL_DELETE): HistoryState.BUFFERED,
    (HistoryState.BUFFERED, HistoryEvent.REFRIEND): HistoryState.ACTIVE,
    (HistoryState.BUFFERED, HistoryEvent.REMOVAL_UNDONE): HistoryState.ACTIVE,
    (HistoryState.BUFFERED, HistoryEvent.PURGE_DUE): HistoryState.PURGED,
    (HistoryState.ACTIVE, HistoryEvent.BLOCK_DELETE): HistoryState.PURGED,
    (HistoryState.BUFFERED, HistoryEvent.BLOCK_DELETE): HistoryState.PURGED,
    # Sealed under a legal hold: buffered, never restorable (block-deleted), due at once.
    (HistoryState.ACTIVE, HistoryEvent.HELD_BLOCK_DELETE): HistoryState.BUFFERED,
    (HistoryState.BUFFERED, HistoryEvent.HELD_BLOCK_DELETE): HistoryState.BUFFERED,
}


def next_history_state(state: HistoryState, event: HistoryEvent) -> HistoryState:
    try:
        return HISTORY_TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(f"History cannot go from {state} on {event}.") from None


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# NUL: PostgreSQL's text cannot hold it. A lone surrogate (JSON's "\ud800" decodes to one) has
# no UTF-8 form, so neither database can store it.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def is_text(text: str) -> bool:
    """Text someone writes (a message, a post, a display name) can be any Unicode that both
    databases store: no NUL and no lone surrogate."""
    return not _UNSTORABLE.search(text)


def is_label(text: str | None, max_chars: int) -> bool:
    """A name someone gives a thing (a tag, a group, a device): 1 to `max_chars` printable
    characters in any script (同事, family, ...), with no leading or trailing space."""
    return (
        text is not None
        and 0 < len(text) <= max_chars
        and is_text(text)
        and not _CONTROL.search(text)
        and text == text.strip()
    )


def is_user_id(user_id: str) -> bool:
    return _USER_ID.fullmatch(user_id) is not None


def check_user_id(user_id: str) -> str:
    if not is_user_id(user_id):
        raise InvalidUserId()
    return user_id


def check_not_self(actor: str, other: str) -> None:
    """Rule 1: nobody can befriend (or remove, or block) themselves."""
    if actor == other:
        raise CannotBefriendSelf()


def check_verification_message(message: str, max_chars: int) -> str:
    if len(message) > max_chars:
        raise VerificationTooLong(
            f"The verification message is {len(message)} characters; the limit is {max_chars}."
        )
    return message


def check_message_body(body: str, max_chars: int) -> str:
    """A message body is non-blank text within the deployment's limit."""
    if not body.strip():
        raise MessageEmpty()
    if len(body) > max_chars:
        raise MessageTooLong(f"The message is {len(body)} characters; the limit is {max_chars}.")
    return body


def check_message_allowed(facts: PairFacts) -> None:
    """Rule 2: messaging needs `both_way` and no block, else a stable refusal code.

    The sender's own state is checked first (it leaks nothing about the other side); then the
    recipient's block, which must win over the recipient's removal so that a blocked sender is
    told only that the message was refused.
    """
    if not facts.actor_has_other:
        raise NotInYourContacts()
    if facts.actor_blocks_other:
        raise YouBlockedUser()
    if facts.other_blocks_actor:
        raise BlockedByRecipient()
    if not facts.other_has_actor:
        raise RecipientRemovedYou()


def check_friend_limit(current_count: int, limit: int) -> None:
    """Rule 1: a user has at most `limit` friends (edges they own)."""
    if current_count >= limit:
        raise FriendLimitReached(f"A user can have at most {limit} friends.")


class RequestAction(StrEnum):
    NOTHING = "nothing"  # they are friends already
    BEFRIEND = "befriend"  # both edges now
    STORE = "store"  # a pending request, waiting for the other's verification
    SWALLOW = "swallow"  # stored, but the other never sees it (they block the sender)


@dataclass(frozen=True, slots=True)
class RequestDecision:
    """What a friend request does (`action`) and what its sender is told (`outcome`)."""

    action: RequestAction
    outcome: RequestOutcome
    reason: str = ""


def decide_friend_request(facts: PairFacts, crossing_request: bool = False) -> RequestDecision:
    """Rules 1 and 3: what a friend request from the actor to `other` does.

    - the actor blocks the other: refused (they must unblock first; it is their own block);
    - they are friends already: nothing changes;
    - the other blocks the actor: swallowed;
    - the other still has the actor (the actor had removed them one-way): added at once;
    - the other has verification off: added at once;
    - the other has a live request to the actor (`crossing_request`): sending one back accepts it;
    - otherwise the request waits for the other's verification.

    What the sender is told depends only on the sender's own side, so that neither a one-way
    delete nor a block shows in the reply: whoever has the other in their list hears
    `already_friends` (their request still reaches the other if the other had removed them);
    otherwise `added` if they are friends now, else `pending` (swallowed requests included).
    """
    if facts.actor_blocks_other:
        raise YouBlockedUser()
    if facts.actor_has_other and facts.other_has_actor:
        action, reason = RequestAction.NOTHING, ""
    elif facts.other_blocks_actor:
        action, reason = RequestAction.SWALLOW, "blocked"
    elif facts.other_has_actor:
        action, reason = RequestAction.BEFRIEND, "still_has_you"
    elif not facts.other_requires_verification:
        action, reason = RequestAction.BEFRIEND, "verification_off"
    elif crossing_request:
        action, reason = RequestAction.BEFRIEND, "crossing_request"
    else:
        action, reason = RequestAction.STORE, ""
    if facts.actor_has_other:
        outcome = RequestOutcome.ALREADY_FRIENDS
    elif action is RequestAction.BEFRIEND:
        outcome = RequestOutcome.ADDED
    else:
        outcome = RequestOutcome.PENDING
    return RequestDecision(action, outcome, reason)


# The audit detail word of entries a request leaves when its sender was told `already_friends`:
# to the sender nothing happened, so their export leaves those entries out (two worlds).
TOLD_ALREADY_FRIENDS = "told=already_friends"


def request_reaches_addressee(request: FriendRequest | None, facts: PairFacts) -> bool:
    """Rule 3: whether the addressee (the actor of `facts`) may see and answer `request`. Not a
    swallowed one, and never one whose sender blocks them: while a block holds, the blocked
    side cannot get into the blocker's list by accepting a request sent before the block
    (the block closes it; this also covers one that outlived that)."""
    return request is not None and not request.swallowed and not facts.other_blocks_actor


def check_accept_answer(facts: PairFacts) -> RequestOutcome:
    """Accepting when no request is pending: the answer, like a request's, depends only on the
    actor's own side (so it does not reveal a one-way delete by the other)."""
    if facts.actor_has_other:
        return RequestOutcome.ALREADY_FRIENDS
    raise RequestNotFound()


def check_can_accept(facts: PairFacts) -> None:
    """Accepting a request from someone the actor blocks is refused until they unblock."""
    if facts.actor_blocks_other:
        raise YouBlockedUser()


def request_is_live(expires_at: datetime, now: datetime) -> bool:
    """Rule 1: a pending request expires at `expires_at`."""
    return now < expires_at


def is_mutual_delete(facts_before: PairFacts) -> bool:
    """Rule 4: removing the other makes it mutual when the other had already removed the actor.

    `facts_before` is read before the actor's edge goes; the delete must remove a real edge.
    """
    return facts_before.actor_has_other and not facts_before.other_has_actor


def purge_at_for(now: datetime, buffer: timedelta) -> datetime:
    """Rule 4: a buffered history is due for purge one buffer after the mutual delete."""
    return now + buffer


def purge_is_due(conversation: Conversation, now: datetime) -> bool:
    """Rule 5: a buffered history is due at `purge_at` (inclusive)."""
    return (
        conversation.state is HistoryState.BUFFERED
        and conversation.purge_at is not None
        and now >= conversation.purge_at
    )


def can_restore(conversation: Conversation, now: datetime) -> bool:
    """Rule 4 and 6: a history returns only from the buffer, before `purge_at`, never after a
    block-delete."""
    return (
        conversation.state is HistoryState.BUFFERED
        and not conversation.block_deleted
        and not purge_is_due(conversation, now)
    )


def is_readable(conversation: Conversation) -> bool:
    """Whether the two may read the history: live, or buffered (Rule 4) until it is purged.
    A history a legal hold kept past its purge date, or sealed, is kept for the hold alone."""
    if conversation.state is HistoryState.ACTIVE:
        return True
    return (
        conversation.state is HistoryState.BUFFERED
        and not conversation.block_deleted
        and conversation.hold_deferred_at is None
    )


def is_sealed(conversation: Conversation) -> bool:
    """A history a block-then-delete or an erasure sealed under a legal hold: still encrypted,
    readable by nobody, purged once the hold ends."""
    return conversation.state is HistoryState.BUFFERED and conversation.block_deleted


def check_pair_batch(count: int, limit: int) -> None:
    """Rule 8: a relation check names at most `limit` pairs."""
    if count > limit:
        raise TooManyPairs(f"{count} pairs asked; at most {limit} in one check.")
