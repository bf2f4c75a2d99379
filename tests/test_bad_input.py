"""Input no database can hold, and HTTP at its edges, against a real `hushan serve` on each
backend: a 4xx with its documented code, never a 500, and nothing changed."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hushan.api.paging import ROW_ID, encode
from tests.api_client import Api, User, expect_error, uid
from tests.server import Server
from tests.test_api import friends_with_history, snapshot

pytestmark = pytest.mark.usefixtures("no_server_errors")

INT64_MAX = 2**63 - 1
BEYOND_INT64 = [2**63, 2**64, -(2**63) - 1, 10**30]
LONE_SURROGATE = "\ud800"
NUL = "\x00"


def raw(body: Any) -> bytes:
    """JSON as a client may send it: `\\ud800` escaped, which httpx's encoder cannot write."""
    return json.dumps(body).encode()


@pytest.fixture
def pair(api: Api) -> Iterator[tuple[User, User]]:
    a, b = friends_with_history(api, "one")
    before = snapshot(api, [a, b])
    yield a, b
    assert snapshot(api, [a, b]) == before, "a refused call changed something"


def test_integers_beyond_64_bits(api: Api, pair: tuple[User, User]) -> None:
    a, b = pair
    group = "/v1/users/{a}/groups/{g}"
    invitation = "/v1/users/{a}/group-invitations/{g}"
    for number in [*BEYOND_INT64, -1]:
        queries = [
            (f"/v1/users/{a.id}/notices", "notices"),
            (f"/v1/users/{a.id}/feed", "feed"),
            (f"/v1/users/{a.id}/posts/{b.id}", "posts"),
            (f"/v1/users/{a.id}/conversations/{b.id}/messages", "messages"),
            ("/v1/admin/audit", "audit"),
        ]
        for path, kind in queries:
            admin = path.startswith("/v1/admin")
            user = None if admin else a
            response = api.call("GET", path, user, admin=admin, params={"limit": number})
            expect_error(response, 422, "invalid_request")
            # A cursor holds a key as JSON, which can spell any integer: refused all the same.
            cursor = encode(kind, ROW_ID, number)
            response = api.call("GET", path, user, admin=admin, params={"cursor": cursor})
            expect_error(response, 422, "invalid_cursor")
        group_calls: list[tuple[str, str, dict[str, str] | None]] = [
            ("GET", group + "/members", None),
            ("POST", group + "/invitations", {"user": b.id}),
            ("DELETE", group + "/members/{b}", None),
            ("POST", invitation + "/join", None),
            ("POST", invitation + "/decline", None),
        ]
        for method, path, body in group_calls:
            url = path.format(a=a.id, b=b.id, g=number)
            expect_error(api.call(method, url, a, json=body), 422, "invalid_request")
        for path, field in [
            (f"/v1/users/{a.id}/notices/read", {"up_to": number}),
            (f"/v1/users/{a.id}/certificates", {"other": b.id, "earlier_size": number}),
        ]:
            expect_error(api.call("POST", path, a, content=raw(field)), 422, "invalid_request")
    # The largest 64-bit integer is in range, and names nothing yet.
    last = {"cursor": encode("notices", ROW_ID, INT64_MAX)}
    assert api.ok("GET", f"/v1/users/{a.id}/notices", a, params=last) == {
        "notices": [],
        "next": None,
    }
    newest = {"cursor": encode("feed", ROW_ID, INT64_MAX)}
    assert api.ok("GET", f"/v1/users/{a.id}/feed", a, params=newest)["posts"] == []
    url = group.format(a=a.id, g=INT64_MAX) + "/members"
    expect_error(api.call("GET", url, a), 404, "group_not_found")


def _text_fields(a: User, b: User, bad: str) -> list[tuple[str, str, dict[str, Any], str]]:
    """(path, field, body, code): every body field a user writes, holding `bad`."""
    me = f"/v1/users/{a.id}"
    return [
        (f"{me}/messages", "body", {"to": b.id, "body": f"hi{bad}"}, "invalid_text"),
        (f"{me}/posts", "body", {"body": f"hi{bad}"}, "invalid_text"),
        (
            f"{me}/posts",
            "tag",
            {"body": "hi", "audience": "tag", "tag": f"fam{bad}"},
            "invalid_tag",
        ),
        (f"{me}/requests", "message", {"to": b.id, "message": f"hi{bad}"}, "invalid_text"),
        (
            f"{me}/mutual-delete-proposals",
            "message",
            {"to": b.id, "message": f"bye{bad}"},
            "invalid_text",
        ),
        (f"{me}/groups", "name", {"name": f"team{bad}"}, "invalid_group_name"),
        (f"{me}/devices", "name", {"name": f"phone{bad}"}, "invalid_device_name"),
        # Ids, in every body that names a user.
        (f"{me}/messages", "to", {"to": f"{b.id}{bad}", "body": "hi"}, "invalid_user_id"),
        (f"{me}/requests", "to", {"to": f"{b.id}{bad}"}, "invalid_user_id"),
        (f"{me}/mutual-delete-proposals", "to", {"to": f"{b.id}{bad}"}, "invalid_user_id"),
        (
            f"{me}/posts",
            "hidden_from",
            {"body": "hi", "audience": "except", "hidden_from": [f"{b.id}{bad}"]},
            "invalid_user_id",
        ),
        (f"{me}/certificates", "other", {"other": f"{b.id}{bad}"}, "invalid_user_id"),
    ]


