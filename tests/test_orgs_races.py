"""Organisations' races between real processes, on each backend: an administrator's decision
on an approval against the deadline's sweep in another process, and a handover against the
departing member's own removal of a customer in another process. Each ends as one serial
order would leave it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api_client import Api, User, uid
from tests.conftest import Backends
from tests.server import Server

PAIRS = 16  # raced at once in each round
ROUNDS = 6


@pytest.fixture
def two_clocks(backend: Backends, tmp_path: Path) -> Iterator[tuple[Api, Api]]:
    """Two `serve` processes on one database, each with its own test clock."""
    env = {"HUSHAN_TEST_CLOCK": "1"}
    if (url := backend.own_database()) is not None:
        env["HUSHAN_DATABASE_URL"] = url
    first, second = Server(tmp_path, **env).start(), Server(tmp_path, **env).start()
    try:
        with Api(first.url) as one, Api(second.url) as two:
            yield one, two
        for server in (first, second):
            assert "Traceback" not in server.log()
    finally:
        first.stop()
        second.stop()


def all_at_once(calls: list[Callable[[], None]]) -> None:
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], None]) -> None:
        barrier.wait()
        call()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)


def organisation(api: Api, members: list[User]) -> tuple[str, User]:
    boss = api.create_user(uid("boss"))
    org = uid("org")
    api.ok("POST", "/v1/admin/orgs", admin=True, json={"id": org, "name": "Acme", "admin": boss.id})
    for member in members:
        path = f"/v1/admin/orgs/{org}/members/{member.id}"
        api.ok("PUT", path, admin=True, json={"work_id": member.id})
    return org, boss


def race_approvals_against_the_deadline(before: Api, after: Api) -> None:
    """PAIRS approvals opened on `before` and approved there while `after`, past their
    deadline, sweeps: each is decided once, by the administrator or by the deadline."""
    pairs = [before.users("ra", "rb") for _ in range(PAIRS)]
    org, boss = organisation(before, [u for pair in pairs for u in pair])
    start = before.audit_seq()
    for a, b in pairs:
        before.befriend(a, b)
        before.delete(a, b.id)
        before.delete(b, a.id)
    listed = before.ok("GET", f"/v1/users/{boss.id}/orgs/{org}/approvals", boss)["approvals"]
    assert len(listed) == PAIRS
    answers: dict[int, Any] = {}

    def approve(approval: int) -> Callable[[], None]:
        def call() -> None:
            path = f"/v1/users/{boss.id}/orgs/{org}/approvals/{approval}/approve"
            response = before.call("POST", path, boss)
            answers[approval] = (response.status_code, response.json())

        return call

    def sweep() -> None:
        after.sweep()

    all_at_once([approve(x["id"]) for x in listed] + [sweep])
    after.sweep()  # whatever the race left due
    entries = [e for e in before.audit(after=start) if e["action"].startswith("directory_change_")]
    final = before.ok("GET", f"/v1/users/{boss.id}/orgs/{org}/approvals?state=all", boss)
    states = {x["id"]: x["state"] for x in final["approvals"]}
    for approval in listed:
        pair = set(approval["pair"])
        steps = [e["action"] for e in entries if {e["a"], e["b"]} == pair]
        status, body = answers[approval["id"]]
        found = (status, body.get("state") or body["error"]["code"], states[approval["id"]], steps)
        assert found in (
            (200, "approved", "approved", ["directory_change_opened", "directory_change_approved"]),
            (
                409,
                "approval_already_decided",
                "applied",
                ["directory_change_opened", "directory_change_applied"],
            ),
        ), found


def test_an_approval_racing_its_deadline_in_another_process(
    two_clocks: tuple[Api, Api],
) -> None:
    """`after`'s clock is past the deadline of every approval `before` opens from now on."""
    before, after = two_clocks
    after.advance(24 * 3600 + 1)
    for _ in range(ROUNDS):
        race_approvals_against_the_deadline(before, after)


def race_handovers_against_own_removals(one: Api, two: Api) -> None:
    """PAIRS departing members, each with three customers: a handover of each starts on `one`
    while, on `two`, each member removes their first customer themselves. The removal always
    works, and a customer is offered to a successor only if the removal came after."""
    members = [one.create_user(uid("leaver")) for _ in range(PAIRS)]
    successor = one.create_user(uid("heir"))
    org, boss = organisation(one, [*members, successor])
    customers: dict[str, list[User]] = {}
    for member in members:
        customers[member.id] = [one.create_user(uid(f"k{n}")) for n in range(3)]
        for customer in customers[member.id]:
            one.befriend(member, customer)
    start = one.audit_seq()
    removed: list[str] = []

    def hand_over(member: User) -> Callable[[], None]:
        def call() -> None:
            body = {"member": member.id, "successors": [successor.id]}
            one.ok("POST", f"/v1/users/{boss.id}/orgs/{org}/handovers", boss, json=body)

        return call

    def remove_own(member: User) -> Callable[[], None]:
        def call() -> None:
            removed.append(two.delete(member, customers[member.id][0].id))

        return call

    all_at_once([hand_over(m) for m in members] + [remove_own(m) for m in members])
    assert removed == ["deleted"] * PAIRS  # the member's own removal is never refused
    entries = one.audit(after=start)
    for member in members:
        first = customers[member.id][0].id
        steps = [
            e["action"]
            for e in entries
            if {e["a"], e["b"]} == {member.id, first}
            and e["action"] in ("edge_removed", "handover_offered")
        ]
        # removed first and so not offered, or offered first and removed after: never an
        # offer of a customer the member had already removed
        assert steps in (["edge_removed"], ["handover_offered", "edge_removed"]), steps
        offered = [
            e["b"] if e["a"] == member.id else e["a"]
            for e in entries
            if e["action"] == "handover_offered" and member.id in (e["a"], e["b"])
        ]
        rest = [c.id for c in customers[member.id][1:]]
        assert sorted(offered) in (sorted(rest), sorted([first, *rest])), offered


def test_a_handover_racing_the_member_s_own_removal_in_another_process(
    two_clocks: tuple[Api, Api],
) -> None:
    one, two = two_clocks
    for _ in range(ROUNDS):
        race_handovers_against_own_removals(one, two)
