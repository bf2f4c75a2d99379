"""Rate limits: token buckets per bearer token and per client address, by class of route, as
one ASGI middleware in front of the app; and the abuse report that reads what they counted.

Classes (each a setting, `QUOTA/SECONDS` or `off`; hushan.config):
- per token (a service credential acting for a user: per credential and user): `reads` (GET
  and HEAD), `writes` (every other method), `friend-requests`
  (`POST /v1/users/{id}/requests`, a day's quota), `relation-checks`
  (`POST /v1/admin/relations/check`). The admin key is the deployment's own backend: it is
  held to `relation-checks` alone;
- per client address: `address-reads`, `address-writes`, high enough for one app backend that
  calls for all its users from one address. Behind a proxy the address is the proxy's unless
  uvicorn trusts it to forward the client's (`FORWARDED_ALLOW_IPS`, docs/operations.md).

A request takes a token from each bucket that applies, or from none (hushan.api.buckets). A
refusal is `429 rate_limited` with `Retry-After` and the IETF draft's `RateLimit-Policy` and
`RateLimit` fields. Other replies carry `RateLimit-Policy` (fixed per class of route), and
`RateLimit` only when a bucket is below a tenth of its quota: exact counts on every reply
would let one user see the traffic of others behind the same address.
`/healthz`, `/readyz` and `/metrics` are never limited.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Query
from pydantic_core import to_json

from hushan.api.buckets import Counts, MemoryBuckets, Policy, Rate, RedisBuckets, Verdict
from hushan.api.replies import AbuseReply, JsonReply
from hushan.config import Settings
from hushan.domain.credentials import SECRET_PREFIX
from hushan.service import Hushan
from hushan.service.users import hash_token

if TYPE_CHECKING:
    from hushan.api.metrics import Metrics
    from hushan.api.security import Guards

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The one error code of this layer (documented in the README and docs/api.md).
CODES = {"rate_limited": (429, "Too many requests: try again after Retry-After seconds.")}
UNLIMITED = frozenset({"/healthz", "/readyz", "/metrics"})
FRIEND_REQUEST = re.compile(r"^/v1/users/[^/]+/requests/?$")
RELATION_CHECK = "/v1/admin/relations/check"
READS = frozenset({"GET", "HEAD", "OPTIONS"})
LOW = 0.1  # below this share of a quota, replies carry the RateLimit field
ACT_AS = b"hushan-act-as"  # hushan.api.security.ACT_AS, as ASGI spells header names


def _policy(name: str, text: str) -> Policy | None:
    rate = Rate.parse(text)
    return None if rate is None else Policy(name, rate)


class Limiter:
    """The policies of a deployment and the buckets they fill."""

    def __init__(self, settings: Settings, admin_key: str, metrics: Metrics | None = None) -> None:
        s = settings
        self.metrics = metrics
        self.enabled = s.rate_enabled
        self.admin_hash = hash_token(admin_key)
        self.reads = _policy("reads", s.rate_reads)
        self.writes = _policy("writes", s.rate_writes)
        self.friend_requests = _policy("friend-requests", s.rate_friend_requests)
        self.relation_checks = _policy("relation-checks", s.rate_relation_checks)
        self.address_reads = _policy("address-reads", s.rate_address_reads)
        self.address_writes = _policy("address-writes", s.rate_address_writes)
        self.abuse_window = s.rate_abuse_window_seconds
        self.buckets: MemoryBuckets | RedisBuckets = (
            RedisBuckets(
                s.redis_url,
                s.rate_key_prefix,
                self.abuse_window,
                None if metrics is None else metrics.rate_limit_fallbacks,
            )
            if s.redis_url
            else MemoryBuckets()
        )
        self._policy_fields: dict[tuple[Policy, ...], bytes] = {}

    def applying(
        self, method: str, path: str, token: str | None, address: str
    ) -> tuple[list[tuple[str, Policy]], str]:
        """The buckets a request draws on (key, policy), and the subject it counts under in
        the abuse report (a token's hash, else the address)."""
        read = method in READS
        found: list[tuple[str, Policy]] = []
        subject = "address:" + address
        if token is not None:
            hashed = hash_token(token)
            admin = hmac.compare_digest(hashed, self.admin_hash)
            subject = "admin" if admin else hashed
            short = hashed[:32]
            general = self.reads if read else self.writes
            if general is not None and not admin:
                found.append((f"{general.name}:{short}", general))
            if not read and self.friend_requests is not None and FRIEND_REQUEST.match(path):
                found.append((f"{self.friend_requests.name}:{short}", self.friend_requests))
            if not read and self.relation_checks is not None and path == RELATION_CHECK:
                found.append((f"{self.relation_checks.name}:{short}", self.relation_checks))
        by_address = self.address_reads if read else self.address_writes
        if by_address is not None:
            found.append((f"{by_address.name}:{address}", by_address))
        return found, subject

    def policy_field(self, policies: tuple[Policy, ...]) -> bytes:
        """RateLimit-Policy: `"writes";q=600;w=60, ...` (cached: a handful of combinations)."""
        field = self._policy_fields.get(policies)
        if field is None:
            field = ", ".join(
                f'"{p.name}";q={p.rate.quota};w={_seconds(p.rate.window)}' for p in policies
            ).encode()
            self._policy_fields[policies] = field
        return field


def _seconds(value: float) -> int:
    return max(0, math.ceil(value - 1e-9))


def _state_field(verdicts: list[Verdict]) -> bytes:
    """RateLimit: `"writes";r=0;t=12, ...`."""
    return ", ".join(
        f'"{v.policy.name}";r={v.remaining};t={_seconds(v.reset)}' for v in verdicts
    ).encode()


def _bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The bearer token the buckets are keyed by. A service credential acting for a user
    counts as that user's own token would, apart from theirs: one app backend acting for all
    its users would otherwise spend one token's quota for all of them."""
    token: str | None = None
    act_as = b""
    for name, value in headers:
        if name == b"authorization" and token is None:
            scheme, _, found = value.decode("latin-1").partition(" ")
            found = found.strip()
            if scheme.lower() != "bearer" or not found:
                return None
            token = found
        elif name == ACT_AS:
            act_as = value
    if token is not None and act_as and token.startswith(SECRET_PREFIX):
        return f"{token}\n{act_as.decode('latin-1')}"
    return token


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limiter: Limiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED:
            return await self.app(scope, receive, send)
        limiter = self.limiter
        client = scope.get("client")
        address = client[0] if client else "unknown"
        buckets, subject = limiter.applying(
            scope["method"], scope["path"], _bearer(scope["headers"]), address
        )
        if not buckets:
            return await self.app(scope, receive, send)
        allowed, verdicts = await limiter.buckets.take(buckets, subject)
        policy = limiter.policy_field(tuple(p for _, p in buckets))
        if not allowed:
            if limiter.metrics is not None:
                for verdict in verdicts:
                    if verdict.retry_after > 0:
                        limiter.metrics.rate_limited.labels(verdict.policy.name).inc()
            return await _refuse(send, policy, verdicts)
        extra = [(b"ratelimit-policy", policy)]
        if any(v.remaining < v.policy.rate.quota * LOW for v in verdicts):
            extra.append((b"ratelimit", _state_field(verdicts)))

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
                if 400 <= message["status"] < 500:
                    await limiter.buckets.refused(subject)
            await send(message)

        await self.app(scope, receive, sending)


async def _refuse(send: Send, policy: bytes, verdicts: list[Verdict]) -> None:
    status, message = CODES["rate_limited"]
    body = to_json({"error": {"code": "rate_limited", "message": message}})
    retry = max(_seconds(v.retry_after) for v in verdicts)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(max(retry, 1)).encode()),
        (b"ratelimit-policy", policy),
        (b"ratelimit", _state_field(verdicts)),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def install(app: FastAPI, engine: Hushan, limiter: Limiter, guards: Guards) -> None:
    """The middleware, and `GET /v1/admin/abuse`: subjects whose requests are mostly refused."""
    if limiter.enabled:
        app.add_middleware(RateLimitMiddleware, limiter=limiter)

    def user_of(hashed: str) -> str | None:
        with engine.store.read() as tx:
            return tx.user_for_token(hashed)

    @app.get(
        "/v1/admin/abuse",
        tags=["admin"],
        operation_id="admin_abuse",
        response_model=AbuseReply,
        dependencies=[Depends(guards.admin)],
    )
    async def abuse(
        min_requests: int = Query(20, ge=1, le=1_000_000),
        min_ratio: float = Query(0.5, ge=0, le=1),
    ) -> JsonReply:
        """Who is refused most (429 and every other 4xx) over the abuse window."""
        counts = await limiter.buckets.counts(limiter.abuse_window)
        listed = [
            (subject, c)
            for subject, c in counts.items()
            if c.requests >= min_requests and c.refused >= c.requests * min_ratio
        ]
        listed.sort(key=lambda item: (-item[1].refused / item[1].requests, item[0]))
        rows = []
        for subject, c in listed[:100]:
            rows.append(await asyncio.to_thread(_row, subject, c, user_of))
        return JsonReply(
            {
                "window_seconds": limiter.abuse_window,
                "shared": limiter.buckets.shared,
                "subjects": rows,
            }
        )


def _row(subject: str, c: Counts, user_of: Callable[[str], str | None]) -> dict[str, Any]:
    if subject.startswith("address:"):
        kind, who, user = "address", subject.removeprefix("address:"), None
    elif subject == "admin":
        kind, who, user = "admin", "admin", None
    else:
        kind, who, user = "token", subject[:12], user_of(subject)
    return {
        "kind": kind,
        "subject": who,
        "user": user,
        "requests": c.requests,
        "refused": c.refused,
        "rate_limited": c.rate_limited,
        "refused_ratio": round(c.refused / c.requests, 3),
    }