@pytest.mark.parametrize("bad", [LONE_SURROGATE, NUL, "\udfff"], ids=["surrogate", "nul", "low"])
def test_text_no_database_can_hold(api: Api, pair: tuple[User, User], bad: str) -> None:
    a, b = pair
    for path, _, body, code in _text_fields(a, b, bad):
        expect_error(api.call("POST", path, a, content=raw(body)), 422, code)
    groups = api.ok("GET", f"/v1/users/{a.id}/groups", a)["groups"]
    assert groups == []
    checks: list[tuple[str, str, Any]] = [
        ("POST", "/v1/users", {"id": uid("n"), "display_name": f"Ann{bad}"}),
        ("POST", "/v1/users", {"id": f"n{bad}"}),
        ("POST", "/v1/admin/relations/check", {"pairs": [{"a": a.id, "b": f"{b.id}{bad}"}]}),
    ]
    codes = ["invalid_text", "invalid_user_id", "invalid_user_id"]
    for (method, path, body), code in zip(checks, codes, strict=True):
        expect_error(api.call(method, path, admin=True, content=raw(body)), 422, code)


def test_nul_in_paths(api: Api, pair: tuple[User, User]) -> None:
    a, b = pair
    me = f"/v1/users/{a.id}"
    for method, path, code in [
        ("GET", f"/v1/users/{b.id}%00", "invalid_user_id"),
        ("GET", f"{me}/relations/{b.id}%00", "invalid_user_id"),
        ("DELETE", f"{me}/contacts/{b.id}%00", "invalid_user_id"),
        ("PUT", f"{me}/blocks/{b.id}%00", "invalid_user_id"),
        ("POST", f"{me}/requests/{b.id}%00/accept", "invalid_user_id"),
        ("GET", f"{me}/conversations/{b.id}%00/messages", "invalid_user_id"),
        ("GET", f"{me}/posts/{b.id}%00", "invalid_user_id"),
        ("GET", f"{me}/shared-groups/{b.id}%00", "invalid_user_id"),
        ("POST", f"{me}/mutual-delete-proposals/{b.id}%00/accept", "invalid_user_id"),
        ("PUT", f"{me}/contacts/{b.id}/tags/fam%00", "invalid_tag"),
        ("GET", f"{me}/devices/d%00/changes", "invalid_request"),
        ("DELETE", f"{me}/devices/d%00", "invalid_request"),
    ]:
        expect_error(api.call(method, path, a), 422, code)
    # Ids that could exist are looked up as before: a user that is not there is not found.
    expect_error(api.call("GET", f"{me}/relations/{uid('ghost')}", a), 404, "user_not_found")
    for path in [f"/v1/admin/pairs/{a.id}%00/{b.id}", f"/v1/admin/pairs/{a.id}/{b.id}%00"]:
        expect_error(api.call("GET", path, admin=True), 422, "invalid_user_id")
    # A bad id is refused before the token is looked at: it says nothing about anyone.
    expect_error(api.call("GET", f"/v1/users/{a.id}%00/contacts"), 422, "invalid_user_id")


def test_any_other_text_is_kept_as_sent(api: Api) -> None:
    a, b = friends_with_history(api)
    text = "😀 同事\u200b\u2028\ufeff\U0010fffd"  # astral, zero-width, separators, a private use
    assert api.message(a, b.id, text)["body"] == text
    assert api.bodies(b, a.id) == [text]
    user = api.ok("POST", "/v1/users", admin=True, json={"id": uid("t"), "display_name": text})
    assert user["user"]["display_name"] == text


def test_last_event_id_must_be_a_cursor(api: Api) -> None:
    a = api.create_user(uid("a"))
    device = api.ok("POST", f"/v1/users/{a.id}/devices", a, json={"name": "phone"})
    path = f"/v1/users/{a.id}/devices/{device['id']}/events"
    for resume in ["²".encode("latin-1"), b"9" * 5000, b"-1", b"1.5", str(2**63).encode()]:
        headers = [(k.encode(), v.encode()) for k, v in a.auth.items()]
        response = api.http.get(path, headers=[*headers, (b"last-event-id", resume)])
        expect_error(response, 422, "invalid_request")
        assert "last-event-id" in response.json()["error"]["message"]


