"""Acting for users and the token lifecycle, through a real server: service credentials on
user and admin paths, rotation, revocation, expiry on the test clock, listing and revoking
tokens, minting."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.api_client import Api, User, bearer, expect_error, uid

ACT_AS = "Hushan-Act-As"


def credential(api: Api, *scopes: str, name: str = "backend") -> tuple[str, str]:
    made = api.ok(
        "POST", "/v1/admin/credentials", admin=True, json={"name": name, "scopes": scopes}
    )
    assert set(made["scopes"]) == set(scopes) and made["secret"].startswith("hsk_")
    return made["id"], made["secret"]


def acting(secret: str, user: str | None) -> dict[str, str]:
    headers = bearer(secret)
    if user is not None:
        headers[ACT_AS] = user
    return headers


def as_service(
    api: Api, method: str, path: str, secret: str, user: str | None = None, **kw: Any
) -> httpx.Response:
    return api.call(method, path, headers=acting(secret, user), **kw)


@pytest.fixture(scope="module")
def actor(api: Api) -> str:
    return credential(api, "users:act")[1]


def test_acting_for_a_user_writes_as_them_and_the_audit_names_the_credential(
    api: Api, actor: str
) -> None:
    alice, bob = api.users("alice", "bob")
    cred_id = next(
        c["id"]
        for c in api.ok("GET", "/v1/admin/credentials", admin=True)["credentials"]
        if c["name"] == "backend"
    )
    sent = as_service(
        api, "POST", f"/v1/users/{alice.id}/requests", actor, alice.id, json={"to": bob.id}
    )
    assert sent.status_code == 200 and sent.json() == {"status": "pending"}
    assert [r["from"] for r in api.requests(bob)] == [alice.id]
    accepted = as_service(
        api, "POST", f"/v1/users/{bob.id}/requests/{alice.id}/accept", actor, bob.id
    )
    assert accepted.json() == {"status": "added"}
    contacts = as_service(api, "GET", f"/v1/users/{alice.id}/contacts", actor, alice.id)
    assert [c["id"] for c in contacts.json()["contacts"]] == [bob.id]
    entries = api.audit(users=[alice.id])
    assert entries and {e["credential"] for e in entries} == {cred_id}
    assert {e["actor"] for e in entries} == {alice.id, bob.id}
    api.delete(alice, bob.id)  # with her own token: no credential
    assert api.audit(users=[alice.id])[-1]["credential"] is None


def test_the_header_must_name_the_paths_user_who_must_exist(api: Api, actor: str) -> None:
    alice, bob = api.users("alice", "bob")
    path = f"/v1/users/{alice.id}/contacts"
    expect_error(as_service(api, "GET", path, actor, bob.id), 403, "act_as_mismatch")
    expect_error(as_service(api, "GET", path, actor, None), 403, "act_as_required")
    ghost = uid("ghost")
    expect_error(
        as_service(api, "GET", f"/v1/users/{ghost}/contacts", actor, ghost), 404, "user_not_found"
    )
    expect_error(as_service(api, "GET", path, actor, "bad id"), 422, "invalid_user_id")
    # A user's own token with a header naming someone else is no way round the rule.
    response = api.call("GET", path, alice, headers={ACT_AS: bob.id})
    expect_error(response, 403, "acting_as_other_user")
    assert api.call("GET", path, alice, headers={ACT_AS: alice.id}).status_code == 200


def test_missing_scopes_are_refused_with_scope_required(api: Api) -> None:
    alice = api.create_user(uid("alice"))
    _, reader = credential(api, "admin:read")
    _, minter = credential(api, "tokens:mint")
    expect_error(
        as_service(api, "GET", f"/v1/users/{alice.id}/contacts", reader, alice.id),
        403,
        "scope_required",
    )
    assert as_service(api, "GET", "/v1/admin/audit", reader).status_code == 200
    expect_error(as_service(api, "POST", "/v1/admin/sweep", reader), 403, "scope_required")
    expect_error(as_service(api, "GET", "/v1/admin/audit", minter), 403, "scope_required")
    expect_error(
        as_service(api, "POST", "/v1/users", reader, json={"id": uid()}), 403, "scope_required"
    )
    minted = as_service(api, "POST", f"/v1/users/{alice.id}/tokens", minter)
    assert minted.status_code == 201
    expect_error(
        as_service(api, "POST", f"/v1/users/{alice.id}/tokens", reader), 403, "scope_required"
    )
    # A user token on an admin path is what it was: admin_required.
    expect_error(api.call("GET", "/v1/admin/audit", alice), 403, "admin_required")


def test_a_credential_grants_no_more_than_it_holds(api: Api) -> None:
    _, writer = credential(api, "admin:write", "admin:read")
    made = as_service(
        api, "POST", "/v1/admin/credentials", writer, json={"name": "x", "scopes": ["users:act"]}
    )
    expect_error(made, 403, "scope_not_grantable")
    made = as_service(
        api, "POST", "/v1/admin/credentials", writer, json={"name": "x", "scopes": ["admin:read"]}
    )
    assert made.status_code == 201
    listed = as_service(api, "GET", "/v1/admin/credentials", writer).json()["credentials"]
    assert all("secret" not in c for c in listed)


def test_revoked_and_rotated_credentials(api: Api) -> None:
    alice = api.create_user(uid("alice"))
    path = f"/v1/users/{alice.id}/blocks"
    cred_id, old = credential(api, "users:act")
    rotated = api.ok(
        "POST", f"/v1/admin/credentials/{cred_id}/rotate", admin=True, json={"overlap_seconds": 30}
    )
    new = rotated["secret"]
    assert rotated["id"] == cred_id and rotated["previous_secret_expires_at"] is not None
    for secret in (old, new):  # the overlap: both work
        assert as_service(api, "GET", path, secret, alice.id).status_code == 200
    api.advance(30)
    expect_error(as_service(api, "GET", path, old, alice.id), 401, "unauthenticated")
    assert as_service(api, "GET", path, new, alice.id).status_code == 200
    revoked = api.ok("DELETE", f"/v1/admin/credentials/{cred_id}", admin=True)
    assert revoked == {"status": "revoked"}
    response = as_service(api, "GET", path, new, alice.id)
    expect_error(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")
    expect_error(as_service(api, "GET", "/v1/admin/audit", new), 401, "unauthenticated")
    again = api.ok("DELETE", f"/v1/admin/credentials/{cred_id}", admin=True)
    assert again == {"status": "already_revoked"}
    expect_error(
        api.call("POST", f"/v1/admin/credentials/{cred_id}/rotate", admin=True),
        404,
        "credential_not_found",
    )
    listed = api.ok("GET", "/v1/admin/credentials", admin=True)["credentials"]
    assert next(c for c in listed if c["id"] == cred_id)["revoked_at"] is not None


def test_minted_tokens_expire_on_the_test_clock(api: Api, actor: str) -> None:
    alice = api.create_user(uid("alice"))
    minted = as_service(
        api, "POST", f"/v1/users/{alice.id}/tokens", actor, json={"ttl_seconds": 60}
    )
    assert minted.status_code == 201, minted.text
    short = User(alice.id, minted.json()["token"])
    assert api.call("GET", f"/v1/users/{alice.id}/blocks", short).status_code == 200
    api.advance(60)
    response = api.call("GET", f"/v1/users/{alice.id}/blocks", short)
    expect_error(response, 401, "token_expired")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert api.call("GET", f"/v1/users/{alice.id}/blocks", alice).status_code == 200
    too_long = api.call(
        "POST", f"/v1/users/{alice.id}/tokens", admin=True, json={"ttl_seconds": 10**9}
    )
    expect_error(too_long, 422, "invalid_token_ttl")
    expect_error(api.call("POST", f"/v1/users/{uid()}/tokens", admin=True), 404, "user_not_found")


def test_listing_and_revoking_tokens(api: Api, actor: str) -> None:
    alice = api.create_user(uid("alice"))
    other = User(alice.id, api.ok("POST", f"/v1/users/{alice.id}/tokens", admin=True)["token"])
    third = api.ok("POST", f"/v1/users/{alice.id}/tokens", admin=True)
    tokens = api.ok("GET", f"/v1/users/{alice.id}/tokens", alice)["tokens"]
    assert len(tokens) == 3 and sum(t["current"] for t in tokens) == 1
    assert all(
        set(t) == {"id", "created_at", "last_used_at", "expires_at", "minted_by", "current"}
        for t in tokens
    )
    assert all(alice.token not in str(t) and other.token not in str(t) for t in tokens)
    assert api.ok("DELETE", f"/v1/users/{alice.id}/tokens/{third['id']}", alice) == {
        "status": "revoked"
    }
    expect_error(
        api.call("DELETE", f"/v1/users/{alice.id}/tokens/{third['id']}", alice),
        404,
        "token_not_found",
    )
    expect_error(
        as_service(
            api,
            "DELETE",
            f"/v1/users/{alice.id}/tokens",
            actor,
            alice.id,
            params={"keep": "current"},
        ),
        422,
        "no_current_token",
    )
    kept = api.ok("DELETE", f"/v1/users/{alice.id}/tokens", alice, params={"keep": "current"})
    assert kept == {"revoked": 1}
    expect_error(api.call("GET", f"/v1/users/{alice.id}/blocks", other), 401, "unauthenticated")
    listed = as_service(api, "GET", f"/v1/users/{alice.id}/tokens", actor, alice.id).json()
    assert [t["current"] for t in listed["tokens"]] == [False]
    everything = as_service(api, "DELETE", f"/v1/users/{alice.id}/tokens", actor, alice.id)
    assert everything.json() == {"revoked": 1}
    expect_error(api.call("GET", f"/v1/users/{alice.id}/blocks", alice), 401, "unauthenticated")


def test_the_document_offers_the_service_credential_where_it_is_taken(api: Api) -> None:
    doc = api.ok("GET", "/openapi.json")
    assert "serviceCredential" in doc["components"]["securitySchemes"]
    ops = {o["operationId"]: o for p in doc["paths"].values() for o in p.values()}

    def schemes(op: str) -> set[str]:
        return {k for s in ops[op]["security"] for k in s}

    assert schemes("contacts_delete") == {"userToken", "serviceCredential"}
    assert schemes("admin_audit") == {"adminKey", "serviceCredential"}
    assert schemes("users_issue_token") == {"adminKey", "serviceCredential"}
    assert any(p["name"] == ACT_AS for p in ops["contacts_delete"]["parameters"])


def test_an_erasure_for_a_user_and_profiles_through_a_credential(api: Api, actor: str) -> None:
    alice, bob = api.users("alice", "bob")
    api.befriend(alice, bob)
    profile = as_service(api, "GET", f"/v1/users/{bob.id}", actor)
    assert profile.json() == {"id": bob.id, "display_name": bob.id}
    erased = as_service(api, "DELETE", f"/v1/users/{alice.id}", actor, alice.id)
    assert erased.status_code in (200, 202), erased.text
    while api.ok("GET", f"/v1/admin/erasures/{alice.id}", admin=True)["status"] == "erasing":
        time.sleep(0.1)
    expect_error(api.call("GET", f"/v1/users/{alice.id}/blocks", alice), 401, "unauthenticated")
    # Finished by the worker, which does not yet know the credential that asked (issue 12's
    # closing note): the entries are there, without it.
    erasures = [e for e in api.audit(users=[bob.id]) if e["action"] == "account_erased"]
    assert erasures
