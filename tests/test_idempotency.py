"""Idempotency keys (IETF httpapi draft) and client message ids, over a real server on both
backends: a replay is the first reply, marked; a key reused with another request is refused;
a key in flight is refused or waits; keys expire; a client_msg_id is sent once."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx

from tests.api_client import Api, User, expect_error


def key() -> str:
    return str(uuid.uuid4())


def send(
    api: Api, a: User, to: str, body: str, idem: str | None = None, **extra: Any
) -> httpx.Response:
    headers = {} if idem is None else {"Idempotency-Key": idem}
    return api.call(
        "POST",
        f"/v1/users/{a.id}/messages",
        a,
        json={"to": to, "body": body, **extra},
        headers=headers,
    )


def pair(api: Api) -> tuple[User, User]:
    a, b = api.users("ia", "ib")
    api.befriend(a, b)
    return a, b


def test_replay_is_the_first_reply_marked(api: Api) -> None:
    a, b = pair(api)
    k = key()
    first = send(api, a, b.id, "once", k)
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    again = send(api, a, b.id, "once", k)
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == first.headers["content-type"]
    assert api.bodies(b, a.id) == ["once"]
    # The draft's quoted form names the same key.
    quoted = send(api, a, b.id, "once", f'"{k}"')
    assert quoted.content == first.content


def test_key_with_another_request_is_refused(api: Api) -> None:
    a, b = pair(api)
    k = key()
    assert send(api, a, b.id, "one", k).status_code == 201
    expect_error(send(api, a, b.id, "two", k), 422, "idempotency_key_reused")
    other_path = api.call(
        "DELETE", f"/v1/users/{a.id}/contacts/{b.id}", a, headers={"Idempotency-Key": k}
    )
    expect_error(other_path, 422, "idempotency_key_reused")
    assert api.bodies(b, a.id) == ["one"]
    assert b.id in api.contacts(a)


def test_keys_are_each_callers_own(api: Api) -> None:
    a, b = pair(api)
    k = key()
    assert send(api, a, b.id, "from a", k).status_code == 201
    assert send(api, b, a.id, "from b", k).status_code == 201
    assert api.bodies(a, b.id) == ["from a", "from b"]


def test_bad_keys_are_refused_and_change_nothing(api: Api) -> None:
    a, b = pair(api)
    for bad in ["x" * 256, "a b", "", "a\tb", '"' + "y" * 256 + '"']:
        response = api.call(
            "POST",
            f"/v1/users/{a.id}/messages",
            a,
            json={"to": b.id, "body": "no"},
            headers={"Idempotency-Key": bad},
        )
        expect_error(response, 422, "invalid_idempotency_key")
    assert api.bodies(b, a.id) == []


def test_refusals_are_replayed(api: Api) -> None:
    a, b = pair(api)
    api.delete(b, a.id)
    k = key()
    expect_error(send(api, a, b.id, "?", k), 409, "recipient_removed_you")
    api.send_request(b, a.id)  # friends again: a new send would go through
    again = send(api, a, b.id, "?", k)
    expect_error(again, 409, "recipient_removed_you")
    assert again.headers["idempotent-replayed"] == "true"
    assert send(api, a, b.id, "?", key()).status_code == 201


def test_every_non_get_takes_a_key(api: Api) -> None:
    a, b = pair(api)
    k = key()
    first = api.call("PUT", f"/v1/users/{a.id}/blocks/{b.id}", a, headers={"Idempotency-Key": k})
    again = api.call("PUT", f"/v1/users/{a.id}/blocks/{b.id}", a, headers={"Idempotency-Key": k})
    assert first.json() == again.json() == {"status": "blocked"}
    assert again.headers["idempotent-replayed"] == "true"
    # Admin calls are keyed too, the admin being the caller.
    created = api.call(
        "POST",
        "/v1/users",
        admin=True,
        json={"id": f"ic-{uuid.uuid4().hex[:8]}"},
        headers={"Idempotency-Key": k},
    )
    replayed = api.call(
        "POST",
        "/v1/users",
        admin=True,
        json=json_of(created.request),
        headers={"Idempotency-Key": k},
    )
    assert created.status_code == replayed.status_code == 201
    assert replayed.json()["token"] == created.json()["token"]


def json_of(request: httpx.Request) -> Any:
    import json

    return json.loads(request.content)


def test_concurrent_same_key_stores_once(api: Api) -> None:
    a, b = pair(api)
    k = key()
    replies: list[httpx.Response] = []
    barrier = threading.Barrier(8)

    def one() -> None:
        with Api(api.url) as own:
            barrier.wait()
            replies.append(send(own, a, b.id, "race", k))

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in replies)
    assert set(statuses) <= {201, 409}, [r.text for r in replies]
    for r in replies:
        if r.status_code == 409:
            expect_error(r, 409, "idempotency_key_in_flight")
    bodies = {r.content for r in replies if r.status_code == 201}
    assert len(bodies) == 1
    assert api.bodies(b, a.id) == ["race"]
    assert send(api, a, b.id, "race", k).headers["idempotent-replayed"] == "true"


def test_keys_expire_after_a_day_and_the_sweep_prunes_them(api: Api) -> None:
    a, b = pair(api)
    k = key()
    assert send(api, a, b.id, "day one", k).status_code == 201
    api.advance(86400 - 60)
    assert send(api, a, b.id, "day one", k).headers["idempotent-replayed"] == "true"
    api.advance(120)
    fresh = send(api, a, b.id, "day one", k)
    assert fresh.status_code == 201
    assert "idempotent-replayed" not in fresh.headers
    assert api.bodies(b, a.id) == ["day one", "day one"]
    api.advance(86400 + 60)
    assert api.sweep()["idempotency_keys_pruned"] >= 2


def test_client_msg_id_sends_once_per_sender(api: Api) -> None:
    a, b = pair(api)
    first = send(api, a, b.id, "hello", client_msg_id="c-1")
    assert first.status_code == 201
    assert first.json()["client_msg_id"] == "c-1"
    again = send(api, a, b.id, "hello again", client_msg_id="c-1")
    assert again.status_code == 200
    assert again.json() == first.json()
    assert send(api, b, a.id, "mine", client_msg_id="c-1").status_code == 201  # b's own
    history = api.history(a, b.id)["messages"]
    assert [(m["body"], m["client_msg_id"]) for m in history] == [
        ("hello", "c-1"),
        ("mine", "c-1"),
    ]
    assert send(api, a, b.id, "no id").json()["client_msg_id"] is None
    bad = send(api, a, b.id, "x", client_msg_id="has space")
    expect_error(bad, 422, "invalid_request")


def test_repeated_keyed_sends_store_each_message_once(api: Api) -> None:
    """The bar, at a smaller count: N sends, each repeated with its key, store N messages."""
    a, b = pair(api)
    keys = [key() for _ in range(100)]
    for round_ in range(2):
        for n, k in enumerate(keys):
            response = send(api, a, b.id, f"m{n}", k)
            assert response.status_code == 201
            assert ("idempotent-replayed" in response.headers) == (round_ == 1)
    assert api.bodies(b, a.id) == [f"m{n}" for n in range(100)]


def test_a_keyed_block_and_delete_is_answered_and_replayed(api: Api) -> None:
    """Its history is erased at once, and the flush of the freed pages waits for the commit
    of the write and its key (on SQLite it used to wait inside it, until `503 busy`)."""
    a, b = pair(api)
    send(api, a, b.id, "to be erased")
    k = key()
    path = f"/v1/users/{a.id}/contacts/{b.id}/block-and-delete"
    first = api.call("POST", path, a, headers={"Idempotency-Key": k})
    assert first.status_code == 200, first.text
    assert first.json()["history_purged"] is True
    again = api.call("POST", path, a, headers={"Idempotency-Key": k})
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"


def test_a_retried_write_made_on_the_loop_is_rolled_back_and_replayed(api: Api) -> None:
    """A route whose reply is made on the event loop (a token's minting): the retry's write
    runs, meets the key's row as its own is written, is rolled back, and gets the first
    reply; with another body, `idempotency_key_reused`, and nothing more is minted."""
    (a,) = api.users("it")
    k = key()
    path = f"/v1/users/{a.id}/tokens"
    first = api.call(
        "POST", path, admin=True, json={"ttl_seconds": 600}, headers={"Idempotency-Key": k}
    )
    again = api.call(
        "POST", path, admin=True, json={"ttl_seconds": 600}, headers={"Idempotency-Key": k}
    )
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    other = api.call(
        "POST", path, admin=True, json={"ttl_seconds": 60}, headers={"Idempotency-Key": k}
    )
    expect_error(other, 422, "idempotency_key_reused")
    listed = [t["id"] for t in api.call("GET", path, a).json()["tokens"]]
    assert len(listed) == 2 and first.json()["id"] in listed  # the user's own, and this one
