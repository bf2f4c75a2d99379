"""Linked platforms (a microblog, a game, a payment app): who may see which event, without I/O.

An app backend's endpoint gets every event it subscribed to. A linked platform gets only the
events of pairs in which a user who linked it takes part, and of those only what that user may
see: their own actions, what both sides see (a request, a shared history's states, a purge, an
erasure), and another's removal of them only where the remover's notice grade discloses it at
once (`notify`). So a platform linked by the removed side never learns of a silent one-way delete,
and never of a block (never disclosed, whatever the grade; hushan.domain.notices).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hushan.domain.events import EventType
from hushan.domain.notices import NoticeGrade


class AssetPolicy(StrEnum):
    """What happens to assets tied to the link (game items, a wallet) on removal."""

    MANUAL_UNBIND = "manual_unbind"  # the user must unbind them: the case stays open until done
    AUTO_INHERIT = "auto_inherit"  # the platform moves them by its own rule
    NONE = "none"  # nothing is tied to the link


class PermissionPolicy(StrEnum):
    """What becomes of the API permissions a pair's link granted, on removal."""

    KEEP = "keep"
    RESTRICT = "restrict"
    REVOKE = "revoke"


class Viewer(StrEnum):
    """Whose events a subscriber gets: an app backend's all, or a platform's through a user."""

    APP = "app"
    ACTOR = "actor"  # a platform linked by the user who acted
    OTHER = "other"  # a platform linked by the other side of the pair


# What the other side of a pair sees of these whatever anyone's grade: a request reaches them, a
# shared history's state is theirs too, a purge empties their copy, an erased account is gone.
SEEN_BY_BOTH = frozenset(
    {
        EventType.REQUEST_SENT,
        EventType.REQUEST_ACCEPTED,
        EventType.REQUEST_EXPIRED,
        EventType.REQUEST_WITHDRAWN,
        EventType.HISTORY_STARTED,
        EventType.HISTORY_BUFFERED,
        EventType.HISTORY_RESTORED,
        EventType.HISTORY_KEY_DESTROYED,
        EventType.HISTORY_PURGED,
        EventType.ACCOUNT_ERASED,
    }
)
# Disclosed to the other side only as the actor's grade says (a removal); every other type (a
# block, a swallowed request, an add, a rejection) is the actor's alone.
GRADED = frozenset({EventType.CONTACT_REMOVED})
# The events after which each linked platform must acknowledge it purged the pair's data.
PURGES = frozenset({EventType.HISTORY_BUFFERED, EventType.HISTORY_PURGED, EventType.ACCOUNT_ERASED})


def may_see(event: EventType, viewer: Viewer, grade: NoticeGrade) -> bool:
    """Whether `viewer` gets `event`; `grade` is the actor's, in force when they acted."""
    if viewer in (Viewer.APP, Viewer.ACTOR) or event in SEEN_BY_BOTH:
        return True
    return event in GRADED and grade is NoticeGrade.NOTIFY


@dataclass(frozen=True, slots=True)
class Platform:
    id: str
    name: str
    endpoint_id: str
    asset_policy: AssetPolicy
    permission_policy: PermissionPolicy
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UnbindCase:
    """Assets the user must unbind by hand on a `manual_unbind` platform after a mutual delete,
    purge or erasure of one of their pairs: one per (user, platform, event). Open until the
    platform says it is done (a 2xx to the event's delivery is not enough: the user has work to
    do there first)."""

    id: int
    user_id: str
    platform_id: str
    seq: int  # the event's
    pair_key: str  # hushan.domain.events.pair_key of the pair
    event_type: EventType
    opened_at: datetime
    done_at: datetime | None = None


# The comparison every sync-rate report shows: the source article found other platforms keeping
# only 59-73% of their linked information in sync with WeChat deletions, 63% the figure it gave.
ARTICLE_SYNC_RATE = 0.63


@dataclass(frozen=True, slots=True)
class SyncRate:
    """Acknowledged over emitted events in a window, and how long acknowledgements took."""

    platform_id: str
    emitted: int
    acknowledged: int
    lag_p50_seconds: float | None
    lag_p99_seconds: float | None

    @property
    def rate(self) -> float | None:
        return None if self.emitted == 0 else self.acknowledged / self.emitted


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of values in ascending order."""
    if not sorted_values:
        return None
    rank = max(1, -(-int(fraction * 1000) * len(sorted_values) // 1000))
    return sorted_values[min(rank, len(sorted_values)) - 1]
