"""Consensual mutual delete: one side proposes, the other accepts or declines in a window.

Today's WeChat offers no such thing, and third-party "one-click mutual delete" tools ask for
people's chats to do it. Here A proposes (with an optional message and a window [48 h]); B
accepts, and both edges go in one transaction (a mutual delete: the history goes to the
buffer, Rule 4), and both are told; or B declines, A withdraws, or the window passes, and
nothing changes, unless A chose "remove anyway", in which case a decline or the window's end
still removes A's side (a one-way delete, which B is told of).

One proposal at most is pending between two people, either way. The answers to the proposer
depend only on their own side, never on whether the other removed or blocks them: a proposal to
someone who blocks the proposer is swallowed, as a friend request is (Rule 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hushan.domain.errors import NotInYourContacts
from hushan.domain.model import PairFacts


class ProposalStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Proposal:
    id: int
    proposer: str
    other: str
    message: str
    remove_anyway: bool
    status: ProposalStatus
    created_at: datetime
    expires_at: datetime
    # Made to someone who blocks the proposer: it looks made, but they never see it (Rule 3).
    swallowed: bool = False
    # The proposer removed the other themselves since: a later friendship is not touched.
    spent: bool = False

    @property
    def pair(self) -> tuple[str, str]:
        return self.proposer, self.other

    def is_due(self, now: datetime) -> bool:
        return self.expires_at <= now


def check_can_propose(facts: PairFacts) -> None:
    """The proposer must still have the other: only their own side is checked, so that a
    proposal's answer never tells whether the other removed (or blocks) them."""
    if not facts.actor_has_other:
        raise NotInYourContacts()
