"""Rate limits through real HTTP (issue 11, item 5): token buckets per token and per client
address by class of route, `429 rate_limited` with `Retry-After` and the IETF `RateLimit`
fields, buckets shared through Redis, and the abuse report. Each runs on both limiters
(in-process and Redis; tests/conftest.py).

Addresses: uvicorn trusts `X-Forwarded-For` from 127.0.0.1, so each test names a client
address of its own (documentation ranges: nothing is ever sent to them)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.api_client import Api, User, expect_error
from tests.conftest import LIMITERS, REDIS, REDIS_URL
from tests.server import Server, free_port

LIMITS = {
    "HUSHAN_RATE_READS": "5/60",
    "HUSHAN_RATE_WRITES": "4/60",
    "HUSHAN_RATE_FRIEND_REQUESTS": "2/86400",
    "HUSHAN_RATE_RELATION_CHECKS": "2/60",
    "HUSHAN_RATE_ADDRESS_READS": "8/60",
    "HUSHAN_RATE_ADDRESS_WRITES": "40/60",
}
_addresses = iter(range(1, 250))


def address() -> dict[str, str]:
    """A client address of the test's own, as a proxy on 127.0.0.1 forwards it."""
    return {"x-forwarded-for": f"203.0.113.{next(_addresses)}"}


def limiter_env(kind: str) -> dict[str, str]:
    if kind == "memory":
        return {}
    return {"HUSHAN_REDIS_URL": REDIS_URL, "HUSHAN_RATE_KEY_PREFIX": f"t{uuid.uuid4().hex}:"}


