"""Progressive cleanup over HTTP, on a real `hushan serve` per backend: candidates, preview,
bulk removal, undo, their errors and idempotency, and the two worlds: nothing the remover
gets from any of them depends on whether a contact had silently removed them."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from hushan.client import ApiError, Client, ops
from tests.api_client import Api, User, expect_error, uid

_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
VARYING_HEADERS = {"date", "content-length", "x-request-id", "server"}


def cleanup(user: User, rest: str = "") -> str:
    return f"/v1/users/{user.id}/cleanup{rest}"


def crowd(api: Api, owner: User, n: int) -> list[User]:
    others = [api.create_user(uid(f"c{i}")) for i in range(n)]
    for other in others:
        api.befriend(owner, other)
    return others


def remove(api: Api, owner: User, contacts: list[str], **kw: Any) -> httpx.Response:
    return api.call("POST", cleanup(owner, "/batches"), owner, json={"contacts": contacts}, **kw)


@pytest.fixture(autouse=True)
def _no_errors(no_server_errors: None) -> None:
    """Whatever these tests send, the server never fails inside."""


def test_candidates_filter_and_page_by_cursor(api: Api) -> None:
    a = api.create_user()
    quiet, chatty, tagged = crowd(api, a, 3)
    api.message(a, quiet.id, "long ago")
    api.advance(200 * 86400)
    api.message(chatty, a.id, "lately")
    api.ok("PUT", f"/v1/users/{a.id}/contacts/{tagged.id}/tags/同事", a)

    def ids(**params: Any) -> list[str]:
        found = api.ok("GET", cleanup(a, "/candidates"), a, params=params)
        return [c["id"] for c in found["candidates"]]

    assert ids(no_messages_months=6) == sorted([quiet.id, tagged.id])
    assert ids(never_messaged="true") == [tagged.id]
    assert ids(tag="同事") == [tagged.id]
    assert ids(chat_only_candidates="true") == sorted([quiet.id, chatty.id])
    first = api.ok("GET", cleanup(a, "/candidates"), a, params={"limit": 2})
    assert len(first["candidates"]) == 2 and first["next"] is not None
    rest = api.ok("GET", cleanup(a, "/candidates"), a, params={"cursor": first["next"]})
    walked = [c["id"] for c in first["candidates"] + rest["candidates"]]
    assert walked == sorted(u.id for u in (quiet, chatty, tagged)) and rest["next"] is None
    shown = next(c for c in first["candidates"] + rest["candidates"] if c["id"] == tagged.id)
    assert shown["tags"] == ["同事"] and shown["layer"] == "full"
    assert shown["last_message_at"] is None


def test_candidates_refuse_bad_filters(api: Api) -> None:
    a = api.create_user()
    path = cleanup(a, "/candidates")
    expect_error(api.call("GET", path, a, params={"tag": " padded"}), 422, "invalid_tag")
    expect_error(api.call("GET", path, a, params={"no_messages_months": 0}), 422, "invalid_request")
    expect_error(api.call("GET", path, a, params={"months": 3}), 422, "unknown_query_parameter")
    expect_error(api.call("GET", path, a, params={"cursor": "nope"}), 422, "invalid_cursor")
    other = api.create_user()
    expect_error(api.call("GET", path, other), 403, "acting_as_other_user")


def test_preview_remove_and_undo(api: Api) -> None:
    a = api.create_user()
    others = crowd(api, a, 3)
    ids = [o.id for o in others]
    before = api.audit_seq()
    preview = api.ok("POST", cleanup(a, "/preview"), a, json={"contacts": [*ids, "ghost-x"]})
    assert [c["status"] for c in preview["contacts"]] == ["ready"] * 3 + ["user_not_found"]
    plan = preview["contacts"][0]["plan"]
    assert plan["parting"] == "one_way" and plan["told"] == "nothing"
    assert plan["restorable"] and plan["undo_until"] is not None
    assert preview["contacts"][3]["plan"] is None
    assert api.contacts(a) == ids  # a preview changes nothing
    assert api.audit_seq() == before

    response = remove(api, a, [*ids, "ghost-x"])
    assert response.status_code == 201, response.text
    batch = response.json()
    assert [c["status"] for c in batch["contacts"]] == ["removed"] * 3 + ["user_not_found"]
    assert [c["plan"]["parting"] for c in batch["contacts"][:3]] == ["one_way"] * 3
    assert api.contacts(a) == []
    removed = [e for e in api.audit(before) if e["action"] == "edge_removed"]
    assert sorted(e["b"] for e in removed) == ids

    undone = api.ok("POST", cleanup(a, f"/batches/{batch['id']}/undo"), a)
    expected = {**{i: "restored" for i in ids}, "ghost-x": "not_restorable"}
    assert [(c["other"], c["status"]) for c in undone["contacts"]] == sorted(expected.items())
    assert api.contacts(a) == ids
    assert {api.relation(a.id, i) for i in ids} == {"both_way"}
    again = api.call("POST", cleanup(a, f"/batches/{batch['id']}/undo"), a)
    expect_error(again, 409, "cleanup_already_undone")
    later = remove(api, a, ids[:1]).json()
    listed = api.ok("GET", cleanup(a, "/batches"), a, params={"limit": 1})
    assert [b["id"] for b in listed["batches"]] == [later["id"]] and listed["next"] is not None
    older = api.ok("GET", cleanup(a, "/batches"), a, params={"cursor": listed["next"]})
    (first,) = older["batches"]
    assert (first["id"], first["removed"], older["next"]) == (batch["id"], 3, None)
    assert first["undone_at"] is not None and listed["batches"][0]["undone_at"] is None
    expect_error(
        api.call("GET", cleanup(a, "/batches"), api.create_user()), 403, "acting_as_other_user"
    )


def test_bad_batches_have_stable_codes_and_change_nothing(api: Api) -> None:
    a = api.create_user()
    (b,) = crowd(api, a, 1)
    expect_error(remove(api, a, [f"x{i}" for i in range(201)]), 422, "too_many_contacts")
    expect_error(remove(api, a, [b.id, b.id]), 422, "duplicate_contacts")
    expect_error(remove(api, a, [b.id, a.id]), 422, "cannot_befriend_self")
    expect_error(remove(api, a, []), 422, "invalid_request")
    expect_error(remove(api, a, ["not an id"]), 422, "invalid_user_id")
    preview = api.call("POST", cleanup(a, "/preview"), a, json={"contacts": [b.id, b.id]})
    expect_error(preview, 422, "duplicate_contacts")
    assert api.contacts(a) == [b.id]
    stranger = api.create_user()
    batch = remove(api, a, [stranger.id]).json()
    assert batch["contacts"] == [{"other": stranger.id, "status": "not_in_contacts", "plan": None}]
    expect_error(
        api.call("POST", cleanup(a, "/batches/999999999/undo"), a), 404, "cleanup_batch_not_found"
    )
    someone_elses = api.call("POST", cleanup(stranger, f"/batches/{batch['id']}/undo"), stranger)
    expect_error(someone_elses, 404, "cleanup_batch_not_found")
    expect_error(api.call("POST", cleanup(a, "/batches/0/undo"), a), 422, "invalid_request")


def test_undo_after_the_window_is_refused(api: Api) -> None:
    a = api.create_user()
    (b,) = crowd(api, a, 1)
    batch = remove(api, a, [b.id]).json()
    api.advance(600)
    late = api.call("POST", cleanup(a, f"/batches/{batch['id']}/undo"), a)
    expect_error(late, 409, "undo_window_passed")
    assert api.contacts(a) == []


def test_a_keyed_removal_is_done_once_and_replayed(api: Api) -> None:
    a = api.create_user()
    others = [o.id for o in crowd(api, a, 2)]
    key = {"Idempotency-Key": uid("key")}
    first = remove(api, a, others, headers=key)
    second = remove(api, a, others, headers=key)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    reused = remove(api, a, others[:1], headers=key)
    expect_error(reused, 422, "idempotency_key_reused")
    removals = [e for e in api.audit(users=[a.id]) if e["action"] == "edge_removed"]
    assert len(removals) == 2
    undo = cleanup(a, f"/batches/{first.json()['id']}/undo")
    undo_key = {"Idempotency-Key": uid("undo")}
    once, twice = (api.call("POST", undo, a, headers=undo_key) for _ in range(2))
    assert once.status_code == twice.status_code == 200 and once.json() == twice.json()
    assert twice.headers["idempotent-replayed"] == "true"
    expect_error(api.call("POST", undo, a), 409, "cleanup_already_undone")  # a new key: run


def test_the_python_client_drives_a_cleanup(api: Api) -> None:
    a = api.create_user()
    others = [o.id for o in crowd(api, a, 2)]
    with Client(api.url, a.token) as client:
        found = client.send(ops.cleanup_candidates(a.id, never_messaged=True))
        assert [c["id"] for c in found["candidates"]] == others
        preview = client.send(ops.cleanup_preview(a.id, contacts=others))
        batch = client.send(ops.cleanup_remove(a.id, contacts=others))
        assert [c["plan"] for c in preview["contacts"]] != [] and batch["id"] > 0
        undone = client.send(ops.cleanup_undo(a.id, batch["id"]))
        assert {c["status"] for c in undone["contacts"]} == {"restored"}
        with pytest.raises(ApiError) as refused:
            client.send(ops.cleanup_undo(a.id, batch["id"]))
        assert (refused.value.status, refused.value.code) == (409, "cleanup_already_undone")


# ---- the two worlds --------------------------------------------------------------------------
def world(api: Api, removed: bool, grade: str) -> tuple[User, User, User]:
    """A with two contacts, B and C, who chatted and were tagged; in the removed world B
    silently removed A."""
    a, b, c = api.users("a", "b", "c")
    api.befriend(a, b)
    api.befriend(a, c)
    api.message(a, b.id, "hello B")
    api.message(b, a.id, "hello A")
    api.ok("PUT", f"/v1/users/{a.id}/contacts/{b.id}/tags/old", a)
    api.ok("PATCH", f"/v1/users/{a.id}/settings", a, json={"notice_grade": grade})
    if removed:
        assert api.delete(b, a.id) == "deleted"
    return a, b, c


def seen_by_a(api: Api, a: User, b: User, c: User) -> list[Any]:
    """Everything A gets from the cleanup, in order, made world-neutral (ids and times)."""
    answers: list[httpx.Response] = []
    for params in ({}, {"no_messages_months": 1}, {"never_messaged": "true"}, {"tag": "old"}):
        answers.append(api.call("GET", cleanup(a, "/candidates"), a, params=params))
    answers.append(
        api.call("GET", cleanup(a, "/candidates"), a, params={"chat_only_candidates": "true"})
    )
    contacts = {"contacts": [b.id, c.id]}
    answers.append(api.call("POST", cleanup(a, "/preview"), a, json=contacts))
    applied = api.call("POST", cleanup(a, "/batches"), a, json=contacts)
    answers.append(applied)
    answers.append(api.call("POST", cleanup(a, f"/batches/{applied.json()['id']}/undo"), a))
    answers.append(api.call("GET", cleanup(a, "/batches"), a))
    answers.append(api.call("GET", f"/v1/users/{a.id}/contacts", a))
    answers.append(api.call("GET", f"/v1/users/{a.id}/conversations/{b.id}/messages", a))
    return [shown(r, (a, b, c)) for r in answers]


def shown(response: httpx.Response, users: tuple[User, ...]) -> tuple[Any, ...]:
    text = response.text
    for user, name in zip(users, ("<A>", "<B>", "<C>"), strict=True):
        text = text.replace(user.id, name)
    body = json.loads(_TIME.sub("<time>", text))
    if isinstance(body, dict) and isinstance(body.get("id"), int):
        body["id"] = "<n>"
    if isinstance(body, dict) and "batches" in body:
        body["batches"] = [{**b, "id": "<n>"} for b in body["batches"]]
    if isinstance(body, dict) and "messages" in body:
        body["messages"] = [{**m, "id": "<n>"} for m in body["messages"]]
    headers = sorted((k, v) for k, v in response.headers.items() if k not in VARYING_HEADERS)
    return response.status_code, headers, body


@pytest.mark.parametrize("grade", ["silent", "on_contact", "notify"])
def test_a_cannot_tell_who_removed_them_by_cleaning_up(api: Api, grade: str) -> None:
    kept = seen_by_a(api, *world(api, removed=False, grade=grade))
    removed = seen_by_a(api, *world(api, removed=True, grade=grade))
    for step, (in_kept, in_removed) in enumerate(zip(kept, removed, strict=True)):
        assert in_kept == in_removed, f"step {step} tells A that B removed A"
    assert kept[5][2]["contacts"][0]["plan"]["parting"] == "one_way"
    assert kept[7][2]["contacts"][0]["status"] == "restored"


def test_a_removal_a_was_told_of_is_previewed_as_mutual(api: Api) -> None:
    a, b, _ = api.users("a", "b", "c")
    api.befriend(a, b)
    api.message(a, b.id, "hello")
    api.ok("PATCH", f"/v1/users/{b.id}/settings", b, json={"notice_grade": "notify"})
    api.delete(b, a.id)  # A gets a notice at once: A knows
    preview = api.ok("POST", cleanup(a, "/preview"), a, json={"contacts": [b.id]})
    plan = preview["contacts"][0]["plan"]
    assert plan["parting"] == "mutual" and plan["history_after"] == "buffered"
    assert plan["purge_at"] == plan["restorable_until"] is not None
    batch = remove(api, a, [b.id]).json()
    assert batch["contacts"][0]["plan"]["parting"] == "mutual"
    assert api.history(a, b.id)["state"] == "buffered"
    undone = api.ok("POST", cleanup(a, f"/batches/{batch['id']}/undo"), a)
    assert undone["contacts"][0]["status"] == "restored"
    assert api.history(a, b.id)["state"] == "active"
    assert api.relation(a.id, b.id) == "a_has_b"
