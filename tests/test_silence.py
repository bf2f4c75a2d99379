"""One-way delete is silent: after A removes B, every response B can obtain is byte-identical
to before, except the refusal of B's next message (README, "is B told")."""

from __future__ import annotations

from typing import Any

from hushan.api.paging import ROW_ID, encode
from tests.api_client import Api, User, expect_error

# A raw reply: the status and the exact bytes of the body.
Raw = tuple[int, bytes]


def b_view_calls(a: User, b: User, first_message_id: int) -> list[tuple[str, str, Any]]:
    """Every call B can make that reads, or that answers without changing anything,
    and that names A or could depend on A. (Messaging A is the one left out.)"""
    me = f"/v1/users/{b.id}"
    after_first = encode("messages", ROW_ID, first_message_id)
    return [
        ("GET", f"{me}/contacts", None),
        ("GET", f"{me}/requests?direction=incoming", None),
        ("GET", f"{me}/requests?direction=outgoing", None),
        ("GET", f"{me}/requests", None),
        ("GET", f"{me}/blocks", None),
        ("GET", f"/v1/users/{a.id}", None),
        ("GET", me, None),
        ("GET", f"{me}/conversations", None),
        ("GET", f"{me}/conversations/{a.id}/messages", None),
        ("GET", f"{me}/conversations/{a.id}/messages?cursor={after_first}&limit=1", None),
        ("GET", f"{me}/contacts?limit=1", None),
        ("GET", f"{me}/conversations/{a.id}/messages?limit=0", None),
        # Calls that answer without changing anything, or fail without changing anything.
        ("POST", f"{me}/requests/{a.id}/accept", None),
        ("POST", f"{me}/requests/{a.id}/reject", None),
        ("DELETE", f"{me}/blocks/{a.id}", None),
        ("PATCH", f"{me}/settings", {"verification_required": True}),
        ("POST", f"{me}/messages", {"to": a.id, "body": ""}),
        ("POST", f"{me}/messages", {"to": a.id, "body": "x" * 4097}),
        ("POST", f"{me}/requests", {"to": a.id, "message": "v" * 201}),
        ("POST", f"/v1/users/{a.id}/messages", {"to": b.id, "body": "forged"}),
        ("GET", f"/v1/users/{a.id}/contacts", None),
        ("GET", f"/v1/users/{a.id}/conversations/{b.id}/messages", None),
    ]


def capture(api: Api, b: User, calls: list[tuple[str, str, Any]]) -> list[Raw]:
    return [(r.status_code, r.content) for r in (api.call(m, p, b, json=j) for m, p, j in calls)]


def differences(
    calls: list[tuple[str, str, Any]], before: list[Raw], after: list[Raw]
) -> list[str]:
    return [
        f"{method} {path}: {old!r} -> {new!r}"
        for (method, path, _), old, new in zip(calls, before, after, strict=True)
        if old != new
    ]


def busy_pair(api: Api) -> tuple[User, User, int]:
    """A and B friends with a history both ways, and B with other lists that are not empty:
    a contact C, an outgoing request to D, an incoming one from E, a block of F."""
    a, b, c, d, e, f = api.users("a", "b", "c", "d", "e", "f")
    api.befriend(a, b)
    api.befriend(b, c)
    api.send_request(b, d.id, "hi D")
    api.send_request(e, b.id, "hi B")
    api.block(b, f.id)
    first = api.message(a, b.id, "hello B")
    api.message(b, a.id, "hello A")
    api.message(a, b.id, "how are you")
    api.message(b, c.id, "and you, C")
    return a, b, int(first["id"])


def test_every_response_b_can_get_is_byte_identical_after_a_removes_b(api: Api) -> None:
    a, b, first_id = busy_pair(api)
    calls = b_view_calls(a, b, first_id)
    before = capture(api, b, calls)
    assert capture(api, b, calls) == before  # the snapshot itself is stable

    assert api.delete(a, b.id) == "deleted"
    assert api.relation(a.id, b.id) == "b_has_a"  # A really did remove B

    found = differences(calls, before, capture(api, b, calls))
    assert found == [], "B can tell A removed B:\n" + "\n".join(found)


def test_the_message_refusal_is_the_signal_and_changes_nothing(api: Api) -> None:
    a, b, first_id = busy_pair(api)
    calls = b_view_calls(a, b, first_id)
    api.delete(a, b.id)
    after_delete = capture(api, b, calls)

    refused = api.send(b, a.id, "are you there?")
    expect_error(refused, 409, "recipient_removed_you")
    assert "对方开启了朋友验证" in refused.json()["error"]["message"]
    # The refusal stored nothing and changed nothing else B (or A) can see.
    found = differences(calls, after_delete, capture(api, b, calls))
    assert found == [], "the refusal changed:\n" + "\n".join(found)
    assert "are you there?" not in api.bodies(a, b.id)

    # Without A's delete the same message goes through: the refusal is what differs.
    a2, b2, _ = busy_pair(api)
    assert api.send(b2, a2.id, "are you there?").status_code == 201


def normalized(raw: Raw, a: User, b: User) -> Raw:
    status, body = raw
    return status, body.replace(a.id.encode(), b"<A>").replace(b.id.encode(), b"<B>")


def test_b_writes_toward_a_answer_the_same_as_if_a_had_not_removed_b(api: Api) -> None:
    """The writes B can make toward A, made in two worlds that differ only in A's delete:
    each answer must be the same bytes (user ids aside, which have the same length)."""
    kept_a, kept_b, _ = busy_pair(api)
    removed_a, removed_b, _ = busy_pair(api)
    assert api.delete(removed_a, removed_b.id) == "deleted"

    def steps(a: User, b: User) -> list[tuple[str, str, Any]]:
        me = f"/v1/users/{b.id}"
        return [
            ("PUT", f"{me}/blocks/{a.id}", None),
            ("DELETE", f"{me}/blocks/{a.id}", None),
            ("POST", f"{me}/requests", {"to": a.id, "message": "still friends?"}),
            ("POST", f"{me}/requests/{a.id}/accept", None),
            ("DELETE", f"{me}/contacts/{a.id}", None),
        ]

    kept_steps, removed_steps = steps(kept_a, kept_b), steps(removed_a, removed_b)
    kept = [normalized(r, kept_a, kept_b) for r in capture(api, kept_b, kept_steps)]
    removed = [normalized(r, removed_a, removed_b) for r in capture(api, removed_b, removed_steps)]
    found = differences(kept_steps, kept, removed)
    assert found == [], "B can tell A removed B:\n" + "\n".join(found)
