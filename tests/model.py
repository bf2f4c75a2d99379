"""An independent reference model of the contract for one pair, used as the test oracle.

It is written from semantics.md and the README's recorded choices, not from the service code,
so the model-based and stateful tests compare two separate readings of the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DAY = 86400.0
BUFFER = 30 * DAY
REQUEST_TTL = 7 * DAY

ACTIONS = (
    "request",
    "accept",
    "reject",
    "delete",
    "block",
    "unblock",
    "block_delete",
    "send",
)


@dataclass
class PairModel:
    """The pair (x, y) with users named by the caller. Time is seconds on the shared clock."""

    x: str
    y: str
    has: dict[str, bool] = field(default_factory=dict)
    blocks: dict[str, bool] = field(default_factory=dict)
    pending_until: dict[str, float | None] = field(default_factory=dict)
    swallowed: dict[str, bool] = field(default_factory=dict)
    history: str | None = None
    purge_at: float | None = None
    block_deleted: bool = False
    messages: list[str] = field(default_factory=list)
    purged_bodies: set[str] = field(default_factory=set)
    restores: int = 0
    # Graded notices: a removal whose grade may disclose it (not silent, not a block-delete),
    # in force until the remover adds the other back. The machine sets `grades`.
    grades: dict[str, str] = field(default_factory=dict)
    disclosable: dict[str, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for user in (self.x, self.y):
            self.has.setdefault(user, False)
            self.blocks.setdefault(user, False)
            self.pending_until.setdefault(user, None)
            self.swallowed.setdefault(user, False)
            self.grades.setdefault(user, "silent")
            self.disclosable.setdefault(user, False)

    def other(self, user: str) -> str:
        return self.y if user == self.x else self.x

    def relation(self) -> str:
        """Relation of (x, y)."""
        a, b = self.has[self.x], self.has[self.y]
        return "both_way" if a and b else "a_has_b" if a else "b_has_a" if b else "none"

    def live_request(self, sender: str, now: float) -> bool:
        until = self.pending_until[sender]
        return until is not None and now < until

    # ---- actions: each returns the outcome string or the error code ----
    def request(self, actor: str, now: float) -> str:
        other = self.other(actor)
        if self.blocks[actor]:
            return "you_blocked_user"
        # The answer depends only on the sender's own list (silence).
        told = "already_friends" if self.has[actor] else None
        if self.has[actor] and self.has[other]:
            return "already_friends"
        if self.blocks[other]:
            self.pending_until[actor] = now + REQUEST_TTL
            self.swallowed[actor] = True
            return told or "pending"
        crossing = self.live_request(other, now) and not self.swallowed[other]
        if self.has[other] or crossing:
            self._befriend(now)
            return told or "added"
        self.pending_until[actor] = now + REQUEST_TTL
        self.swallowed[actor] = False
        return told or "pending"

    def listed_as_outgoing(self, sender: str, now: float) -> bool:
        """A live request shows in its sender's outgoing list unless they have the other."""
        return self.live_request(sender, now) and not self.has[sender]

    def reaches(self, addressee: str, now: float) -> bool:
        """The other's live request, as the addressee may see it: not swallowed, and not from
        someone who blocks them (Rule 3: no path into a blocker's list)."""
        sender = self.other(addressee)
        return self.live_request(sender, now) and not (
            self.swallowed[sender] or self.blocks[sender]
        )

    def accept(self, actor: str, now: float) -> str:
        if not self.reaches(actor, now):
            return "already_friends" if self.has[actor] else "request_not_found"
        if self.blocks[actor]:
            return "you_blocked_user"
        self._befriend(now)
        return "added"

    def reject(self, actor: str, now: float) -> str:
        other = self.other(actor)
        if not self.reaches(actor, now):
            return "not_pending"
        self.pending_until[other] = None
        return "rejected"

    def delete(self, actor: str, now: float) -> str:
        other = self.other(actor)
        if not self.has[actor]:
            return "not_in_contacts"
        self.has[actor] = False
        if self.blocks[actor]:
            self._erase()
            return "deleted"
        self.disclosable[actor] = self.grades[actor] != "silent"
        if not self.has[other] and self.history == "active":
            self.history = "buffered"
            self.purge_at = now + BUFFER
        return "deleted"

    def block(self, actor: str, now: float) -> str:
        if self.blocks[actor]:
            return "already_blocked"
        self.blocks[actor] = True
        self.pending_until[actor] = None  # the blocker's own request closes (README)
        return "blocked"

    def unblock(self, actor: str, now: float) -> str:
        if not self.blocks[actor]:
            return "not_blocked"
        self.blocks[actor] = False
        return "unblocked"

    def block_delete(self, actor: str, now: float) -> str:
        self.block(actor, now)
        self.has[actor] = False
        self._erase()
        return "blocked_and_deleted"

    def send(self, actor: str, now: float, body: str = "") -> str:
        other = self.other(actor)
        if not self.has[actor]:
            return "not_in_your_contacts"
        if self.blocks[actor]:
            return "you_blocked_user"
        if self.blocks[other]:
            # A disclosed removal is named instead of the block, which is never disclosed.
            return "recipient_removed_you" if self.disclosable[other] else "blocked_by_recipient"
        if not self.has[other]:
            return "recipient_removed_you"
        self.messages.append(body)
        return "sent"

    def sweep(self, now: float) -> None:
        for user in (self.x, self.y):
            if not self.live_request(user, now):
                self.pending_until[user] = None
        if self.history == "buffered" and self.purge_at is not None and now >= self.purge_at:
            self._purge()

    # ---- internals ----
    def _befriend(self, now: float) -> None:
        self.has[self.x] = self.has[self.y] = True
        self.disclosable[self.x] = self.disclosable[self.y] = False
        self.pending_until[self.x] = self.pending_until[self.y] = None
        if self.history == "buffered":
            assert self.purge_at is not None
            if now < self.purge_at and not self.block_deleted:
                self.history, self.purge_at = "active", None
                self.restores += 1
                return
            self._purge()
        if self.history in (None, "purged"):
            self.history, self.purge_at, self.block_deleted = "active", None, False

    def _purge(self) -> None:
        self.purged_bodies.update(self.messages)
        self.messages = []
        self.history = "purged"  # purge_at stays: the record of when it was scheduled

    def _erase(self) -> None:
        # Requests either way go with the texts between the two (README, block-then-delete).
        self.pending_until[self.x] = self.pending_until[self.y] = None
        if self.history in ("active", "buffered"):
            self._purge()
            self.block_deleted = True