@pytest.fixture(scope="module", params=LIMITERS)
def limited(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    env = {**LIMITS, **limiter_env(request.param)}
    running = Server(tmp_path_factory.mktemp("limited"), **env).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api(limited: Server) -> Iterator[Api]:
    with Api(limited.url) as client:
        yield client


def new_user(api: Api) -> User:
    """A user made from an address of its own (the admin's writes count per address too)."""
    body = api.ok(
        "POST", "/v1/users", admin=True, json={"id": uuid.uuid4().hex[:12]}, headers=address()
    )
    return User(body["user"]["id"], body["token"])


def test_writes_per_token_then_429_with_retry_after_and_ratelimit_fields(api: Api) -> None:
    alice, bob = new_user(api), new_user(api)
    where = address()
    settings = f"/v1/users/{alice.id}/settings"
    for _ in range(4):
        ok = api.call("PATCH", settings, alice, json={"verification_required": True}, headers=where)
        assert ok.status_code == 200, ok.text
        assert ok.headers["ratelimit-policy"] == '"writes";q=4;w=60, "address-writes";q=40;w=60'
    refused = api.call(
        "PATCH", settings, alice, json={"verification_required": True}, headers=where
    )
    expect_error(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 15  # a token every 15 s
    assert refused.headers["ratelimit"].startswith('"writes";r=0;t=')
    assert refused.headers["x-request-id"]
    # Per token: Bob, from the same address, is not held back; Alice still reads.
    assert (
        api.call("PATCH", f"/v1/users/{bob.id}/settings", bob, json={}, headers=where).status_code
        == 200
    )
    assert (
        api.call("GET", f"/v1/users/{alice.id}/contacts", alice, headers=where).status_code == 200
    )


def test_ratelimit_field_only_near_the_limit(api: Api) -> None:
    carol = new_user(api)
    where = address()
    first = api.call("GET", f"/v1/users/{carol.id}/contacts", carol, headers=where)
    assert first.headers["ratelimit-policy"] == '"reads";q=5;w=60, "address-reads";q=8;w=60'
    assert "ratelimit" not in first.headers  # 4 of 5 left: not near
    for _ in range(3):
        api.call("GET", f"/v1/users/{carol.id}/contacts", carol, headers=where)
    last = api.call("GET", f"/v1/users/{carol.id}/contacts", carol, headers=where)
    assert last.status_code == 200
    assert last.headers["ratelimit"].startswith('"reads";r=0;t=')


def test_friend_requests_per_day(api: Api) -> None:
    sender = new_user(api)
    others = [new_user(api) for _ in range(3)]
    where = address()
    path = f"/v1/users/{sender.id}/requests"
    for other in others[:2]:
        sent = api.call("POST", path, sender, json={"to": other.id}, headers=where)
        assert sent.status_code == 200, sent.text
    refused = api.call("POST", path, sender, json={"to": others[2].id}, headers=where)
    expect_error(refused, 429, "rate_limited")
    assert int(refused.headers["retry-after"]) > 40_000  # one request back every 12 hours
    assert '"friend-requests";q=2;w=86400' in refused.headers["ratelimit-policy"]
    # The refused request cost nothing and was not sent.
    assert api.requests(others[2], "incoming") == []


def test_relation_checks_per_token_and_the_admin_key_is_held_to_them_alone(api: Api) -> None:
    a, b = new_user(api), new_user(api)
    where = address()
    pair = {"pairs": [{"a": a.id, "b": b.id}]}
    for _ in range(2):
        ok = api.call("POST", "/v1/admin/relations/check", admin=True, json=pair, headers=where)
        assert ok.status_code == 200, ok.text
    refused = api.call("POST", "/v1/admin/relations/check", admin=True, json=pair, headers=where)
    expect_error(refused, 429, "rate_limited")
    # The admin key's other writes are not limited per token (4 would be the limit).
    for _ in range(6):
        api.ok("POST", "/v1/users", admin=True, json={"id": uuid.uuid4().hex[:12]}, headers=where)


def test_per_address_whatever_the_token(api: Api) -> None:
    where, elsewhere = address(), address()
    for _ in range(8):
        assert api.call("GET", "/v1/log/key", headers=where).status_code == 200
    refused = api.call("GET", "/v1/log/key", headers=where)
    expect_error(refused, 429, "rate_limited")
    assert '"address-reads";r=0' in refused.headers["ratelimit"]
    assert api.call("GET", "/v1/log/key", headers=elsewhere).status_code == 200
    # Probes are never limited.
    for path in ("/healthz", "/readyz"):
        assert api.call("GET", path, headers=where).status_code == 200


def test_abuse_report_names_users_whose_requests_are_mostly_refused(api: Api) -> None:
    spammer, honest = new_user(api), new_user(api)
    where = address()
    for _ in range(12):  # messages to strangers: refused (409), then rate limited (429)
        api.call(
            "POST",
            f"/v1/users/{spammer.id}/messages",
            spammer,
            json={"to": honest.id, "body": "buy now"},
            headers=where,
        )
    for _ in range(3):
        api.call("GET", f"/v1/users/{honest.id}/contacts", honest, headers=where)
    expect_error(api.call("GET", "/v1/admin/abuse", spammer), 403, "admin_required")
    report = api.ok("GET", "/v1/admin/abuse", admin=True, params={"min_requests": 10})
    rows = {row["user"]: row for row in report["subjects"] if row["kind"] == "token"}
    assert spammer.id in rows, report
    row = rows[spammer.id]
    # 12 messages and the look at the report, every one refused; 8 of them by the limits.
    assert (row["requests"], row["refused"], row["refused_ratio"]) == (13, 13, 1.0)
    assert row["rate_limited"] == 12 - 4
    assert honest.id not in rows
    assert report["window_seconds"] == 3600


@pytest.mark.skipif(not REDIS, reason="Redis not reachable (CI requires it)")
def test_two_servers_share_their_buckets_through_redis(tmp_path: Path) -> None:
    env = {**LIMITS, **limiter_env("redis")}
    first = Server(tmp_path, **env).start()
    second = Server(tmp_path, "--no-sweep", **env).start()  # the same database and Redis
    try:
        with Api(first.url) as one, Api(second.url) as two:
            user = new_user(one)
            where = address()
            path = f"/v1/users/{user.id}/settings"
            for client in (one, two, one, two):
                assert client.call("PATCH", path, user, json={}, headers=where).status_code == 200
            expect_error(two.call("PATCH", path, user, json={}, headers=where), 429, "rate_limited")
            expect_error(one.call("PATCH", path, user, json={}, headers=where), 429, "rate_limited")
        # What the limiter keeps in Redis is under its prefix, expires, and names no token.
        prefix = env["HUSHAN_RATE_KEY_PREFIX"]
        with redis.Redis.from_url(REDIS_URL) as r:
            keys = list(r.scan_iter(match=prefix + "*", count=1000))
            assert any(k.startswith(prefix.encode() + b"rl:writes:") for k in keys), keys
            assert all(r.ttl(k) > 0 for k in keys)
            assert not any(user.token.encode() in k for k in keys)
    finally:
        second.stop()
        first.stop()


def test_redis_down_limits_in_process_and_serves(tmp_path: Path) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    server = Server(tmp_path, **LIMITS, HUSHAN_REDIS_URL=nowhere).start()
    try:
        with Api(server.url) as client:
            user = new_user(client)
            path = f"/v1/users/{user.id}/settings"
            for _ in range(4):
                assert client.call("PATCH", path, user, json={}).status_code == 200
            expect_error(client.call("PATCH", path, user, json={}), 429, "rate_limited")
            ready = client.ok("GET", "/readyz")
            assert ready["checks"]["redis"] == "unreachable"
        assert "Redis unreachable" in server.log()
    finally:
        server.stop()


def test_limits_off(tmp_path: Path) -> None:
    server = Server(tmp_path, **LIMITS, HUSHAN_RATE_ENABLED="false").start()
    try:
        with Api(server.url) as client:
            user = new_user(client)
            for _ in range(10):
                reply = client.call("PATCH", f"/v1/users/{user.id}/settings", user, json={})
                assert reply.status_code == 200
                assert "ratelimit-policy" not in reply.headers
    finally:
        server.stop()


def test_a_bucket_refills_one_token_per_interval() -> None:
    """The arithmetic alone (hushan.api.buckets), on a clock the test moves."""
    import asyncio

    from hushan.api.buckets import MemoryBuckets, Policy, Rate

    now = [1000.0]
    buckets = MemoryBuckets(clock=lambda: now[0])
    policy = Policy("writes", Rate(3, 30))  # a token every 10 s, at most 3

    def take() -> tuple[bool, float, int]:
        allowed, (verdict,) = asyncio.run(buckets.take([("k", policy)], "s"))
        return allowed, verdict.retry_after, verdict.remaining

    assert [take()[0] for _ in range(4)] == [True, True, True, False]
    assert take()[1] == pytest.approx(10.0)
    now[0] += 9.9
    assert take()[0] is False
    now[0] += 0.2  # 10.1 s on: one token back, and only one
    assert take()[:1] == (True,)
    assert take()[0] is False
    now[0] += 1000  # long idle: full again, never more than the quota
    allowed, _, remaining = take()
    assert (allowed, remaining) == (True, 2)


def test_a_credential_acting_for_users_draws_on_a_bucket_per_user(api: Api) -> None:
    made = api.ok(
        "POST",
        "/v1/admin/credentials",
        admin=True,
        json={"name": "backend", "scopes": ["users:act"]},
        headers=address(),
    )
    alice, bob = new_user(api), new_user(api)
    where = address()

    def patch(user: User) -> int:
        headers = {**where, "Authorization": f"Bearer {made['secret']}", "Hushan-Act-As": user.id}
        path = f"/v1/users/{user.id}/settings"
        return api.call("PATCH", path, json={}, headers=headers).status_code

    assert [patch(alice) for _ in range(5)] == [200] * 4 + [429]
    assert patch(bob) == 200  # the same credential, for another user: a bucket of its own
