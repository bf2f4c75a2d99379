"""Renaming a display name (`PATCH …/settings`), and the admin's paged list of users, over real
HTTP on each backend."""

from __future__ import annotations

import pytest

from tests.api_client import Api, User, expect_error, uid

pytestmark = pytest.mark.usefixtures("no_server_errors")


def test_a_user_renames_themselves_and_everyone_sees_the_new_name(api: Api) -> None:
    me, friend = api.create_user(uid("me")), api.create_user(uid("f"), verification_required=False)
    assert api.send_request(me, friend.id) == "added"
    settings = f"/v1/users/{me.id}/settings"
    renamed = api.ok("PATCH", settings, me, json={"display_name": "小明 Ming"})
    assert renamed["display_name"] == "小明 Ming"
    assert renamed["verification_required"] is True  # the rest kept
    assert api.ok("GET", f"/v1/users/{me.id}", friend)["display_name"] == "小明 Ming"
    listed = api.ok("GET", f"/v1/users/{friend.id}/contacts", friend)["contacts"]
    assert [(c["id"], c["display_name"]) for c in listed] == [(me.id, "小明 Ming")]
    # Settings without a name keep it.
    api.ok("PATCH", settings, me, json={"hide_shared_groups": True})
    assert api.ok("GET", f"/v1/users/{me.id}", me)["display_name"] == "小明 Ming"


def test_a_bad_name_is_refused_and_changes_nothing(api: Api) -> None:
    me = api.create_user(uid("me"), display_name="Kept")
    settings = f"/v1/users/{me.id}/settings"
    for name, code in [
        ("", "invalid_request"),
        ("n" * 129, "invalid_request"),
        (7, "invalid_request"),
        ("a\x00b", "invalid_text"),
    ]:
        body = {"display_name": name, "verification_required": False}
        expect_error(api.call("PATCH", settings, me, json=body), 422, code)
    profile = api.ok("PATCH", settings, me, json={})
    assert (profile["display_name"], profile["verification_required"]) == ("Kept", True)
    assert api.ok("PATCH", settings, me, json={"display_name": "n" * 128})["display_name"]


def test_only_the_user_renames_themselves(api: Api) -> None:
    me, other = api.create_user(uid("me")), api.create_user(uid("o"))
    response = api.call("PATCH", f"/v1/users/{me.id}/settings", other, json={"display_name": "x"})
    expect_error(response, 403, "acting_as_other_user")
    assert api.ok("GET", f"/v1/users/{me.id}", me)["display_name"] == me.id


def test_the_admin_lists_users_by_id_in_pages(api: Api) -> None:
    made = sorted(api.create_user(uid("listed"), display_name=f"n{i}").id for i in range(3))
    users = api.pages("/v1/admin/users", "users", admin=True, limit=2)
    ids = [u["id"] for u in users]
    assert len(ids) == len(set(ids))
    mine = [u for u in users if u["id"] in made]
    assert [u["id"] for u in mine] == made
    assert set(mine[0]) == {"id", "display_name", "created_at"}


def test_the_user_list_needs_admin_read(api: Api) -> None:
    user = api.create_user(uid("u"))
    expect_error(api.call("GET", "/v1/admin/users", user), 403, "admin_required")
    secrets = {}
    for scopes in (["admin:read"], ["users:act"]):
        body = {"name": uid("c"), "scopes": scopes}
        secrets[scopes[0]] = api.ok("POST", "/v1/admin/credentials", admin=True, json=body)[
            "secret"
        ]
    reader = User("reader", secrets["admin:read"])
    assert api.ok("GET", "/v1/admin/users", reader, params={"limit": 1})["next"] is not None
    actor = User("actor", secrets["users:act"])
    expect_error(api.call("GET", "/v1/admin/users", actor), 403, "scope_required")
