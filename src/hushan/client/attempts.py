"""When a call is tried again, and with what: the retry rules both clients share, with no I/O.

A write carries one Idempotency-Key on every attempt, so a retry after a lost reply replays the
first reply instead of writing twice (docs/api.md, Idempotency). What is retried:
- a lost connection or a timeout, for a read or a keyed write: the server may have done it,
  and the key makes doing it again safe;
- `429 rate_limited` and `503 busy`, after the `Retry-After` the server gave: nothing was done;
- `409 idempotency_key_in_flight`: the first attempt is still running, and its reply will be
  replayed once it is kept.
A wait longer than the policy's `max_wait` is not waited for: the error is raised, with its
`retry_after`, for the caller to decide.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar, cast

import httpx

from hushan.client.call import Call

T = TypeVar("T")
RETRY_STATUSES = frozenset({429, 503})
IN_FLIGHT = "idempotency_key_in_flight"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4  # in all, the first one included
    max_wait: float = 30.0  # seconds: the longest wait the client sits through
    backoff: float = 0.25  # seconds before the second try when the server said nothing; doubles


class ApiError(Exception):
    """A reply outside 2xx: the error body's stable `code`, and its message for people."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @classmethod
    def of(cls, response: httpx.Response) -> ApiError:
        try:
            detail = response.json()["error"]
            code, message = str(detail["code"]), str(detail["message"])
        except (ValueError, KeyError, TypeError):  # not hushan's error body: a proxy's, say
            code, message = "unexpected_reply", response.text[:200]
        return cls(response.status_code, code, message, retry_after(response))


def retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds, whether the server gave seconds or a date (RFC 9110 10.2.3)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    sent = response.headers.get("date")
    now = parsedate_to_datetime(sent) if sent else None
    return max(0.0, (when - now).total_seconds()) if now else None


class Attempts:
    """The attempts of one call: what each sends, and after each whether to wait and try again."""

    def __init__(
        self,
        call: Call[Any],
        policy: RetryPolicy,
        headers: dict[str, str],
        idempotency_key: str | None = None,
    ) -> None:
        self.call = call
        self.policy = policy
        self.headers = dict(headers)
        if call.keyed:
            self.headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        self.tried = 0

    def request(self) -> dict[str, Any]:
        """The keyword arguments of httpx's `request` for the next attempt."""
        return {
            "method": self.call.method,
            "url": self.call.path,
            "params": self.call.params,
            "json": self.call.json,
            "headers": self.headers,
        }

    def after_reply(self, response: httpx.Response) -> float | None:
        """None when `response` is the answer; else the seconds to wait before trying again.
        Raises ApiError for an error no retry mends, or when the tries are used up."""
        self.tried += 1
        if response.is_success:
            return None
        error = ApiError.of(response)
        retryable = response.status_code in RETRY_STATUSES or error.code == IN_FLIGHT
        if retryable and self.tried < self.policy.attempts:
            wait = error.retry_after if error.retry_after is not None else self._backoff()
            if wait <= self.policy.max_wait:
                return wait
        raise error

    def after_lost(self, lost: httpx.TransportError) -> float:
        """The wait before trying again after a lost connection or a timeout; raises `lost`
        when trying again could do a write twice, or the tries are used up."""
        self.tried += 1
        if (self.call.method == "GET" or self.call.keyed) and self.tried < self.policy.attempts:
            return self._backoff()
        raise lost

    def result(self, response: httpx.Response) -> Any:
        return response.text if self.call.form == "text" else response.json()

    def _backoff(self) -> float:
        return float(min(self.policy.max_wait, self.policy.backoff * 2 ** (self.tried - 1)))


def typed(_: Call[T], value: Any) -> T:
    """What the server sent, as the call's reply type (the server's reply models promise it;
    tests/test_fuzz.py checks every reply against them)."""
    return cast(T, value)
