"""Two worlds (the contract): under the `silent` grade, for any sequence of B's own actions,
every answer B gets (status, headers, body, export) is the same whether or not A removed B,
apart from the documented exceptions.

Hypothesis drives two pairs side by side on a real server, on each backend: in one A removed
B, in the other nothing happened, and B does the same things in both. Ids and times are
normalised; everything else must be equal.

Left out of B's actions, each for a documented reason:
- messaging A: the refusal is the one sign of the removal (and, where the message goes
  through, the histories then differ by it): tests/test_silence.py covers it;
- B's own delete of A: in the removed world it makes the delete mutual, which buffers the
  history ("each learns only by their own action");
- B's request after B's own block-then-delete of A (a sequence is compared up to it): B has
  removed A, and re-adding someone who still has you succeeds at once (Rule 1), so B learns by
  their own action whether A kept them, as after a plain delete;
- the posts view and certificates, which the contract lists as exceptions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api_client import Api, User

# (name, method, path under /v1/users/{B}, body), with {A} for A's id.
STEPS: list[tuple[str, str, str, Any]] = [
    ("request", "POST", "/requests", {"to": "{A}", "message": "still there?"}),
    ("withdraw", "DELETE", "/requests/{A}", None),
    ("accept", "POST", "/requests/{A}/accept", None),
    ("reject", "POST", "/requests/{A}/reject", None),
    ("contacts", "GET", "/contacts", None),
    ("incoming", "GET", "/requests?direction=incoming", None),
    ("outgoing", "GET", "/requests?direction=outgoing", None),
    ("history", "GET", "/conversations/{A}/messages", None),
    ("chats", "GET", "/conversations", None),
    ("relation", "GET", "/relations/{A}", None),
    ("block", "PUT", "/blocks/{A}", None),
    ("unblock", "DELETE", "/blocks/{A}", None),
    ("block_delete", "POST", "/contacts/{A}/block-and-delete", None),
    ("verification_off", "PATCH", "/settings", {"verification_required": False}),
    ("verification_on", "PATCH", "/settings", {"verification_required": True}),
    ("propose", "POST", "/mutual-delete-proposals", {"to": "{A}", "message": "part?"}),
    ("withdraw_proposal", "DELETE", "/mutual-delete-proposals/{A}", None),
    ("proposals", "GET", "/mutual-delete-proposals", None),
    ("notices", "GET", "/notices", None),
    ("residue", "GET", "/data-residue", None),
    ("shared_groups", "GET", "/shared-groups/{A}", None),
    ("export", "GET", "/export", None),
]
# Headers that differ from one request to the next whatever the world.
VARYING_HEADERS = {"date", "content-length", "x-request-id", "server"}
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
_NUMBERED = re.compile(r"=\d+")
_NUMBER_KEYS = {"id", "seq", "request", "conversation", "conversation_id", "message_id", "cursor"}


@dataclass(frozen=True)
class World:
    a: User
    b: User
    c: User  # another contact of B's, so that B's lists are not empty


def make_world(api: Api, removed: bool, a_verifies: bool) -> World:
    a, b, c = api.users("a", "b", "c")
    api.befriend(a, b)
    api.befriend(b, c)
    if not a_verifies:
        api.ok("PATCH", f"/v1/users/{a.id}/settings", a, json={"verification_required": False})
    api.message(a, b.id, "hello B")
    api.message(b, a.id, "hello A")
    if removed:
        assert api.delete(a, b.id) == "deleted"
    return World(a, b, c)


def answer(api: Api, world: World, step: tuple[str, str, str, Any]) -> tuple[Any, ...]:
    """B's step in this world, as B sees it, with ids and times made world-neutral."""
    _, method, path, body = step
    names = {"{A}": world.a.id}
    for name, value in names.items():
        path = path.replace(name, value)
    if body is not None:
        body = json.loads(json.dumps(body).replace("{A}", world.a.id))
    response = api.call(method, f"/v1/users/{world.b.id}{path}", world.b, json=body)
    headers = sorted(
        (k, v) for k, v in response.headers.items() if k.lower() not in VARYING_HEADERS
    )
    return response.status_code, headers, neutral(response.content, world)


def neutral(content: bytes, world: World) -> Any:
    text = content.decode()
    for user, name in ((world.a, "<A>"), (world.b, "<B>"), (world.c, "<C>")):
        text = text.replace(user.id, name)
    text = _NUMBERED.sub("=<n>", _TIME.sub("<time>", text))
    try:
        return _without_numbers(json.loads(text))
    except json.JSONDecodeError:
        return text


def _without_numbers(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: "<n>" if k in _NUMBER_KEYS and isinstance(v, int) else _without_numbers(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_without_numbers(v) for v in value]
    return value


def before_own_re_add(steps: list[tuple[str, str, str, Any]]) -> list[tuple[str, str, str, Any]]:
    """The steps before B's first request that follows B's own block-then-delete of A."""
    for at, step in enumerate(steps):
        if step[0] == "request" and any(s[0] == "block_delete" for s in steps[:at]):
            return steps[:at]
    return steps


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    a_verifies=st.booleans(),
    steps=st.lists(st.sampled_from(STEPS), min_size=1, max_size=8),
)
def test_b_cannot_tell_a_silent_removal_by_anything_b_does(
    api: Api, a_verifies: bool, steps: list[tuple[str, str, str, Any]]
) -> None:
    kept = make_world(api, removed=False, a_verifies=a_verifies)
    removed = make_world(api, removed=True, a_verifies=a_verifies)
    steps = before_own_re_add(steps)
    for done, step in enumerate(steps, 1):
        in_kept, in_removed = answer(api, kept, step), answer(api, removed, step)
        taken = " -> ".join(s[0] for s in steps[:done])
        assert in_kept == in_removed, f"B can tell A removed B after {taken}"


def test_a_request_that_reaches_a_remover_leaves_nothing_in_the_senders_export(
    api: Api,
) -> None:
    """The issue's reproduction: B's request to A, who removed B, is answered
    `already_friends` as in the other world, and B's export is the same in both."""
    for a_verifies in (True, False):
        kept = make_world(api, removed=False, a_verifies=a_verifies)
        removed = make_world(api, removed=True, a_verifies=a_verifies)
        request = STEPS[0]
        export = next(s for s in STEPS if s[0] == "export")
        assert answer(api, kept, request) == answer(api, removed, request)
        assert answer(api, kept, export) == answer(api, removed, export)
        # It did reach A where A had removed B: A's verification, or A's list at once.
        if a_verifies:
            assert [r["from"] for r in api.requests(removed.a)] == [removed.b.id]
        else:
            assert removed.b.id in api.contacts(removed.a)
