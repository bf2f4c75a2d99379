"""Graded deletion notices: how a user's removals of others are disclosed to them.

WeChat leaves the removed side to guess. Here each user picks a grade for their own removals,
never below the deployment's minimum:

- `silent`: the removed side learns only by trying (today's WeChat). Every answer they can get is
  the one they would get had nothing happened, except the refusal of their next message, which
  is WeChat's ambiguous 对方开启了朋友验证 wording.
- `on_contact`: the removed side is told plainly the next time they try to message the remover
  or look at their relation to them, and a notice lands in their inbox then.
- `notify`: a notice lands in their inbox at once, and every answer is plain.

The grade that counts is the one in effect when the removal happened (changing it later neither
discloses nor hides past removals). A removal ends when the remover adds the other back. A block
is never disclosed, whatever the grade: the blocker's safety comes first, so the blocked side
learns only that messages are refused, and a block-then-delete is always silent (telling of the
removal, with the history purged at once, would point at the block). Where a disclosed removal
and a later block both hold, the refusal names the removal only. A deletion certificate, which
either side may ask for, is the exception by design: it states the pair's whole record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hushan.domain.errors import NoticeGradeBelowMinimum


class NoticeGrade(StrEnum):
    SILENT = "silent"
    ON_CONTACT = "on_contact"
    NOTIFY = "notify"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {NoticeGrade.SILENT: 0, NoticeGrade.ON_CONTACT: 1, NoticeGrade.NOTIFY: 2}


class NoticeKind(StrEnum):
    REMOVED_YOU = "removed_you"
    # Consensual mutual delete (hushan.domain.proposals): the other side of each step is told.
    MUTUAL_DELETE_PROPOSED = "mutual_delete_proposed"
    MUTUAL_DELETE_ACCEPTED = "mutual_delete_accepted"
    MUTUAL_DELETE_DECLINED = "mutual_delete_declined"
    MUTUAL_DELETE_WITHDRAWN = "mutual_delete_withdrawn"
    MUTUAL_DELETE_EXPIRED = "mutual_delete_expired"
    # Organisations (hushan.domain.orgs): each step of a directory approval, to the
    # organisation's administrators; a handover's offer, to each customer.
    DIRECTORY_CHANGE = "directory_change"
    HANDOVER_OFFERED = "handover_offered"


@dataclass(frozen=True, slots=True)
class Notice:
    id: int
    user_id: str  # who reads it
    kind: NoticeKind
    other: str  # whom it is about
    at: datetime  # when the thing it tells of happened
    delivered_at: datetime
    read_at: datetime | None
    detail: str = ""  # a proposal's message, or what a decision did


@dataclass(frozen=True, slots=True)
class Removal:
    """`remover` removed `removed` from their list at `at`, under `grade`."""

    remover: str
    removed: str
    at: datetime
    grade: NoticeGrade
    disclosed_at: datetime | None


def effective_grade(chosen: NoticeGrade, minimum: NoticeGrade) -> NoticeGrade:
    """The grade a removal is made under: the user's choice, raised to the minimum."""
    return chosen if chosen.rank >= minimum.rank else minimum


def check_notice_grade(chosen: NoticeGrade, minimum: NoticeGrade) -> NoticeGrade:
    if chosen.rank < minimum.rank:
        raise NoticeGradeBelowMinimum(
            f"This deployment discloses removals at least as {minimum.value!r};"
            f" {chosen.value!r} is below it."
        )
    return chosen


def notifies_at_once(grade: NoticeGrade) -> bool:
    return grade is NoticeGrade.NOTIFY


def is_disclosed(removal: Removal | None) -> bool:
    """Whether the removed side may be told plainly now (on contact, or already told)."""
    return removal is not None and removal.grade is not NoticeGrade.SILENT


def removal_message(removal: Removal) -> str:
    """The plain refusal text of a disclosed removal."""
    when = removal.at.strftime("%Y-%m-%d")
    return (
        f"{removal.remover} 已将你从通讯录中删除 ({when})。"
        f" ({removal.remover} removed you from their contacts on {when}: send a friend request"
        " if you want to be friends again.)"
    )
