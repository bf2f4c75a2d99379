"""Legal holds: an admin keeps a user's or a pair's histories from being purged while a case
needs them. No I/O.

A hold covers a history (a conversation) when it names one of its two users (a hold on a
user) or both (a hold on a pair), or when it was pinned to that conversation (at a deferral,
so that the hold still covers it after an erasure replaced the user's id). While any live hold
covers a history, its data key is never destroyed: the sweep defers its purge, and a
block-then-delete or an erasure seals it instead (unreadable to both users at once, still
encrypted). Once the last hold on it is released or has expired, the next sweep purges it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hushan.domain.errors import (
    HoldAlreadyReleased,
    HoldPairOfOneUser,
    InvalidCaseReference,
    InvalidHoldExpiry,
    InvalidHoldReason,
)
from hushan.domain.model import ordered
from hushan.domain.rules import check_user_id, is_label

MAX_REASON_CHARS = 500
CASE_REF_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:/#\-]{0,63}"
_CASE_REF = re.compile(CASE_REF_PATTERN)
HOLD_ID_PREFIX = "lh_"


class HoldScope(StrEnum):
    USER = "user"
    PAIR = "pair"


class HoldEnd(StrEnum):
    """How a hold ended."""

    RELEASED = "released"  # by an admin
    EXPIRED = "expired"  # its expiry passed; the sweep ended it


@dataclass(frozen=True, slots=True)
class LegalHold:
    """A hold on `user` alone (`other` None) or on the pair (`user`, `other`), `user < other`."""

    id: str
    user: str
    other: str | None
    reason: str
    case_ref: str
    placed_at: datetime
    expires_at: datetime | None = None
    ended_at: datetime | None = None
    ended_how: HoldEnd | None = None

    @property
    def scope(self) -> HoldScope:
        return HoldScope.USER if self.other is None else HoldScope.PAIR

    @property
    def live(self) -> bool:
        return self.ended_at is None

    def names(self, a: str, b: str) -> bool:
        """Whether the hold names the pair (a, b): one of them, or both for a pair hold."""
        if self.other is None:
            return self.user in (a, b)
        return (self.user, self.other) == ordered(a, b)


def new_hold(
    hold_id: str,
    user: str,
    other: str | None,
    reason: str,
    case_ref: str,
    now: datetime,
    expires_at: datetime | None,
) -> LegalHold:
    """A hold as asked, checked: ids, a reason (1-500 printable characters), a case reference
    (1-64 of letters, digits and `_.:/#-`) and an expiry in the future, if any."""
    check_user_id(user)
    if other is not None:
        check_user_id(other)
        if other == user:
            raise HoldPairOfOneUser()
        user, other = ordered(user, other)
    if not is_label(reason, MAX_REASON_CHARS):
        raise InvalidHoldReason()
    if not _CASE_REF.fullmatch(case_ref):
        raise InvalidCaseReference()
    if expires_at is not None and expires_at <= now:
        raise InvalidHoldExpiry()
    return LegalHold(hold_id, user, other, reason, case_ref, now, expires_at)


def check_releasable(hold: LegalHold) -> None:
    if not hold.live:
        raise HoldAlreadyReleased()


def is_expired(hold: LegalHold, now: datetime) -> bool:
    return hold.live and hold.expires_at is not None and now >= hold.expires_at
