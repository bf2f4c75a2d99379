"""The HTTP API against a real `hushan serve` process: the README's walkthrough, every documented
error code, and the promise that a refused call changes nothing."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.api_client import ADMIN_HEADERS, Api, User, bearer, expect_error, uid
from tests.server import Server, children

DAY = 86400


pytestmark = pytest.mark.usefixtures("no_server_errors")


def snapshot(api: Api, users: list[User]) -> dict[str, Any]:
    """Everything the users can see, every pair's server-side status, and every audit entry
    that names one of them: if a call changed anything, this changes."""
    ids = [u.id for u in users]
    seen: dict[str, Any] = {
        "audit": api.audit(users=ids),
        "relations": api.relations([(a, b) for a in ids for b in ids if a < b]),
    }
    for u in users:
        seen[u.id] = {
            "contacts": api.ok("GET", f"/v1/users/{u.id}/contacts", u),
            "blocks": api.blocks(u),
            "incoming": api.requests(u, "incoming"),
            "outgoing": api.requests(u, "outgoing"),
            "chats": api.ok("GET", f"/v1/users/{u.id}/conversations", u),
            "histories": {o: api.history(u, o) for o in ids if o != u.id},
            "profile": api.ok("GET", f"/v1/users/{u.id}", u),
        }
    return seen


def friends_with_history(api: Api, *bodies: str) -> tuple[User, User]:
    a, b = api.create_user(uid("a")), api.create_user(uid("b"))
    api.befriend(a, b)
    for i, body in enumerate(bodies):
        sender, to = (a, b.id) if i % 2 == 0 else (b, a.id)
        api.message(sender, to, body)
    return a, b


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ---- the walkthrough ----------------------------------------------------------------------


def test_one_way_delete(api: Api) -> None:
    a, b = friends_with_history(api, "hi Bob", "hi Alice")
    assert api.delete(a, b.id) == "deleted"

    assert api.relation(a.id, b.id) == "b_has_a"
    assert api.contacts(a) == [] and api.contacts(b) == [a.id]
    for reader, other in ((a, b), (b, a)):
        history = api.history(reader, other.id)
        assert history["state"] == "active" and history["read_only"] is False
        assert history["purge_at"] is None
        assert [m["body"] for m in history["messages"]] == ["hi Bob", "hi Alice"]
    assert api.chats(b) == [a.id]

    expect_error(api.send(b, a.id, "?"), 409, "recipient_removed_you")
    assert api.bodies(b, a.id) == ["hi Bob", "hi Alice"]

    # A re-adds B: B still has A, so it succeeds at once, with no verification.
    assert api.send_request(a, b.id) == "added"
    assert api.requests(b, "incoming") == []
    assert api.relation(a.id, b.id) == "both_way"
    api.message(b, a.id, "back")
    assert api.bodies(a, b.id) == ["hi Bob", "hi Alice", "back"]


def test_mutual_delete_then_restore_inside_the_buffer(api: Api) -> None:
    a, b = friends_with_history(api, "one", "two", "three")
    assert api.delete(a, b.id) == "deleted"
    assert api.delete(b, a.id) == "deleted"

    assert api.relation(a.id, b.id) == "none"
    buffered_at = next(
        e["at"]
        for e in reversed(api.audit(users=[a.id]))
        if e["action"] == "history_buffered" and {e["a"], e["b"]} == {a.id, b.id}
    )
    for reader, other in ((a, b), (b, a)):
        history = api.history(reader, other.id)
        assert history["state"] == "buffered" and history["read_only"] is True
        assert at(history["purge_at"]) - at(buffered_at) == timedelta(days=30)
        assert [m["body"] for m in history["messages"]] == ["one", "two", "three"]
        assert other.id not in api.chats(reader)
    expect_error(api.send(a, b.id, "still there?"), 409, "not_in_your_contacts")

    api.advance(10 * DAY)
    assert api.send_request(a, b.id, "me again") == "pending"
    assert api.accept(b, a.id) == "added"

    for reader, other in ((a, b), (b, a)):
        history = api.history(reader, other.id)
        assert history["state"] == "active" and history["read_only"] is False
        assert history["purge_at"] is None
        assert [m["body"] for m in history["messages"]] == ["one", "two", "three"]
        assert api.chats(reader) == [other.id]
    status = api.pair(a.id, b.id)
    assert status["relation"] == "both_way" and status["history_state"] == "active"
    assert status["conversation"]["key_present"] is True
    api.message(b, a.id, "four")
    assert api.bodies(a, b.id) == ["one", "two", "three", "four"]


def test_mutual_delete_then_purge_after_the_buffer(api: Api) -> None:
    a, b = friends_with_history(api, "one", "two", "three")
    api.delete(b, a.id)
    api.delete(a, b.id)
    assert api.history(a, b.id)["state"] == "buffered"

    api.advance(31 * DAY)
    api.sweep()

    for reader, other in ((a, b), (b, a)):
        assert api.history(reader, other.id) == {
            "state": "purged",
            "read_only": True,
            "purge_at": None,
            "messages": [],
        }
        assert other.id not in api.chats(reader)
    status = api.pair(a.id, b.id)
    assert status["history_state"] == "purged" and status["relation"] == "none"
    conversation = status["conversation"]
    assert conversation["state"] == "purged" and conversation["key_present"] is False
    assert conversation["key_destroyed_at"] is not None
    assert conversation["rows_purged_at"] is not None
    actions = [e["action"] for e in api.audit(users=[a.id])]
    assert actions.count("key_destroyed") == 1 and actions.count("rows_purged") == 1

    # Irreversible: friends again start an empty history.
    api.befriend(a, b)
    history = api.history(b, a.id)
    assert history["state"] == "active" and history["messages"] == []


def test_block_then_delete(api: Api) -> None:
    a, b = friends_with_history(api, "one", "two")
    assert api.block_and_delete(a, b.id) == {
        "status": "blocked_and_deleted",
        "newly_blocked": True,
        "removed_from_contacts": True,
        "history_purged": True,
    }

    for reader, other in ((a, b), (b, a)):
        history = api.history(reader, other.id)
        assert history["state"] == "purged" and history["messages"] == []
    status = api.pair(a.id, b.id)
    assert status["relation"] == "b_has_a" and status["a_blocks_b"] is True
    assert status["block_deleted"] is True and status["history_state"] == "purged"
    assert status["conversation"]["key_present"] is False
    assert status["conversation"]["rows_purged_at"] is not None

    refused = api.send(b, a.id, "hello?")
    expect_error(refused, 409, "blocked_by_recipient")
    assert "消息已发出，但被对方拒收了" in refused.json()["error"]["message"]
    assert api.history(b, a.id)["messages"] == []

    # B's request is swallowed. B still has A, so B hears what any request to a contact
    # hears (already_friends), and A never sees it.
    assert api.send_request(b, a.id) == "already_friends"
    assert api.requests(b, "outgoing") == []
    assert api.requests(a, "incoming") == []

    # Friends again after the block: nothing comes back.
    assert api.unblock(a, b.id) == "unblocked"
    assert api.send_request(a, b.id) == "added"
    history = api.history(a, b.id)
    assert history["state"] == "active" and history["messages"] == []


def test_delete_while_blocking_is_block_then_delete(api: Api) -> None:
    a, b = friends_with_history(api, "one")
    assert api.block(a, b.id) == "blocked"
    assert api.history(b, a.id)["state"] == "active"
    assert api.delete(a, b.id) == "deleted"
    for reader, other in ((a, b), (b, a)):
        assert api.history(reader, other.id)["state"] == "purged"
    assert api.pair(a.id, b.id)["conversation"]["key_present"] is False


# ---- bad input: a clear 4xx with its code, and nothing changed ------------------------------


def test_unknown_user(api: Api) -> None:
    a, b = friends_with_history(api, "one")
    ghost = uid("ghost")
    before = snapshot(api, [a, b])
    calls: list[tuple[str, str, Any]] = [
        ("POST", f"/v1/users/{a.id}/requests", {"to": ghost}),
        ("POST", f"/v1/users/{a.id}/messages", {"to": ghost, "body": "hi"}),
        ("DELETE", f"/v1/users/{a.id}/contacts/{ghost}", None),
        ("POST", f"/v1/users/{a.id}/contacts/{ghost}/block-and-delete", None),
        ("PUT", f"/v1/users/{a.id}/blocks/{ghost}", None),
        ("POST", f"/v1/users/{a.id}/requests/{ghost}/accept", None),
        ("GET", f"/v1/users/{ghost}", None),
        ("GET", f"/v1/users/{a.id}/conversations/{ghost}/messages", None),
    ]
    for method, path, body in calls:
        expect_error(api.call(method, path, a, json=body), 404, "user_not_found")
    expect_error(
        api.call("GET", f"/v1/admin/pairs/{a.id}/{ghost}", admin=True), 404, "user_not_found"
    )
    expect_error(api.call("POST", f"/v1/users/{ghost}/tokens", admin=True), 404, "user_not_found")
    assert snapshot(api, [a, b]) == before


def test_cannot_befriend_yourself(api: Api) -> None:
    a, b = friends_with_history(api, "one")
    before = snapshot(api, [a, b])
    for method, path, body in [
        ("POST", f"/v1/users/{a.id}/requests", {"to": a.id}),
        ("DELETE", f"/v1/users/{a.id}/contacts/{a.id}", None),
        ("POST", f"/v1/users/{a.id}/contacts/{a.id}/block-and-delete", None),
        ("PUT", f"/v1/users/{a.id}/blocks/{a.id}", None),
        ("DELETE", f"/v1/users/{a.id}/blocks/{a.id}", None),
    ]:
        expect_error(api.call(method, path, a, json=body), 422, "cannot_befriend_self")
    assert snapshot(api, [a, b]) == before


def test_duplicate_requests_are_idempotent(api: Api) -> None:
    a, b = api.create_user(uid("a")), api.create_user(uid("b"))
    assert api.send_request(a, b.id, "first") == "pending"
    assert api.send_request(a, b.id, "second") == "pending"
    outgoing = api.requests(a, "outgoing")
    incoming = api.requests(b, "incoming")
    assert len(outgoing) == 1 and outgoing == incoming
    assert (outgoing[0]["from"], outgoing[0]["to"], outgoing[0]["status"]) == (
        a.id,
        b.id,
        "pending",
    )
    assert outgoing[0]["message"] == "second"  # the repeat replaces the pending one
    assert api.accept(b, a.id) == "added"
    assert api.requests(a, "outgoing") == [] and api.requests(b, "incoming") == []
    assert api.contacts(a) == [b.id] and api.contacts(b) == [a.id]


def test_message_length_limits_store_nothing(api: Api) -> None:
    a, b = friends_with_history(api, "one")
    before = snapshot(api, [a, b])
    expect_error(api.send(a, b.id, "x" * 4097), 422, "message_too_long")
    expect_error(api.send(a, b.id, "长" * 4097), 422, "message_too_long")
    for blank in ("", " ", "\n\t  \r\n"):
        expect_error(api.send(a, b.id, blank), 422, "message_empty")
    expect_error(
        api.call("POST", f"/v1/users/{a.id}/requests", a, json={"to": b.id, "message": "v" * 201}),
        422,
        "verification_message_too_long",
    )
    assert snapshot(api, [a, b]) == before
    # The limit itself is allowed.
    assert api.message(a, b.id, "y" * 4096)["body"] == "y" * 4096


def test_malformed_json(api: Api) -> None:
    a, b = api.create_user(uid("a")), api.create_user(uid("b"))
    before = snapshot(api, [a, b])
    for broken in ("{not json", '{"to": "x"', "nul", "[1,]", "{}}"):
        for method, path, user, admin in [
            ("POST", f"/v1/users/{a.id}/requests", a, False),
            ("POST", f"/v1/users/{a.id}/messages", a, False),
            ("PATCH", f"/v1/users/{a.id}/settings", a, False),
            ("POST", "/v1/admin/relations/check", None, True),
        ]:
            response = api.call(method, path, user, admin=admin, content=broken)
            expect_error(response, 400, "malformed_json")
    expect_error(api.call("POST", "/v1/users", admin=True, content=b"{id:"), 400, "malformed_json")
    # No body at all is a missing body (the schema's complaint), not broken JSON.
    response = api.call("POST", f"/v1/users/{a.id}/requests", a, content=b"")
    expect_error(response, 422, "invalid_request")
    assert snapshot(api, [a, b]) == before


def test_body_that_is_not_utf8_is_malformed_json(api: Api) -> None:
    """Bytes that cannot even be decoded are not JSON either: the documented 400 and code."""
    a, b = api.create_user(uid("a")), api.create_user(uid("b"))
    before = snapshot(api, [a, b])
    for broken in (b"\xff", b'{"to": "\xff\xfe"}'):
        response = api.call("POST", f"/v1/users/{a.id}/requests", a, content=broken)
        expect_error(response, 400, "malformed_json")
    assert snapshot(api, [a, b]) == before


def test_wrong_json_shape(api: Api) -> None:
    a, b = api.create_user(uid("a")), api.create_user(uid("b"))
    before = snapshot(api, [a, b])
    shapes: list[tuple[str, str, User | None, Any]] = [
        ("POST", f"/v1/users/{a.id}/requests", a, {}),
        ("POST", f"/v1/users/{a.id}/requests", a, {"to": 5}),
        ("POST", f"/v1/users/{a.id}/requests", a, ["to", b.id]),
        ("POST", f"/v1/users/{a.id}/requests", a, {"to": b.id, "extra": 1}),
        ("POST", f"/v1/users/{a.id}/messages", a, {"body": "hi"}),
        ("POST", f"/v1/users/{a.id}/messages", a, {"to": b.id, "body": None}),
        ("POST", f"/v1/users/{a.id}/messages", a, "hi"),
        ("PATCH", f"/v1/users/{a.id}/settings", a, {"verification_required": "maybe"}),
        ("PATCH", f"/v1/users/{a.id}/settings", a, {"notice_grade": "loud"}),
        ("POST", f"/v1/users/{a.id}/notices/read", a, {"up_to": -1}),
        ("POST", "/v1/users", None, {"id": 7}),
        ("POST", "/v1/users", None, {"id": uid("c"), "verification_required": "sometimes"}),
        ("POST", "/v1/admin/relations/check", None, {"pairs": "all"}),
        ("POST", "/v1/admin/relations/check", None, {"pairs": [{"a": a.id}]}),
        ("POST", "/v1/admin/clock/advance", None, {"seconds": -5}),
    ]
    for method, path, user, body in shapes:
        response = api.call(method, path, user, admin=user is None, json=body)
        expect_error(response, 422, "invalid_request")
    queries: list[tuple[str, dict[str, Any]]] = [
        (f"/v1/users/{a.id}/requests", {"direction": "sideways"}),
        (f"/v1/users/{a.id}/conversations/{b.id}/messages", {"limit": 0}),
        (f"/v1/users/{a.id}/conversations/{b.id}/messages", {"limit": "first"}),
        (f"/v1/users/{a.id}/conversations/{b.id}/messages", {"limit": 1001}),
    ]
    for path, params in queries:
        expect_error(api.call("GET", path, a, params=params), 422, "invalid_request")
    assert snapshot(api, [a, b]) == before


def test_missing_or_wrong_token(api: Api) -> None:
    a, b = friends_with_history(api, "one")
    before = snapshot(api, [a, b])
    for headers in [
        {},
        bearer("not-a-token"),
        {"Authorization": f"Basic {a.token}"},
        {"Authorization": "Bearer"},
    ]:
        for method, path, body in [
            ("GET", f"/v1/users/{a.id}/contacts", None),
            ("GET", f"/v1/users/{b.id}", None),
            ("DELETE", f"/v1/users/{a.id}/contacts/{b.id}", None),
            ("POST", f"/v1/users/{a.id}/messages", {"to": b.id, "body": "hi"}),
        ]:
            response = api.http.request(method, path, headers=headers, json=body)
            expect_error(response, 401, "unauthenticated")
    assert snapshot(api, [a, b]) == before


def test_acting_as_another_user(api: Api) -> None:
    a, b = friends_with_history(api, "one")
    c = api.create_user(uid("c"))
    api.send_request(c, b.id)
    before = snapshot(api, [a, b, c])
    # A's token on B's paths.
    for method, path, body in [
        ("GET", f"/v1/users/{b.id}/contacts", None),
        ("GET", f"/v1/users/{b.id}/blocks", None),
        ("GET", f"/v1/users/{b.id}/requests", None),
        ("GET", f"/v1/users/{b.id}/conversations", None),
        ("GET", f"/v1/users/{b.id}/conversations/{a.id}/messages", None),
        ("POST", f"/v1/users/{b.id}/messages", {"to": a.id, "body": "forged"}),
        ("POST", f"/v1/users/{b.id}/requests", {"to": c.id}),
        ("POST", f"/v1/users/{b.id}/requests/{c.id}/accept", None),
        ("POST", f"/v1/users/{b.id}/requests/{c.id}/reject", None),
        ("DELETE", f"/v1/users/{b.id}/contacts/{a.id}", None),
        ("POST", f"/v1/users/{b.id}/contacts/{a.id}/block-and-delete", None),
        ("PUT", f"/v1/users/{b.id}/blocks/{a.id}", None),
        ("DELETE", f"/v1/users/{b.id}/blocks/{a.id}", None),
        ("PATCH", f"/v1/users/{b.id}/settings", {"verification_required": False}),
        ("GET", f"/v1/users/{b.id}/relations/{a.id}", None),
        ("GET", f"/v1/users/{b.id}/notices", None),
        ("POST", f"/v1/users/{b.id}/notices/read", {"up_to": 10}),
    ]:
        expect_error(api.call(method, path, a, json=body), 403, "acting_as_other_user")
    assert snapshot(api, [a, b, c]) == before


def test_admin_endpoints_need_the_admin_key(api: Api) -> None:
    a, b = friends_with_history(api, "one")
    new_id = uid("n")
    before = snapshot(api, [a, b])
    calls: list[tuple[str, str, Any]] = [
        ("POST", "/v1/users", {"id": new_id}),
        ("POST", f"/v1/users/{a.id}/tokens", None),
        ("POST", "/v1/admin/relations/check", {"pairs": [{"a": a.id, "b": b.id}]}),
        ("GET", f"/v1/admin/pairs/{a.id}/{b.id}", None),
        ("POST", "/v1/admin/sweep", None),
        ("GET", "/v1/admin/audit", None),
        ("POST", "/v1/admin/clock/advance", {"seconds": 1}),
    ]
    for method, path, body in calls:
        expect_error(api.call(method, path, a, json=body), 403, "admin_required")
        wrong_key = api.http.request(method, path, headers=bearer("wrong-admin-key"), json=body)
        expect_error(wrong_key, 403, "admin_required")
        expect_error(api.http.request(method, path, json=body), 401, "unauthenticated")
    expect_error(api.call("GET", f"/v1/users/{new_id}", a), 404, "user_not_found")
    assert snapshot(api, [a, b]) == before


def test_relation_check_limit(api: Api) -> None:
    a, b = api.create_user(uid("a")), api.create_user(uid("b"))
    pairs = [{"a": a.id, "b": b.id}] * 1001
    response = api.call("POST", "/v1/admin/relations/check", admin=True, json={"pairs": pairs})
    expect_error(response, 422, "too_many_pairs")
    results = api.relations([(a.id, b.id)] * 1000)
    assert len(results) == 1000 and {r["relation"] for r in results} == {"none"}


def test_unknown_route_and_wrong_method(api: Api) -> None:
    a = api.create_user(uid("a"))
    for path in ("/v1/nothing", "/v2/users", f"/v1/users/{a.id}/friends", "/"):
        expect_error(api.call("GET", path, a), 404, "route_not_found")
    for method, path in [
        ("GET", "/v1/users"),
        ("DELETE", "/v1/admin/sweep"),
        ("POST", f"/v1/users/{a.id}/contacts"),
        ("PUT", f"/v1/users/{a.id}/messages"),
        ("GET", f"/v1/users/{a.id}/requests/x/accept"),
    ]:
        expect_error(api.call(method, path, a), 405, "method_not_allowed")


def test_user_ids_and_duplicate_users(api: Api) -> None:
    first = api.create_user(uid("dup"), display_name="First")
    response = api.call(
        "POST", "/v1/users", admin=True, json={"id": first.id, "display_name": "Second"}
    )
    expect_error(response, 409, "user_exists")
    assert api.ok("GET", f"/v1/users/{first.id}", first) == {
        "id": first.id,
        "display_name": "First",
    }
    assert api.contacts(first) == []  # the first token still works

    for bad in ("", "has space", "emoji-😀", "semi;colon", "x" * 65, "slash/y", "中文"):
        response = api.call("POST", "/v1/users", admin=True, json={"id": bad})
        expect_error(response, 422, "invalid_user_id")
    longest = ("L" * 64 + uid("_.-"))[-64:]
    assert api.create_user(longest).id == longest


def test_accepting_a_request_that_does_not_exist(api: Api) -> None:
    a, b = api.create_user(uid("a")), api.create_user(uid("b"))
    before = snapshot(api, [a, b])
    expect_error(
        api.call("POST", f"/v1/users/{b.id}/requests/{a.id}/accept", b), 404, "request_not_found"
    )
    assert snapshot(api, [a, b]) == before
    # A request once rejected cannot be accepted afterwards either.
    api.send_request(a, b.id)
    assert api.reject(b, a.id) == "rejected"
    expect_error(
        api.call("POST", f"/v1/users/{b.id}/requests/{a.id}/accept", b), 404, "request_not_found"
    )
    assert api.contacts(a) == [] and api.contacts(b) == []


def test_repeated_calls_answer_their_no_op_statuses(api: Api) -> None:
    a, b = friends_with_history(api, "one")
    c = api.create_user(uid("c"))

    assert api.accept(b, a.id) == "already_friends"
    assert api.send_request(a, b.id) == "already_friends"
    assert api.delete(a, b.id) == "deleted"
    seq = api.audit_seq()
    assert api.delete(a, b.id) == "not_in_contacts"
    assert api.audit(after=seq, users=[a.id, b.id]) == []

    assert api.block(a, c.id) == "blocked"
    seq = api.audit_seq()
    assert api.block(a, c.id) == "already_blocked"
    assert api.audit(after=seq, users=[a.id, c.id]) == []
    assert api.blocks(a) == [c.id]
    assert api.unblock(a, c.id) == "unblocked"
    seq = api.audit_seq()
    assert api.unblock(a, c.id) == "not_blocked"
    assert api.audit(after=seq, users=[a.id, c.id]) == []
    assert api.blocks(a) == []

    api.send_request(c, a.id)
    assert api.reject(a, c.id) == "rejected"
    seq = api.audit_seq()
    assert api.reject(a, c.id) == "not_pending"
    assert api.reject(a, b.id) == "not_pending"  # no request from B ever
    assert api.audit(after=seq, users=[a.id, b.id, c.id]) == []
    assert api.requests(a, "incoming") == [] and api.contacts(a) == []


def test_friend_limit_and_disabled_test_clock(tmp_path: Path) -> None:
    """The two codes that need another deployment: a friend limit of 2, no test clock."""
    server = Server(tmp_path, HUSHAN_TEST_CLOCK="0", HUSHAN_MAX_FRIENDS="2").start()
    try:
        with Api(server.url) as api:
            a, b, c, d = api.users("a", "b", "c", "d")
            api.befriend(a, b)
            api.befriend(a, c)
            assert api.send_request(a, d.id) == "pending"
            before = snapshot(api, [a, b, c, d])
            accept = api.call("POST", f"/v1/users/{d.id}/requests/{a.id}/accept", d)
            expect_error(accept, 409, "friend_limit_reached")
            assert snapshot(api, [a, b, c, d]) == before  # the request is still pending
            expect_error(
                api.call("POST", "/v1/admin/clock/advance", admin=True, json={"seconds": 60}),
                404,
                "test_clock_disabled",
            )
        assert "Traceback" not in server.log()
    finally:
        server.stop()


# ---- message refusals, through HTTP -------------------------------------------------------


def test_message_refusal_codes(api: Api) -> None:
    # recipient_removed_you: the recipient removed the sender one-way.
    a, b = friends_with_history(api, "one")
    api.delete(a, b.id)
    refusals: list[tuple[User, User, str]] = [(b, a, "recipient_removed_you")]
    # not_in_your_contacts: the sender removed the recipient.
    a, b = friends_with_history(api, "one")
    api.delete(a, b.id)
    refusals.append((a, b, "not_in_your_contacts"))
    # blocked_by_recipient: the recipient blocks the sender, still friends both ways.
    a, b = friends_with_history(api, "one")
    api.block(a, b.id)
    refusals.append((b, a, "blocked_by_recipient"))
    # you_blocked_user: the sender blocks the recipient.
    refusals.append((a, b, "you_blocked_user"))
    # A block wins over a removal: the blocked sender learns only that it was refused.
    a, b = friends_with_history(api, "one")
    api.delete(a, b.id)
    api.block(a, b.id)
    assert api.history(b, a.id)["state"] == "active"  # blocking after a plain delete erases nothing
    refusals.append((b, a, "blocked_by_recipient"))

    for sender, recipient, code in refusals:
        before = snapshot(api, [sender, recipient])
        expect_error(api.send(sender, recipient.id, "refused?"), 409, code)
        assert snapshot(api, [sender, recipient]) == before, code
        assert "refused?" not in api.bodies(sender, recipient.id)


def test_openapi_document(api: Api) -> None:
    response = api.http.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in [
        "/v1/users",
        "/v1/users/{user_id}",
        "/v1/users/{user_id}/requests",
        "/v1/users/{user_id}/requests/{requester}/accept",
        "/v1/users/{user_id}/requests/{requester}/reject",
        "/v1/users/{user_id}/contacts",
        "/v1/users/{user_id}/contacts/{other}",
        "/v1/users/{user_id}/contacts/{other}/block-and-delete",
        "/v1/users/{user_id}/blocks",
        "/v1/users/{user_id}/blocks/{other}",
        "/v1/users/{user_id}/messages",
        "/v1/users/{user_id}/conversations",
        "/v1/users/{user_id}/conversations/{other}/messages",
        "/v1/admin/relations/check",
        "/v1/admin/pairs/{a}/{b}",
        "/v1/admin/sweep",
        "/v1/admin/audit",
        "/v1/users/{user_id}/certificates",
        "/v1/log/key",
        "/v1/log/checkpoint",
        "/v1/admin/log/checkpoint",
        "/v1/admin/log/export",
    ]:
        assert path in paths, path
    assert set(paths["/v1/users/{user_id}/contacts/{other}"]) == {"delete"}
    assert api.http.get("/healthz", headers=ADMIN_HEADERS).json() == {"status": "ok"}


def test_certificate_over_http_verifies_offline(api: Api) -> None:
    from hushan.tlog.certificate import verify
    from hushan.tlog.note import Verifier, open_checkpoint

    a, b = friends_with_history(api, "canary-4b1d", "two")
    api.delete(b, a.id)
    api.delete(a, b.id)
    api.advance(31 * DAY)
    api.sweep()
    key = api.http.get("/v1/log/key")  # public: no token
    assert key.status_code == 200 and key.headers["content-type"].startswith("text/plain")
    verifier = Verifier.parse(key.text)
    response = api.call(
        "POST",
        f"/v1/users/{a.id}/certificates",
        a,
        json={"other": b.id, "legal_basis": "pipl_art_47"},
    )
    assert response.status_code == 200, response.text
    verdict = verify(response.content, verifier)
    assert verdict.claims["history_state"] == "purged"
    assert verdict.claims["rows_purged_at"] is not None
    checkpoint = api.http.get("/v1/log/checkpoint")
    assert open_checkpoint(checkpoint.text, verifier).size >= verdict.checkpoint.size
    published = api.call("POST", "/v1/admin/log/checkpoint", admin=True)
    assert published.status_code == 200 and open_checkpoint(published.text, verifier).size > 0
    export = api.call("GET", "/v1/admin/log/export", admin=True)
    assert export.status_code == 200 and '"leaf":0' in export.text
    assert a.id not in export.text and "canary-4b1d" not in export.text


def test_certificate_bad_input(api: Api) -> None:
    a, b = api.create_user(uid("a")), api.create_user(uid("b"))
    path = f"/v1/users/{a.id}/certificates"
    expect_error(api.call("POST", path, a, json={"other": b.id}), 404, "nothing_to_certify")
    expect_error(api.call("POST", path, a, json={"other": "nobody"}), 404, "user_not_found")
    expect_error(api.call("POST", path, a, json={"other": a.id}), 422, "cannot_certify_self")
    wrong = {"other": b.id, "legal_basis": "because"}
    expect_error(api.call("POST", path, a, json=wrong), 422, "invalid_request")
    expect_error(api.call("POST", path, b, json={"other": a.id}), 403, "acting_as_other_user")
    expect_error(api.call("POST", path, json={"other": b.id}), 401, "unauthenticated")
    expect_error(api.call("GET", "/v1/admin/log/export", a), 403, "admin_required")


def test_serve_runs_a_worker_that_checkpoints_and_dies_with_it(tmp_path: Path) -> None:
    import time

    server = Server(tmp_path, HUSHAN_SWEEP_INTERVAL_SECONDS="0.2").start()
    try:
        assert server.process is not None
        (worker,) = children(server.process.pid)
        with Api(server.url) as api:
            a, b = api.users("a", "b")
            api.befriend(a, b)
            entries = len(api.audit(users=[a.id]))
            deadline = time.monotonic() + 30
            size = 0
            while time.monotonic() < deadline and size < entries:
                reply = api.http.get("/v1/log/checkpoint")  # published by the worker alone
                size = int(reply.text.split("\n")[1]) if reply.status_code == 200 else 0
                time.sleep(0.1)
            assert size >= entries
        server.kill()
        deadline = time.monotonic() + 10
        while Path(f"/proc/{worker}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{worker}").exists(), "the worker outlived a SIGKILLed serve"
    finally:
        server.stop()


def test_graded_notices_through_http(api: Api) -> None:
    a, b = api.create_user(uid("a")), api.create_user(uid("b"))
    api.befriend(a, b)
    settings = api.ok("PATCH", f"/v1/users/{a.id}/settings", a, json={"notice_grade": "on_contact"})
    assert settings == {
        "id": a.id,
        "display_name": a.id,
        "verification_required": True,
        "notice_grade": "on_contact",
        "notice_grade_in_force": "on_contact",
        "hide_shared_groups": False,
    }
    view = f"/v1/users/{b.id}/relations/{a.id}"
    before = api.call("GET", view, b)
    assert before.json() == {
        "other": a.id,
        "in_your_contacts": True,
        "you_block_them": False,
        "removed_you_at": None,
    }
    assert api.delete(a, b.id) == "deleted"
    assert api.ok("GET", f"/v1/users/{b.id}/notices", b) == {"notices": [], "next": None}
    refused = api.send(b, a.id, "hi")
    expect_error(refused, 409, "recipient_removed_you")
    assert "removed you from their contacts" in refused.json()["error"]["message"]
    (notice,) = api.ok("GET", f"/v1/users/{b.id}/notices", b)["notices"]
    assert (notice["kind"], notice["other"], notice["read"]) == ("removed_you", a.id, False)
    assert api.ok("GET", view, b)["removed_you_at"] == notice["at"]
    read = api.ok("POST", f"/v1/users/{b.id}/notices/read", b, json={"up_to": notice["id"]})
    assert read == {"marked": 1}
    assert api.ok("GET", f"/v1/users/{b.id}/notices", b)["notices"][0]["read"] is True


def test_a_silent_removal_leaves_the_relation_view_byte_identical(api: Api) -> None:
    a, b = api.create_user(uid("a")), api.create_user(uid("b"))
    api.befriend(a, b)
    view = f"/v1/users/{b.id}/relations/{a.id}"
    before = api.call("GET", view, b)
    assert api.delete(a, b.id) == "deleted"
    after = api.call("GET", view, b)
    assert (after.status_code, after.content, dict(after.headers).get("content-length")) == (
        before.status_code,
        before.content,
        dict(before.headers).get("content-length"),
    )


def test_consensual_mutual_delete_through_http(api: Api) -> None:
    a, b = api.create_user(uid("a")), api.create_user(uid("b"))
    api.befriend(a, b)
    path = f"/v1/users/{a.id}/mutual-delete-proposals"
    made = api.call("POST", path, a, json={"to": b.id, "message": "time to part"})
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "pending" and made.json()["remove_anyway"] is False
    expect_error(api.call("POST", path, a, json={"to": b.id}), 409, "proposal_pending")
    incoming = api.ok("GET", f"/v1/users/{b.id}/mutual-delete-proposals", b)["proposals"]
    assert [(p["from"], p["message"]) for p in incoming] == [(a.id, "time to part")]
    accept = f"/v1/users/{b.id}/mutual-delete-proposals/{a.id}/accept"
    assert api.ok("POST", accept, b) == {"status": "accepted"}
    expect_error(api.call("POST", accept, b), 404, "proposal_not_found")
    assert api.relation(a.id, b.id) == "none"
    kinds = [n["kind"] for n in api.ok("GET", f"/v1/users/{a.id}/notices", a)["notices"]]
    assert kinds == ["mutual_delete_accepted"]


def test_a_proposal_needs_friends_both_way(api: Api) -> None:
    a, b = api.create_user(uid("a")), api.create_user(uid("b"))
    path = f"/v1/users/{a.id}/mutual-delete-proposals"
    expect_error(api.call("POST", path, a, json={"to": b.id}), 409, "not_in_your_contacts")
    expect_error(api.call("DELETE", f"{path}/{b.id}", a), 404, "proposal_not_found")


def test_posts_and_layers_through_http(api: Api) -> None:
    a, b = api.create_user(uid("a")), api.create_user(uid("b"))
    api.befriend(a, b)
    made = api.call("POST", f"/v1/users/{a.id}/posts", a, json={"body": "hello"})
    assert made.status_code == 201 and made.json()["audience"] == "all"
    feed = api.ok("GET", f"/v1/users/{b.id}/feed", b)["posts"]
    assert [(p["author"], p["body"]) for p in feed] == [(a.id, "hello")]
    layer = f"/v1/users/{a.id}/contacts/{b.id}/layer"
    assert api.ok("PUT", layer, a, json={"layer": "chat_only"}) == {"layer": "chat_only"}
    view = api.ok("GET", f"/v1/users/{b.id}/posts/{a.id}", b)
    assert view == {"posts": [], "removed_you_at": None, "next": None}
    expect_error(api.call("PUT", layer, a, json={"layer": "secret"}), 422, "invalid_request")


def test_contact_tags_through_http(api: Api) -> None:
    a, b = api.create_user(uid("a")), api.create_user(uid("b"))
    api.befriend(a, b)
    tags = f"/v1/users/{a.id}/contacts/{b.id}/tags"
    assert api.ok("PUT", f"{tags}/family", a) == {"tags": ["family"]}
    assert api.ok("GET", tags, a) == {"tags": ["family"]}
    post = {"body": "for family", "audience": "tag", "tag": "family"}
    assert api.call("POST", f"/v1/users/{a.id}/posts", a, json=post).status_code == 201
    assert [p["tag"] for p in api.ok("GET", f"/v1/users/{b.id}/feed", b)["posts"]] == ["family"]
    assert api.ok("DELETE", f"{tags}/family", a) == {"tags": []}
    expect_error(api.call("PUT", f"{tags}/%20x", a), 422, "invalid_tag")


def test_groups_through_http(api: Api) -> None:
    a, b, c = api.create_user(uid("a")), api.create_user(uid("b")), api.create_user(uid("c"))
    api.befriend(a, b)
    made = api.call("POST", f"/v1/users/{a.id}/groups", a, json={"name": "同事"})
    assert made.status_code == 201, made.text
    group = made.json()
    assert (group["name"], group["owner"], group["members"]) == ("同事", a.id, 1)
    path = f"/v1/users/{a.id}/groups/{group['id']}"
    invited = api.ok("POST", f"{path}/invitations", a, json={"user": b.id})
    assert invited == {"status": "invited"}
    expect_error(
        api.call("POST", f"{path}/invitations", a, json={"user": c.id}), 409, "not_in_your_contacts"
    )
    (invitation,) = api.ok("GET", f"/v1/users/{b.id}/group-invitations", b)["invitations"]
    assert (invitation["group"], invitation["from"]) == (group["id"], a.id)
    joined = api.ok("POST", f"/v1/users/{b.id}/group-invitations/{group['id']}/join", b)
    assert joined["members"] == 2
    members = api.ok("GET", f"{path}/members", a)["members"]
    assert [m["id"] for m in members] == [a.id, b.id]
    shared = api.ok("GET", f"/v1/users/{b.id}/shared-groups/{a.id}", b)
    assert [g["id"] for g in shared["groups"]] == [group["id"]]
    settings = api.ok("PATCH", f"/v1/users/{a.id}/settings", a, json={"hide_shared_groups": True})
    assert settings["hide_shared_groups"] is True
    api.delete(b, a.id)  # b removed a: a's hiding now applies, and tells b nothing new
    shared = api.ok("GET", f"/v1/users/{b.id}/shared-groups/{a.id}", b)
    assert shared == {"other": a.id, "groups": [], "removed_you_at": None}
    expect_error(
        api.call("DELETE", f"/v1/users/{b.id}/groups/{group['id']}/members/{a.id}", b),
        409,
        "not_group_owner",
    )
    left = api.ok("DELETE", f"/v1/users/{b.id}/groups/{group['id']}/members/{b.id}", b)
    assert left == {"status": "left"}
    expect_error(
        api.call("GET", f"/v1/users/{c.id}/groups/{group['id']}/members", c), 404, "group_not_found"
    )
    expect_error(
        api.call("POST", f"/v1/users/{b.id}/group-invitations/{group['id']}/join", b),
        404,
        "group_invitation_not_found",
    )
    expect_error(
        api.call("POST", f"/v1/users/{a.id}/groups", a, json={"name": ""}),
        422,
        "invalid_group_name",
    )


def test_export_and_erasure_through_http(api: Api) -> None:
    a, b = api.create_user(uid("a")), api.create_user(uid("b"))
    api.befriend(a, b)
    api.message(a, b.id, "keep a copy")
    archive = api.ok("GET", f"/v1/users/{a.id}/export", a)
    assert archive["format"] == "hushan-export/1"
    assert [c["id"] for c in archive["contacts"]] == [b.id]
    assert [m["body"] for h in archive["histories"] for m in h["messages"]] == ["keep a copy"]
    expect_error(api.call("DELETE", f"/v1/users/{a.id}", b), 403, "acting_as_other_user")
    erased = api.call("DELETE", f"/v1/users/{a.id}", a)
    expect_error(api.call("GET", f"/v1/users/{a.id}/export", a), 401, "unauthenticated")
    # Done by serve's worker: within the second, unless the worker is still starting.
    if (erased.status_code, erased.json()) != (200, {"status": "erased"}):
        assert (erased.status_code, erased.json()) == (202, {"status": "erasing"})
        deadline = time.monotonic() + 30
        while api.ok("GET", f"/v1/admin/erasures/{a.id}", admin=True)["status"] == "erasing":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert api.contacts(b) == []
    entries = api.audit()
    assert any(
        e["action"] == "account_erased" and e["actor"].startswith("erased:") for e in entries
    )
    assert not [e for e in entries if a.id in (e["actor"], e["a"], e["b"])]


def test_docs_page_loads_nothing_from_elsewhere(api: Api) -> None:
    page = api.http.get("/docs")
    assert page.status_code == 200
    assert "SwaggerUIBundle" in page.text
    assert not re.search(r"[a-z]+://|[\"'(]//", page.text), "an absolute URL"
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) >= 3, assets
    for asset in assets:
        assert asset.startswith("/") and not asset.startswith("//"), asset
        assert api.http.get(asset).status_code == 200, asset
