"""Token buckets for the rate limits, kept in this process or in Redis, and the counts behind
the abuse report.

A bucket is GCRA (the generic cell rate algorithm): a bucket of `quota` tokens that refills
`quota` tokens over `window` seconds is stored as one number, the theoretical arrival time
(TAT) of the next request. A request is let through when TAT + interval - now <= window, and
then moves TAT on by one interval (window / quota). So a bucket holds one float, costs O(1) to
check, and needs no timer to refill.

A request takes a token from every bucket that applies to it, or from none: when one bucket is
empty, the others are left as they were (a refused request costs nothing). In Redis this is
one Lua script, so it is atomic across processes and costs one round trip; the time is Redis's
own (`TIME`), so processes on hosts with skewed clocks still share one timeline.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("hushan.api")

# Abuse counts are kept per minute, for the report's window.
MINUTE = 60


@dataclass(frozen=True, slots=True)
class Rate:
    """QUOTA/SECONDS: a bucket of `quota` tokens that refills `quota` over `window` seconds."""

    quota: int
    window: float

    @property
    def interval(self) -> float:
        return self.window / self.quota

    @staticmethod
    def parse(text: str) -> Rate | None:
        """`300/60`, or `off` (None)."""
        if text == "off":
            return None
        quota, _, window = text.partition("/")
        rate = Rate(int(quota), float(window))
        if rate.quota < 1 or rate.window <= 0:
            raise ValueError(f"not a rate: {text!r} (QUOTA/SECONDS or off)")
        return rate


@dataclass(frozen=True, slots=True)
class Policy:
    name: str  # as sent in RateLimit-Policy, e.g. "writes" or "address-writes"
    rate: Rate


@dataclass(frozen=True, slots=True)
class Verdict:
    """One bucket's state after a request: tokens left, seconds until it is full again, and
    (when it refused) seconds until it has a token."""

    policy: Policy
    remaining: int
    reset: float
    retry_after: float


@dataclass(frozen=True, slots=True)
class Counts:
    """One subject's requests in the abuse window: all, refused (any 4xx), rate limited."""

    requests: int
    refused: int
    rate_limited: int


def _gcra(tat: float, now: float, rate: Rate) -> tuple[bool, float, Verdict]:
    """Whether one bucket has a token at `now`, its new TAT if taken, and its verdict."""
    tat = max(tat, now)
    new = tat + rate.interval
    policy = Policy("", rate)  # the caller puts the real one in
    if new - now <= rate.window + 1e-9:
        left = math.floor((rate.window - (new - now)) / rate.interval + 1e-9)
        return True, new, Verdict(policy, left, new - now, 0.0)
    left = math.floor((rate.window - (tat - now)) / rate.interval + 1e-9)
    return False, tat, Verdict(policy, max(left, 0), tat - now, new - rate.window - now)


