"""Webhook endpoints and the retry schedule, without I/O.

A delivery is one event for one endpoint. Its first attempt is due at once; after the n-th
failed attempt the next is due `schedule[n]` later (the Standard Webhooks schedule by default:
5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), and after the last one it is failed for good (a
dead letter, kept with its last status until replayed). An endpoint whose attempts failed
`disable_after` times in a row is disabled until the operator enables it again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from hushan.domain.errors import InvalidWebhookUrl, UnknownEventType
from hushan.domain.events import EventType

# The delays after the 1st, 2nd, ... failed attempt; the first attempt is at once.
DEFAULT_SCHEDULE = "5,300,1800,7200,18000,36000,36000"
SECRET_PREFIX = "whsec_"
MAX_URL_CHARS = 2000


# RFC 3986's IPv6address, spelt out: eight groups, or fewer around one `::`, the last two maybe
# an IPv4 address. (Built here at import, not in a function: nothing calls it later.)
_H16 = "[0-9A-Fa-f]{1,4}"
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_LS32 = f"(?:{_H16}:{_H16}|{_OCTET}(?:\\.{_OCTET}){{3}})"
# After the `::`: 5 groups then ls32, 4 then ls32, ... down to ls32 alone, one group, or none;
# before it, nothing for the first, then at most 1, 2, ... 7 groups.
_AFTER = [f"(?:{_H16}:){{{5 - n}}}{_LS32}" for n in range(5)] + [_LS32, _H16, ""]
_BEFORE = [""] + [f"(?:(?:{_H16}:){{0,{n}}}{_H16})?" for n in range(7)]
_IPV6 = (
    "(?:"
    + "|".join(
        [f"(?:{_H16}:){{6}}{_LS32}"]
        + [f"{before}::{after}" for before, after in zip(_BEFORE, _AFTER, strict=True)]
    )
    + ")"
)


# A port a connection can use: 0 to 65535.
_PORT = "(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
# An absolute http(s) URL: a host (a name, an IPv4 or a bracketed IPv6 address), a port maybe,
# then a path, query or fragment of visible ASCII. The API's schema states the same pattern, so
# a URL the schema lets through is one the worker can send to.
URL_PATTERN = f"https?://([A-Za-z0-9._~\\-]+|\\[{_IPV6}\\])(:{_PORT})?([/?#][!-~]*)?"


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt failed: a dead letter


def parse_schedule(text: str) -> tuple[timedelta, ...]:
    """`5,300,...`: seconds, each >= 0, at least one. ValueError otherwise."""
    delays = tuple(timedelta(seconds=float(part)) for part in text.split(","))
    if any(d < timedelta() for d in delays):
        raise ValueError("A retry delay is never negative.")
    return delays


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt leaves a delivery with, as the store writes it."""

    delivery_id: int
    state: DeliveryState
    next_at: datetime | None
    status: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Attempted:
    """What an attempt leaves: the delivery's state and, while pending, its next due time."""

    state: DeliveryState
    next_at: datetime | None


def after_attempt(
    attempts: int, ok: bool, now: datetime, schedule: Sequence[timedelta]
) -> Attempted:
    """The delivery after its `attempts`-th attempt (counting this one) succeeded or not."""
    if ok:
        return Attempted(DeliveryState.DELIVERED, None)
    if attempts > len(schedule):
        return Attempted(DeliveryState.FAILED, None)
    return Attempted(DeliveryState.PENDING, now + schedule[attempts - 1])


def failure_run_after(oks: Sequence[bool]) -> tuple[bool, int]:
    """What a run of outcomes does to an endpoint's run of failures: (whether it starts again,
    the failures to add): those after the last success."""
    if True in oks:
        last = len(oks) - 1 - oks[::-1].index(True)
        return True, len(oks) - 1 - last
    return False, len(oks)


def is_success(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def checked_url(url: str) -> str:
    if len(url) > MAX_URL_CHARS or not re.fullmatch(URL_PATTERN, url):
        raise InvalidWebhookUrl()
    return url


def checked_event_types(types: Iterable[str]) -> frozenset[EventType]:
    """The event types named, each a known one; at least one."""
    found: set[EventType] = set()
    for name in types:
        try:
            found.add(EventType(name))
        except ValueError:
            raise UnknownEventType(f"Unknown event type: {name!r}.") from None
    if not found:
        raise UnknownEventType()
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A subscriber's URL and the event types it gets; never its secrets."""

    id: str
    url: str
    event_types: frozenset[EventType]
    created_at: datetime
    failure_run: int = 0
    disabled_at: datetime | None = None
    disabled_reason: str | None = None
    platform_id: str | None = None  # a linked platform's endpoint (hushan.domain.platforms)


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    endpoint_id: str
    seq: int
    state: DeliveryState
    attempts: int
    next_at: datetime
    last_status: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    created_at: datetime
    done_at: datetime | None


@dataclass(frozen=True, slots=True)
class Alert:
    """The operator's record of an endpoint the worker disabled after its run of failures:
    open until the endpoint is enabled again (or removed), kept afterwards."""

    id: int
    endpoint_id: str
    at: datetime
    reason: str
    last_status: int | None  # the last failed attempt's HTTP status, if it got one
    last_error: str | None  # or its error, if it got no answer
    closed_at: datetime | None = None
