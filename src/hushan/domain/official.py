"""Official accounts (公众号): fans who follow an account, and administrators bound to run it.

Two rules, from the design's "Official accounts":
- **A fan bound as an administrator cannot be removed** by the account: unbinding comes first,
  and the refusal says how (`fan_is_account_admin`). The fan's own unfollow is never refused:
  a person's own removal is theirs to make.
- **An account always has someone who can run it**: unbinding its last administrator is refused
  (`account_needs_admin`).

Only an administrator manages an account: its fans, its administrators. Following needs no one's
consent, as for any public account. Fans and administrators are two separate bindings: an
administrator need not follow the account, and unfollowing does not unbind.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hushan.domain.errors import (
    AccountNeedsAdmin,
    FanIsAccountAdmin,
    InvalidAccountName,
    NotAccountAdmin,
)
from hushan.domain.rules import is_label

MAX_ACCOUNT_NAME = 64


@dataclass(frozen=True, slots=True)
class OfficialAccount:
    id: str
    name: str
    created_at: datetime
    fans: int
    admins: int


@dataclass(frozen=True, slots=True)
class Binding:
    """A fan following an account, or an administrator bound to it, since when."""

    user: str
    since: datetime


class FollowOutcome(StrEnum):
    FOLLOWING = "following"
    ALREADY_FOLLOWING = "already_following"


class UnfollowOutcome(StrEnum):
    UNFOLLOWED = "unfollowed"
    NOT_FOLLOWING = "not_following"


class FanRemoval(StrEnum):
    REMOVED = "removed"
    NOT_A_FAN = "not_a_fan"


class AdminBinding(StrEnum):
    BOUND = "bound"
    ALREADY_BOUND = "already_bound"


class AdminUnbinding(StrEnum):
    UNBOUND = "unbound"
    NOT_BOUND = "not_bound"


def check_account_name(name: str) -> str:
    if not is_label(name, MAX_ACCOUNT_NAME):
        raise InvalidAccountName()
    return name


def check_is_admin(actor: str, admins: Collection[str]) -> None:
    if actor not in admins:
        raise NotAccountAdmin()


def check_can_remove_fan(account: str, actor: str, fan: str, admins: Collection[str]) -> None:
    """The actor runs the account, and the fan is not one of its administrators."""
    check_is_admin(actor, admins)
    if fan in admins:
        raise FanIsAccountAdmin.of(account, actor, fan)


def check_can_unbind(account: str, actor: str, admin: str, admins: Collection[str]) -> None:
    """The actor runs the account, and someone still will once `admin` is unbound."""
    check_is_admin(actor, admins)
    if set(admins) == {admin}:
        raise AccountNeedsAdmin()