class MemoryBuckets:
    """Buckets of this process alone (no `HUSHAN_REDIS_URL`): each API process limits apart."""

    shared = False

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._tats: dict[str, float] = {}
        self._counts: dict[int, dict[str, list[int]]] = defaultdict(dict)
        self._next_cleanup = 0.0

    async def take(
        self, buckets: Sequence[tuple[str, Policy]], subject: str
    ) -> tuple[bool, list[Verdict]]:
        now = self._clock()
        results = [_gcra(self._tats.get(key, now), now, p.rate) for key, p in buckets]
        allowed = all(ok for ok, _, _ in results)
        if allowed:
            for (key, _), (_, new, _) in zip(buckets, results, strict=True):
                self._tats[key] = new
        self._count(subject, refused=not allowed, limited=not allowed)
        if now >= self._next_cleanup:
            self._cleanup(now)
        verdicts = [
            Verdict(p, v.remaining, v.reset, v.retry_after)
            for (_, p), (_, _, v) in zip(buckets, results, strict=True)
        ]
        return allowed, verdicts

    async def refused(self, subject: str) -> None:
        self._count(subject, refused=True, limited=False, request=False)

    async def counts(self, window: int) -> dict[str, Counts]:
        minute = int(time.time()) // MINUTE
        total: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for at, by_subject in list(self._counts.items()):
            if at > minute - window // MINUTE:
                for subject, (n, r, limited) in by_subject.items():
                    t = total[subject]
                    t[0], t[1], t[2] = t[0] + n, t[1] + r, t[2] + limited
        return {s: Counts(n, r, limited) for s, (n, r, limited) in total.items()}

    def _count(self, subject: str, refused: bool, limited: bool, request: bool = True) -> None:
        counts = self._counts[int(time.time()) // MINUTE].setdefault(subject, [0, 0, 0])
        counts[0] += request
        counts[1] += refused
        counts[2] += limited

    def _cleanup(self, now: float) -> None:
        """Forget full buckets (a TAT in the past is a full bucket) and old minutes."""
        self._next_cleanup = now + 10
        for key in [k for k, tat in self._tats.items() if tat <= now]:
            del self._tats[key]
        oldest = int(time.time()) // MINUTE - 24 * 60
        for at in [m for m in self._counts if m < oldest]:
            del self._counts[at]


# KEYS: the buckets, then the abuse counts of this minute. ARGV: interval and window (ms) of each
# bucket, then the subject and how long to keep the counts. Returns allowed, then per bucket
# remaining, reset (ms) and retry-after (ms).
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS - 1
local tats = {}
local allowed = 1
for i = 1, n do
  local interval, window = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  tats[i] = tat
  if tat + interval - now > window then allowed = 0 end
end
local out = {allowed}
for i = 1, n do
  local interval, window = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local tat = tats[i]
  if allowed == 1 then
    local new = tat + interval
    redis.call('SET', KEYS[i], tostring(new), 'PX', math.max(1, math.ceil(new - now)))
    table.insert(out, math.floor((window - (new - now)) / interval + 1e-9))
    table.insert(out, math.ceil(new - now))
    table.insert(out, 0)
  else
    table.insert(out, math.max(0, math.floor((window - (tat - now)) / interval + 1e-9)))
    table.insert(out, math.ceil(tat - now))
    table.insert(out, math.max(0, math.ceil(tat + interval - window - now)))
  end
end
local subject = ARGV[2 * n + 1]
local counts = KEYS[n + 1]
redis.call('HINCRBY', counts, subject .. '|n', 1)
if allowed == 0 then
  redis.call('HINCRBY', counts, subject .. '|r', 1)
  redis.call('HINCRBY', counts, subject .. '|l', 1)
end
redis.call('EXPIRE', counts, tonumber(ARGV[2 * n + 2]))
return out
"""


class RedisBuckets:
    """Buckets in Redis, shared by every API process that names the same server and prefix.

    When Redis cannot be reached, the limits fall back to this process's own buckets for
    `FALLBACK_SECONDS` (logged, and counted in `hushan_rate_limit_fallbacks_total`), then Redis
    is tried again: an outage of Redis loosens the limits but never fails a request."""

    shared = True
    FALLBACK_SECONDS = 5.0

    def __init__(self, url: str, prefix: str, keep_counts: int, fallbacks: Any = None) -> None:
        import redis.asyncio

        self._redis = redis.asyncio.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5
        )
        self._script = self._redis.register_script(_TAKE)
        self._prefix = prefix
        self._keep = keep_counts + MINUTE
        self._local = MemoryBuckets()
        self._down_until = 0.0
        self._fallbacks = fallbacks  # a prometheus Counter, or None

    def _counts_key(self, minute: int) -> str:
        return f"{self._prefix}abuse:{minute}"

    def _failed(self, error: Exception) -> None:
        if time.monotonic() >= self._down_until:
            log.warning("rate limits: Redis unreachable (%s); limiting in-process for now", error)
        self._down_until = time.monotonic() + self.FALLBACK_SECONDS
        if self._fallbacks is not None:
            self._fallbacks.inc()

    async def take(
        self, buckets: Sequence[tuple[str, Policy]], subject: str
    ) -> tuple[bool, list[Verdict]]:
        if time.monotonic() < self._down_until:
            return await self._local.take(buckets, subject)
        keys = [self._prefix + "rl:" + key for key, _ in buckets]
        keys.append(self._counts_key(int(time.time()) // MINUTE))
        args: list[Any] = []
        for _, policy in buckets:
            args += [policy.rate.interval * 1000, policy.rate.window * 1000]
        args += [subject, self._keep]
        try:
            out = await self._script(keys=keys, args=args)
        except Exception as error:  # any Redis failure: limit in-process meanwhile
            self._failed(error)
            return await self._local.take(buckets, subject)
        verdicts = [
            Verdict(policy, int(out[1 + 3 * i]), out[2 + 3 * i] / 1000, out[3 + 3 * i] / 1000)
            for i, (_, policy) in enumerate(buckets)
        ]
        return bool(out[0]), verdicts

    async def refused(self, subject: str) -> None:
        if time.monotonic() < self._down_until:
            return await self._local.refused(subject)
        key = self._counts_key(int(time.time()) // MINUTE)
        try:
            await self._redis.hincrby(key, subject + "|r", 1)
        except Exception as error:
            self._failed(error)

    async def counts(self, window: int) -> dict[str, Counts]:
        minute = int(time.time()) // MINUTE
        async with self._redis.pipeline(transaction=False) as pipe:
            for at in range(minute - window // MINUTE + 1, minute + 1):
                pipe.hgetall(self._counts_key(at))
            minutes = await pipe.execute()
        total: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for fields in minutes:
            for name, value in fields.items():
                subject, _, kind = name.decode().rpartition("|")
                total[subject]["nrl".index(kind)] += int(value)
        return {s: Counts(*t) for s, t in total.items()}

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False

    async def close(self) -> None:
        await self._redis.aclose()
