"""User tokens an API process has seen, so that a request made with one crosses to the engine
pool once instead of twice.

A guard names the caller from here, on the event loop, and has the token looked up again on
the pool thread right before the handler's engine call, in the same trip
(`offload.check_first`); what that look raises (`unauthenticated`, `token_expired`) is the
call's error. A token revoked or expired, by this process or any other, therefore stops
working at once: the cache saves the trip, never the look. An expiry passed is seen here too,
and sends the request the whole way (one trip of its own), as a token not seen yet does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from hushan.api import offload
from hushan.domain import credentials as rules
from hushan.domain.credentials import TokenInfo
from hushan.domain.errors import HushanError, Unauthenticated

MAX_TOKENS = 10_000  # then forgotten all at once: each costs one more trip to be seen again


class TokensSeen:
    def __init__(self, look_up: Callable[[str], TokenInfo], now: Callable[[], datetime]) -> None:
        self._look_up = look_up  # the engine's authenticate_token, run on a pool thread
        self._now = now
        self._seen: dict[str, TokenInfo] = {}

    def get(self, bearer: str) -> TokenInfo | None:
        """The token's record as last looked up, unless it has expired since."""
        info = self._seen.get(bearer)
        if info is None or rules.expired(info.expires_at, self._now()):
            return None
        return info

    def put(self, bearer: str, info: TokenInfo) -> None:
        if len(self._seen) >= MAX_TOKENS:
            self._seen.clear()
        self._seen[bearer] = info

    def look_again_first(self, bearer: str, info: TokenInfo) -> None:
        """Have the token looked up on the pool thread before the request's next engine
        call."""

        def look() -> None:
            try:
                found = self._look_up(bearer)
            except HushanError:
                self._seen.pop(bearer, None)
                raise
            if found.user_id != info.user_id:  # a token is its user's for life: never
                raise Unauthenticated()

        offload.check_first(look)