def test_body_over_the_limit_is_refused_unread(api: Api, pair: tuple[User, User]) -> None:
    a, b = pair
    path = f"/v1/users/{a.id}/messages"
    big = raw({"to": b.id, "body": "x" * 64 * 1024})
    expect_error(api.call("POST", path, a, content=big), 413, "body_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield big[:1000]
        yield big[1000:]

    response = api.http.post(
        path, headers={**a.auth, "content-type": "application/json"}, content=chunks()
    )
    assert "content-length" not in response.request.headers
    expect_error(response, 413, "body_too_large")
    # A body within the limit is read as before, chunked or not.
    small = raw({"to": b.id, "body": "y" * 4096})
    expect_error(api.call("POST", path, a, content=small + b" " * 70_000), 413, "body_too_large")
    # The connection is still usable after a refusal.
    assert api.ok("GET", f"/v1/users/{a.id}", a)["id"] == a.id


def test_body_limit_is_a_setting(tmp_path: Path) -> None:
    server = Server(tmp_path, HUSHAN_MAX_BODY_BYTES="100").start()
    try:
        with Api(server.url) as api:
            body = {"id": "x" * 60}
            assert api.call("POST", "/v1/users", admin=True, json=body).status_code == 201
            body = {"id": "y" * 60, "display_name": "z" * 30}
            response = api.call("POST", "/v1/users", admin=True, json=body)
            expect_error(response, 413, "body_too_large")
        assert "Traceback" not in server.log()
    finally:
        server.stop()


def test_405_names_the_allowed_methods(api: Api) -> None:
    a = api.create_user(uid("a"))
    for method, path, allowed in [
        ("GET", "/v1/users", "POST"),
        ("PUT", f"/v1/users/{a.id}/devices", "GET, POST"),
        ("PATCH", f"/v1/users/{a.id}/blocks/x", "DELETE, PUT"),
        ("POST", f"/v1/users/{a.id}", "DELETE, GET"),
    ]:
        response = api.call(method, path, a)
        expect_error(response, 405, "method_not_allowed")
        assert response.headers["allow"] == allowed, (method, path)


def test_401_names_the_bearer_scheme(api: Api) -> None:
    a = api.create_user(uid("a"))
    for path, headers in [
        (f"/v1/users/{a.id}/contacts", {}),
        (f"/v1/users/{a.id}/contacts", {"Authorization": "Bearer nope"}),
        (f"/v1/users/{a.id}/contacts", {"Authorization": "Basic x"}),
        ("/v1/admin/audit", {}),
    ]:
        response = api.http.get(path, headers=headers)
        expect_error(response, 401, "unauthenticated")
        assert response.headers["www-authenticate"] == "Bearer"
    # Other errors carry no challenge.
    response = api.call("GET", "/v1/admin/audit", a)
    expect_error(response, 403, "admin_required")
    assert "www-authenticate" not in response.headers


def test_a_trailing_slash_is_not_redirected(api: Api) -> None:
    a = api.create_user(uid("a"))
    for method, path in [
        ("GET", f"/v1/users/{a.id}/contacts/"),
        ("POST", "/v1/users/"),
        ("GET", "/healthz/"),
    ]:
        response = api.call(method, path, a, admin=path == "/v1/users/")
        assert not response.is_redirect, response.headers.get("location")
        expect_error(response, 404, "route_not_found")


def test_a_refused_body_is_never_half_read(api: Api) -> None:
    """A declared length over the limit is answered before the body is sent at all."""
    a = api.create_user(uid("a"))
    request = (
        f"POST /v1/users/{a.id}/messages HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {a.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {100 * 1024 * 1024}\r\n\r\n"
    )
    host, port = api.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request.encode())
        reply = b""
        while chunk := sock.recv(65536):  # the server closes: the body it did not read
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413"), reply
    assert b'"body_too_large"' in reply


def test_what_schema_fuzzing_found_at_length(api: Api, pair: tuple[User, User]) -> None:
    """`make fuzz` (35 cases per operation): a time whose offset takes it outside the years a
    time can hold once in UTC was a 500, and an endpoint URL the worker could not parse (a
    bracketed host that is no IPv6 address) was stored, then failed every attempt."""
    a, b = pair
    for since in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        body = {"since": since}
        response = api.call("POST", "/v1/admin/webhooks/replay", admin=True, json=body)
        expect_error(response, 422, "invalid_request")
        hold = {"user": a.id, "reason": "audit", "case_ref": "c-1", "expires_at": since}
        expect_error(
            api.call("POST", "/v1/admin/holds", admin=True, json=hold), 422, "invalid_request"
        )
    for url in ("http://[1]", "http://[::1:2:3:4:5:6:7:8]/", "http://example.com:65536/"):
        endpoint = {"url": url, "event_types": ["contact.removed"]}
        response = api.call("POST", "/v1/admin/webhooks/endpoints", admin=True, json=endpoint)
        expect_error(response, 422, "invalid_webhook_url")
    listed = api.ok("GET", "/v1/admin/webhooks/endpoints", admin=True)["endpoints"]
    assert listed == []
