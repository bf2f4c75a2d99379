"""hushan.client against a real server: typed calls, errors by code, and retries that reuse
their Idempotency-Key; and the generated module against the document the server serves."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
import pytest

from hushan.client import ApiError, AsyncClient, Client, RetryPolicy, ops
from hushan.client.attempts import Attempts, retry_after
from tests.api_client import uid
from tests.server import ADMIN_KEY, Server
from tools import gen_client


def test_the_committed_client_is_the_one_the_served_document_generates() -> None:
    """Drift between the API and `hushan.client.ops` fails here: run `make client`."""
    assert gen_client.render(gen_client.served_document()) == gen_client.TARGET.read_text()


@pytest.mark.usefixtures("no_server_errors")
def test_friends_delete_and_refusal_by_code(server: Server) -> None:
    alice, bob = uid("alice"), uid("bob")
    with Client(server.url, ADMIN_KEY) as admin:
        a_token = admin.send(ops.users_create(id=alice, display_name="Alice"))["token"]
        b_token = admin.send(ops.users_create(id=bob))["token"]
    with Client(server.url, a_token) as a, Client(server.url, b_token) as b:
        assert a.send(ops.requests_send(alice, to=bob, message="我是Alice")) == {
            "status": "pending"
        }
        assert b.send(ops.requests_accept(bob, alice))["status"] == "added"
        sent = a.send(ops.messages_send(alice, to=bob, body="hi Bob", client_msg_id="m-1"))
        assert (sent["body"], sent["client_msg_id"]) == ("hi Bob", "m-1")
        assert [c["id"] for c in b.send(ops.contacts_list(bob))["contacts"]] == [alice]
        a.send(ops.contacts_delete(alice, bob))
        with pytest.raises(ApiError) as refused:
            b.send(ops.messages_send(bob, to=alice, body="?"))
        assert (refused.value.status, refused.value.code) == (409, "recipient_removed_you")
        assert "对方开启了朋友验证" in refused.value.message
        assert a.send(ops.log_key()).startswith("hushan.local/log+")  # a text reply


@pytest.mark.usefixtures("no_server_errors")
def test_a_list_walked_page_by_page(server: Server) -> None:
    owner = uid("owner")
    friends = sorted(uid("friend") for _ in range(5))
    with Client(server.url, ADMIN_KEY) as admin:
        token = admin.send(ops.users_create(id=owner, verification_required=False))["token"]
        for friend in friends:
            made = Client(server.url, admin.send(ops.users_create(id=friend))["token"])
            with made:
                made.send(ops.requests_send(friend, to=owner))
    with Client(server.url, token) as me:
        for friend in friends:
            me.send(ops.requests_send(owner, to=friend))
        pages = list(me.pages(lambda cursor: ops.contacts_list(owner, limit=2, cursor=cursor)))

        async def walk() -> list[str]:
            async with AsyncClient(server.url, token) as client:
                return [
                    contact["id"]
                    async for page in client.pages(
                        lambda cursor: ops.contacts_list(owner, limit=3, cursor=cursor)
                    )
                    for contact in page["contacts"]
                ]

        walked = asyncio.run(walk())
    assert [len(page["contacts"]) for page in pages] == [2, 2, 1]
    assert [c["id"] for page in pages for c in page["contacts"]] == friends == walked


@pytest.mark.usefixtures("no_server_errors")
def test_the_async_client_and_acting_for_a_user(server: Server) -> None:
    alice, bob = uid("alice"), uid("bob")

    async def scenario() -> None:
        async with AsyncClient(server.url, ADMIN_KEY) as admin:
            await admin.send(ops.users_create(id=alice))
            await admin.send(ops.users_create(id=bob))
            created = await admin.send(
                ops.admin_credentials_create(name=uid("backend"), scopes=["users:act"])
            )
        async with AsyncClient(server.url, created["secret"], act_as=alice) as backend:
            await backend.send(ops.requests_send(alice, to=bob))
            # One call acts for another user than the client's.
            await backend.send(ops.requests_accept(bob, alice), act_as=bob)
            relation = await backend.send(ops.relations_get(alice, bob))
        assert relation["in_your_contacts"] and not relation["you_block_them"]

    asyncio.run(scenario())


def test_a_busy_write_is_retried_after_retry_after_with_the_same_key(tmp_path: Path) -> None:
    """The server answers `503 busy` while another process holds SQLite's write lock; the
    client waits what `Retry-After` says and sends the write again under the same key, and
    the message is stored once."""
    server = Server(tmp_path, HUSHAN_BUSY_TIMEOUT_SECONDS="0.2").start()
    try:
        alice, bob = uid("alice"), uid("bob")
        with Client(server.url, ADMIN_KEY) as admin:
            token = admin.send(ops.users_create(id=alice))["token"]
            admin.send(ops.users_create(id=bob))
        keys: list[str | None] = []
        waits: list[float] = []
        lock = sqlite3.connect(server.db, isolation_level=None)
        http = httpx.Client(
            base_url=server.url,
            event_hooks={"request": [lambda r: keys.append(r.headers.get("idempotency-key"))]},
        )

        def sleep(seconds: float) -> None:  # the wait is recorded, and the lock let go
            waits.append(seconds)
            lock.execute("ROLLBACK")

        with Client(server.url, token, sleep=sleep, http=http) as a:
            a.send(ops.requests_send(alice, to=bob))
            lock.execute("BEGIN IMMEDIATE")
            a.send(ops.users_update_settings(alice, notice_grade="notify"))
        assert len(waits) == 1 and waits[0] >= 1
        assert len(keys) == 3 and keys[1] == keys[2] and keys[1] != keys[0]
        lock.close()
    finally:
        server.stop()


def never(seconds: float) -> None:
    raise AssertionError(f"waited {seconds} s")


def test_a_wait_longer_than_the_policy_allows_is_the_caller_s(tmp_path: Path) -> None:
    server = Server(tmp_path, HUSHAN_BUSY_TIMEOUT_SECONDS="0.2").start()
    try:
        alice = uid("alice")
        lock = sqlite3.connect(server.db, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        impatient = RetryPolicy(max_wait=0.5)
        with (
            Client(server.url, ADMIN_KEY, retry=impatient, sleep=never) as admin,
            pytest.raises(ApiError) as busy,
        ):
            admin.send(ops.users_create(id=alice))
        assert (busy.value.status, busy.value.code) == (503, "busy")
        assert busy.value.retry_after is not None and busy.value.retry_after >= 1
        lock.execute("ROLLBACK")
        lock.close()
    finally:
        server.stop()


# ---- the retry rules alone (no I/O: replies built here) -------------------------------------
def reply(status: int, code: str = "", **headers: str) -> httpx.Response:
    body = {"error": {"code": code, "message": code}} if status >= 400 else {"status": "ok"}
    return httpx.Response(status, json=body, headers=headers)


def test_which_replies_are_tried_again() -> None:
    write = ops.contacts_delete("alice", "bob")
    policy = RetryPolicy(attempts=3, backoff=0.5)
    attempts = Attempts(write, policy, {})
    assert attempts.after_reply(reply(429, "rate_limited", **{"Retry-After": "2"})) == 2
    assert attempts.after_reply(reply(409, "idempotency_key_in_flight")) == 1.0  # backoff, x2
    with pytest.raises(ApiError):  # the third try was the last
        attempts.after_reply(reply(503, "busy", **{"Retry-After": "1"}))
    for status, code in ((409, "recipient_removed_you"), (422, "invalid_request"), (500, "x")):
        with pytest.raises(ApiError) as final:
            Attempts(write, policy, {}).after_reply(reply(status, code))
        assert final.value.code == code
    assert Attempts(write, policy, {}).after_reply(reply(200)) is None


def test_a_lost_connection_is_tried_again_only_where_that_is_safe() -> None:
    lost = httpx.ConnectError("gone")
    assert Attempts(ops.contacts_list("alice"), RetryPolicy(), {}).after_lost(lost) == 0.25
    keyed = Attempts(ops.contacts_delete("alice", "bob"), RetryPolicy(), {})
    assert keyed.after_lost(lost) == 0.25 and keyed.after_lost(lost) == 0.5
    assert keyed.request()["headers"]["Idempotency-Key"] == keyed.headers["Idempotency-Key"]
    with pytest.raises(httpx.ConnectError):
        keyed.after_lost(lost)
        keyed.after_lost(lost)
    given = Attempts(ops.contacts_delete("alice", "bob"), RetryPolicy(), {}, "my-key")
    assert given.headers["Idempotency-Key"] == "my-key"


def test_retry_after_as_seconds_or_as_a_date() -> None:
    date = "Mon, 30 Nov 2026 12:00:00 GMT"
    assert retry_after(reply(503, **{"Retry-After": "7"})) == 7
    assert (
        retry_after(reply(503, **{"Retry-After": "Mon, 30 Nov 2026 12:00:30 GMT", "Date": date}))
        == 30
    )
    assert retry_after(reply(503, **{"Retry-After": "soon"})) is None
    assert retry_after(reply(503)) is None
