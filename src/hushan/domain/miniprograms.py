"""Mini-programs: the pseudonymous ids an app sees users by, without I/O.

Each (user, mini-program) gets an OpenID: an HMAC of the user id under the app's own secret, so
the same user has unrelated ids in two apps, and an app cannot compute anyone's id for another.
A relationship-scoped grant (the user lets the app see a friend, as in "friends who use this
app") names the friend by a pair-scoped id: an HMAC of the two ids and the pair's epoch. A mutual
delete or a block-then-delete revokes the pair's grants and moves its epoch on, so the old pair
ids answer `authorization_required` and a grant made later gets a new id; the users' own OpenIDs
do not change. Rotating an app's secret changes every id it sees. The app learns of each
revocation as a `grant.revoked` webhook event, written to the outbox in the revoking
transaction.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime

from hushan.clock import iso_utc


def _mac(secret: bytes, *parts: str) -> str:
    digest = hmac.new(secret, "\x00".join(parts).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def open_id(secret: bytes, user_id: str) -> str:
    """The user's id as this app sees it."""
    return "o" + _mac(secret, "user", user_id)


def pair_id(secret: bytes, user_id: str, friend_id: str, epoch: int) -> str:
    """The friend as seen through the user's grant to this app, in the pair's `epoch`."""
    return "p" + _mac(secret, "pair", user_id, friend_id, str(epoch))


@dataclass(frozen=True, slots=True)
class MiniProgram:
    id: str
    name: str
    created_at: datetime
    endpoint_id: str | None = None  # where its `grant.revoked` events go, if anywhere


@dataclass(frozen=True, slots=True)
class Revocation:
    """`grant.revoked`: the app's grant under `pair_id` ended (a mutual delete or a
    block-then-delete); the user must authorise again."""

    app_id: str
    pair_id: str
    user_open_id: str
    revoked_at: datetime


GRANT_REVOKED = "grant.revoked"


@dataclass(frozen=True, slots=True)
class GrantsRevoked:
    """`grant.revoked` as the app's endpoint gets it: the app's grants one change revoked,
    sent through the outbox under the `seq` of that change's audit entry. It names users only
    by the ids this app sees them by."""

    seq: int
    at: datetime
    app_id: str
    grants: tuple[tuple[str, str], ...]  # (pair id, the granting user's OpenID)

    @property
    def webhook_id(self) -> str:
        """Unique per app: one change may revoke grants in several apps."""
        return f"evt_{self.seq}_{self.app_id}"

    def payload(self) -> bytes:
        document = {
            "type": GRANT_REVOKED,
            "timestamp": iso_utc(self.at),
            "data": {
                "seq": self.seq,
                "app_id": self.app_id,
                "grants": [{"pair_id": p, "open_id": o} for p, o in self.grants],
            },
        }
        return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
