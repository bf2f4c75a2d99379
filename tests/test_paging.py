"""Cursor pagination over real HTTP on each backend: every list takes `limit` and `cursor`,
answers `next`, and walks to its end with no item missed or repeated; a cursor that is not
the list's own is `422 invalid_cursor`, a limit out of 1-1000 `422 invalid_request`."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.api_client import Api, User, expect_error, uid

pytestmark = pytest.mark.usefixtures("no_server_errors")

ITEMS = 5  # of each list, so that pages of 2 make three pages


@dataclass(frozen=True)
class World:
    me: User
    friend: User  # one of my contacts, in my group, with messages between us
    group: int


@dataclass(frozen=True)
class Listing:
    name: str
    path: Callable[[World], str]
    field: str
    key: Callable[[Any], Any]  # what names an item in the list (unique in it)
    admin: bool = False
    params: tuple[tuple[str, str], ...] = ()


LISTS = [
    Listing("contacts", lambda w: f"/v1/users/{w.me.id}/contacts", "contacts", lambda c: c["id"]),
    Listing("blocks", lambda w: f"/v1/users/{w.me.id}/blocks", "blocks", lambda b: b),
    Listing(
        "requests_incoming",
        lambda w: f"/v1/users/{w.me.id}/requests",
        "requests",
        lambda r: r["from"],
        params=(("direction", "incoming"),),
    ),
    Listing(
        "requests_outgoing",
        lambda w: f"/v1/users/{w.me.id}/requests",
        "requests",
        lambda r: r["to"],
        params=(("direction", "outgoing"),),
    ),
    Listing(
        "conversations",
        lambda w: f"/v1/users/{w.me.id}/conversations",
        "conversations",
        lambda c: c["with"],
    ),
    Listing(
        "messages",
        lambda w: f"/v1/users/{w.me.id}/conversations/{w.friend.id}/messages",
        "messages",
        lambda m: m["id"],
    ),
    Listing("groups", lambda w: f"/v1/users/{w.me.id}/groups", "groups", lambda g: g["id"]),
    Listing(
        "members",
        lambda w: f"/v1/users/{w.me.id}/groups/{w.group}/members",
        "members",
        lambda m: m["id"],
    ),
    Listing(
        "invitations",
        lambda w: f"/v1/users/{w.me.id}/group-invitations",
        "invitations",
        lambda i: i["group"],
    ),
    Listing("notices", lambda w: f"/v1/users/{w.me.id}/notices", "notices", lambda n: n["id"]),
    Listing(
        "proposals",
        lambda w: f"/v1/users/{w.me.id}/mutual-delete-proposals",
        "proposals",
        lambda p: p["from"],
        params=(("direction", "incoming"),),
    ),
    Listing("devices", lambda w: f"/v1/users/{w.me.id}/devices", "devices", lambda d: d["id"]),
    Listing("tokens", lambda w: f"/v1/users/{w.me.id}/tokens", "tokens", lambda t: t["id"]),
    Listing("feed", lambda w: f"/v1/users/{w.me.id}/feed", "posts", lambda p: p["id"]),
    Listing(
        "posts_by_author",
        lambda w: f"/v1/users/{w.me.id}/posts/{w.me.id}",
        "posts",
        lambda p: p["id"],
    ),
    Listing("audit", lambda w: "/v1/admin/audit", "entries", lambda e: e["seq"], admin=True),
    Listing("users", lambda w: "/v1/admin/users", "users", lambda u: u["id"], admin=True),
    Listing(
        "credentials",
        lambda w: "/v1/admin/credentials",
        "credentials",
        lambda c: c["id"],
        admin=True,
    ),
]


def _open(api: Api, prefix: str) -> User:
    """A user who accepts friend requests at once."""
    return api.create_user(uid(prefix), verification_required=False)


@pytest.fixture(scope="module")
def world(api: Api) -> World:
    """One user with at least ITEMS of everything a list can hold."""
    me = api.create_user(uid("me"))
    friends = [_open(api, "friend") for _ in range(ITEMS)]
    for friend in friends:
        assert api.send_request(me, friend.id) == "added"
    for _ in range(ITEMS):
        api.block(me, _open(api, "blocked").id)
        assert api.send_request(api.create_user(uid("asker")), me.id) == "pending"
        assert api.send_request(me, api.create_user(uid("asked")).id) == "pending"
        api.message(me, friends[0].id, "hello")
        api.ok("POST", f"/v1/users/{me.id}/devices", me, json={"name": "phone"})
        api.ok("POST", f"/v1/users/{me.id}/tokens", admin=True)
        api.ok("POST", f"/v1/users/{me.id}/posts", me, json={"body": "post"})
    for _ in range(ITEMS):
        body = {"name": uid("backend"), "scopes": ["users:act"]}
        api.ok("POST", "/v1/admin/credentials", admin=True, json=body)
    groups = [
        api.ok("POST", f"/v1/users/{me.id}/groups", me, json={"name": "g"})["id"]
        for _ in range(ITEMS)
    ]
    for friend in friends:
        api.ok(
            "POST",
            f"/v1/users/{me.id}/groups/{groups[0]}/invitations",
            me,
            json={"user": friend.id},
        )
        api.ok("POST", f"/v1/users/{friend.id}/group-invitations/{groups[0]}/join", friend)
        # Each friend invites me to a group of theirs, and proposes a mutual delete (a notice).
        theirs = api.ok("POST", f"/v1/users/{friend.id}/groups", friend, json={"name": "t"})["id"]
        api.ok(
            "POST",
            f"/v1/users/{friend.id}/groups/{theirs}/invitations",
            friend,
            json={"user": me.id},
        )
        api.ok("POST", f"/v1/users/{friend.id}/mutual-delete-proposals", friend, json={"to": me.id})
    return World(me, friends[0], groups[0])


def _get(api: Api, listing: Listing, world: World, **params: Any) -> Any:
    user = None if listing.admin else world.me
    query = {**dict(listing.params), **params}
    return api.call("GET", listing.path(world), user, admin=listing.admin, params=query)


def _page(api: Api, listing: Listing, world: World, **params: Any) -> dict[str, Any]:
    response = _get(api, listing, world, **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("listing", LISTS, ids=lambda listing: listing.name)
def test_a_walk_returns_the_whole_list_once_in_order(
    api: Api, world: World, listing: Listing
) -> None:
    whole = _page(api, listing, world, limit=1000)
    assert whole["next"] is None
    items = whole[listing.field]
    assert len(items) >= ITEMS
    limit = max(2, len(items) // 4)
    walked: list[Any] = []
    page = _page(api, listing, world, limit=limit)
    pages = 1
    while page["next"] is not None:
        assert len(page[listing.field]) == limit  # only the last page may be short
        walked += page[listing.field]
        page = _page(api, listing, world, limit=limit, cursor=page["next"])
        pages += 1
    walked += page[listing.field]
    assert 1 <= len(page[listing.field]) <= limit
    assert pages >= 3
    assert [listing.key(x) for x in walked] == [listing.key(x) for x in items]
    # The default page is 100, and a limit is honoured.
    assert len(_page(api, listing, world)[listing.field]) == min(100, len(items))
    assert len(_page(api, listing, world, limit=1)[listing.field]) == 1


def _cursor(kind: str, key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([kind, key]).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("listing", LISTS, ids=lambda listing: listing.name)
def test_a_cursor_not_of_the_list_is_refused(api: Api, world: World, listing: Listing) -> None:
    other = LISTS[1] if listing.path(world).endswith("/contacts") else LISTS[0]
    foreign = _page(api, other, world, limit=1)["next"]
    assert foreign is not None
    own = _page(api, listing, world, limit=1)["next"]
    assert own is not None
    kind, key = json.loads(base64.urlsafe_b64decode(own + "=" * (-len(own) % 4)))
    bad = [
        foreign,
        "not a cursor",
        "",
        own[:-3],
        own + "!",
        "x" * 5000,
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        _cursor(kind + "x", key),
        _cursor(kind, None),
        _cursor(kind, [key]),
        _cursor(kind, -1 if isinstance(key, int) else 7),
        _cursor(kind, "a\x00b" if isinstance(key, str) else 2**63),
        _cursor(kind, "\ud800" if isinstance(key, str) else True),
        _cursor(kind, [2**62, "x"] if isinstance(key, list) else {"k": key}),
    ]
    for cursor in bad:
        expect_error(_get(api, listing, world, cursor=cursor), 422, "invalid_cursor")
    for limit in (0, 1001, -1, "ten"):
        expect_error(_get(api, listing, world, limit=limit), 422, "invalid_request")


@pytest.mark.parametrize("listing", LISTS, ids=lambda listing: listing.name)
def test_an_old_or_misspelt_paging_parameter_is_refused_not_ignored(
    api: Api, world: World, listing: Listing
) -> None:
    for name in ("after", "before", "limt", "next"):
        response = _get(api, listing, world, **{name: "1"})
        expect_error(response, 422, "unknown_query_parameter")
        message = response.json()["error"]["message"]
        assert message.startswith(f"Unknown query parameter {name}: this endpoint takes ")
        assert "cursor, " in message and "limit" in message
    assert _page(api, listing, world, limit=1)["next"] is not None  # the real ones still work


def test_an_endpoint_that_takes_no_query_says_so(api: Api, world: World) -> None:
    path = f"/v1/users/{world.me.id}/contacts/{world.friend.id}"
    response = api.call("DELETE", path, world.me, params={"mutual": "true"})
    expect_error(response, 422, "unknown_query_parameter")
    assert "this endpoint takes no query parameters" in response.json()["error"]["message"]
    names = [c["id"] for c in _page(api, LISTS[0], world, limit=1000)["contacts"]]
    assert world.friend.id in names  # refused before it changed anything


def test_a_page_after_the_last_item_is_empty(api: Api, world: World) -> None:
    contacts = LISTS[0]
    last = _page(api, contacts, world, limit=1000)["contacts"][-1]["id"]
    assert _page(api, contacts, world, cursor=_cursor("contacts", last)) == {
        "contacts": [],
        "next": None,
    }
