"""Organisations (design, "Enterprise link" and "Leaving a job"): a mutual delete between two
colleagues opens an approval for the directory change, due in 24 h and decided by an
administrator or by the deadline's policy; a handover moves a departing member's customers to
successors. Through real HTTP, as tables of steps, and in the engine on both backends."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hushan.clock import ManualClock, iso_utc
from hushan.domain.errors import (
    ApprovalAlreadyDecided,
    EscalationRoleRequired,
    HandoverInProgress,
    InvalidHandover,
    InvalidOrgName,
    NotOrgAdmin,
    NotOrgMember,
    OrgNotFound,
)
from hushan.domain.events import EventType
from hushan.domain.model import AuditAction
from hushan.domain.orgs import (
    AdminRole,
    Approval,
    ApprovalState,
    DeadlinePolicy,
    Decision,
    ItemState,
    assign,
    at_deadline,
    check_can_decide,
    check_org_name,
    check_successors,
)
from hushan.service import Hushan, Limits
from hushan.tlog.certificate import LegalBasis, verify
from tests.api_client import Api, User, expect_error, uid
from tests.conftest import Backends

HTTP = pytest.mark.usefixtures("no_server_errors")


# ---- the rules alone ---------------------------------------------------------------------------
def test_the_rules() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)

    def approval(state: ApprovalState) -> Approval:
        return Approval(1, "org", "a", "b", state, now, now, None, None)

    admins = {"boss": AdminRole.ADMIN, "chief": AdminRole.ESCALATION}
    check_can_decide(approval(ApprovalState.PENDING), "boss", admins)
    check_can_decide(approval(ApprovalState.PENDING), "chief", admins)
    check_can_decide(approval(ApprovalState.ESCALATED), "chief", admins)
    with pytest.raises(EscalationRoleRequired):
        check_can_decide(approval(ApprovalState.ESCALATED), "boss", admins)
    with pytest.raises(NotOrgAdmin):
        check_can_decide(approval(ApprovalState.PENDING), "a", admins)
    for done in (ApprovalState.APPROVED, ApprovalState.REJECTED, ApprovalState.APPLIED):
        with pytest.raises(ApprovalAlreadyDecided):
            check_can_decide(approval(done), "chief", admins)
    assert at_deadline(DeadlinePolicy.APPLY) is ApprovalState.APPLIED
    assert at_deadline(DeadlinePolicy.ESCALATE) is ApprovalState.ESCALATED
    assert assign(["c1", "c2", "c3"], ["s1", "s2"]) == [("c1", "s1"), ("c2", "s2"), ("c3", "s1")]
    members = {"m", "s1", "s2"}
    check_successors("m", ["s1", "s2"], members)
    for member, successors, why in (
        ("m", [], "Name one or more successors, each once."),
        ("m", ["s1", "s1"], "Name one or more successors, each once."),
        ("m", ["m"], "The departing member cannot be their own successor."),
        ("m", ["stranger"], "The successor stranger is not a member of the organisation."),
        ("outsider", ["s1"], "outsider is not a member of the organisation."),
    ):
        with pytest.raises(InvalidHandover) as refused:
            check_successors(member, successors, members)
        assert str(refused.value) == why
    assert check_org_name("名" * 64) == "名" * 64
    for wrong in ("", " padded", "x" * 65):
        with pytest.raises(InvalidOrgName):
            check_org_name(wrong)


# ---- the engine, on both backends ---------------------------------------------------------
def colleagues(engine: Hushan, *users: str, verifying: tuple[str, ...] = ()) -> None:
    """`boss` runs the organisation, `chief` is its escalation role, `users` its members (those
    `verifying` verify their friend requests; the others take them at once)."""
    for user in ("boss", "chief", *users):
        engine.create_user(user, verification_required=user in verifying)
    engine.create_org("acme", "Acme 公司", "boss")
    engine.set_org_admin("acme", "chief", AdminRole.ESCALATION)
    for user in users:
        engine.add_org_member("acme", user, f"w-{user}")


def befriend(engine: Hushan, a: str, b: str) -> None:
    engine.send_request(a, b)  # verification is off: friends at once


def certified(engine: Hushan, a: str, b: str) -> dict[str, Any]:
    """The pair's certificate, checked offline: the log's entries replay to the live state."""
    data = engine.log.certificate(a, b, LegalBasis.USER_REQUEST)
    claims: dict[str, Any] = verify(data, engine.log.signer.verifier).claims
    return claims


def directory(engine: Hushan, viewer: str) -> list[str]:
    return [m.user for m in engine.directory_view(viewer, "acme")]


def actions(engine: Hushan, a: str, b: str) -> list[AuditAction]:
    return [e.action for e in engine.audit_log(0, 10_000) if {e.user_a, e.user_b} == {a, b}]


def test_each_way_to_part_opens_one_approval_and_the_parting_never_waits(engine: Hushan) -> None:
    colleagues(engine, "a", "b", "c", "d")
    befriend(engine, "a", "b")
    engine.delete_contact("a", "b")
    engine.delete_contact("b", "a")  # mutual
    befriend(engine, "a", "c")
    engine.block_and_delete("a", "c")  # block-then-delete
    befriend(engine, "b", "d")
    engine.propose_mutual_delete("b", "d")
    engine.accept_mutual_delete("d", "b")  # agreed
    befriend(engine, "c", "d")
    engine.delete_contact("c", "d")  # one-way: nothing for the directory
    found = engine.org_approvals("boss", "acme", open_only=True)
    assert sorted(tuple(sorted((x.user_a, x.user_b))) for x in found) == [
        ("a", "b"),
        ("a", "c"),
        ("b", "d"),
    ]
    assert {x.state for x in found} == {ApprovalState.PENDING}
    assert [r.relation.value for r in engine.relation_check([("a", "b"), ("b", "d")])] == [
        "none",
        "none",
    ]
    assert directory(engine, "a") == ["b", "c", "d"]  # only the directory waits
    entry = next(e for e in engine.audit_log(0, 10_000) if e.action.value.startswith("directory"))
    assert entry.actor == "system" and "org=acme" in entry.detail
    for a, b in (("a", "b"), ("a", "c"), ("b", "d")):
        assert actions(engine, a, b).count(AuditAction.DIRECTORY_CHANGE_OPENED) == 1
        certified(engine, a, b)
    # the administrators are told, each of them
    for admin in ("boss", "chief"):
        kinds = Counter(n.kind.value for n in engine.notices(admin))
        assert kinds["directory_change"] == 3
    # and webhook subscribers, through the outbox, as of every audit entry
    with engine.store.read() as tx:
        events = Counter(e.type for e in tx.outbox_after(0, 10_000))
    assert events[EventType.DIRECTORY_CHANGE_OPENED] == 3


def test_approve_reject_and_the_deadline_apply(engine: Hushan, clock: ManualClock) -> None:
    colleagues(engine, "a", "b", "c")
    for x, y in (("a", "b"), ("a", "c"), ("b", "c")):
        befriend(engine, x, y)
        engine.delete_contact(x, y)
        engine.delete_contact(y, x)
    ab, ac, bc = sorted(engine.org_approvals("boss", "acme", True), key=lambda x: x.id)
    with pytest.raises(NotOrgAdmin):
        engine.decide_approval("a", "acme", ab.id, Decision.APPROVE)
    assert engine.decide_approval("boss", "acme", ab.id, Decision.APPROVE).state.value == (
        "approved"
    )
    with pytest.raises(ApprovalAlreadyDecided):
        engine.decide_approval("chief", "acme", ab.id, Decision.REJECT)
    engine.decide_approval("chief", "acme", ac.id, Decision.REJECT)
    assert directory(engine, "a") == ["c"] and directory(engine, "b") == ["c"]
    clock.advance(timedelta(hours=23, minutes=59))
    assert engine.sweep().approvals_due == 0
    clock.advance(timedelta(minutes=1))
    assert engine.sweep().approvals_due == 1  # b-c, by the deadline's policy (apply)
    assert engine.sweep().approvals_due == 0
    assert directory(engine, "b") == [] and directory(engine, "c") == ["a"]
    assert actions(engine, "b", "c")[-1] is AuditAction.DIRECTORY_CHANGE_APPLIED
    for a, b in (("a", "b"), ("a", "c"), ("b", "c")):
        certified(engine, a, b)
    # parting again after the change applied opens nothing more; after a rejection, it does
    for x, y in (("a", "b"), ("a", "c")):
        befriend(engine, x, y)
        engine.delete_contact(x, y)
        engine.delete_contact(y, x)
    reopened = engine.org_approvals("boss", "acme", True)
    assert [tuple(sorted((x.user_a, x.user_b))) for x in reopened] == [("a", "c")]


def test_the_escalate_policy_leaves_it_to_the_escalation_role(backend: Backends) -> None:
    engine = backend.engine(Limits(enterprise_deadline_policy=DeadlinePolicy.ESCALATE))
    assert isinstance(engine.clock, ManualClock)
    colleagues(engine, "a", "b")
    befriend(engine, "a", "b")
    engine.delete_contact("a", "b")
    engine.delete_contact("b", "a")
    engine.clock.advance(timedelta(hours=24))
    assert engine.sweep().approvals_due == 1
    (approval,) = engine.org_approvals("boss", "acme", True)
    assert approval.state is ApprovalState.ESCALATED
    assert directory(engine, "a") == ["b"]  # escalated is not applied
    with pytest.raises(EscalationRoleRequired):
        engine.decide_approval("boss", "acme", approval.id, Decision.APPROVE)
    engine.decide_approval("chief", "acme", approval.id, Decision.APPROVE)
    assert directory(engine, "a") == []
    # only the escalation role was told of the escalation
    told = {
        admin: [n.detail.split()[0] for n in engine.notices(admin)] for admin in ("boss", "chief")
    }
    assert "directory_change_escalated" in told["chief"]
    assert "directory_change_escalated" not in told["boss"]
    certified(engine, "a", "b")


def test_a_handover_moves_declines_and_lapses(engine: Hushan, clock: ManualClock) -> None:
    colleagues(engine, "leaver", "s1", "s2", verifying=("s1", "s2"))
    customers = ["k1", "k2", "k3", "k4"]
    for customer in customers:
        engine.create_user(customer, verification_required=False)
        befriend(engine, "leaver", customer)
    engine.send_request("leaver", "s1")
    engine.accept_request("s1", "leaver")  # a colleague: no customer
    engine.send_message("leaver", "k1", "the order is late")
    handover = engine.start_handover("boss", "acme", "leaver", ["s1", "s2"])
    assert [(i.customer, i.successor) for i in handover.items] == [
        ("k1", "s1"),
        ("k2", "s2"),
        ("k3", "s1"),
        ("k4", "s2"),
    ]
    assert [i.open_conversation for i in handover.items] == [True, False, False, False]
    with pytest.raises(HandoverInProgress):
        engine.start_handover("boss", "acme", "leaver", ["s1"])
    with pytest.raises(HandoverInProgress):
        engine.remove_work_contacts("boss", "acme", "leaver")
    assert engine.notices("k1")[0].kind.value == "handover_offered"
    engine.answer_handover("k1", handover.id, accept=True)
    engine.answer_handover("k2", handover.id, accept=False)
    (request,) = engine.list_requests("s1", incoming=True)
    assert request.from_id == "k1" and "Handover from leaver at Acme 公司" in request.message
    # the member's own removal is never refused, handover or not
    assert engine.delete_contact("leaver", "k3").value == "deleted"
    clock.advance(timedelta(days=7))
    assert engine.sweep().handovers_ended == 1
    report = engine.handover_report("boss", "acme", handover.id)
    assert report.of_state(ItemState.ACCEPTED) == ["k1"]
    assert report.of_state(ItemState.DECLINED) == ["k2"]
    assert report.of_state(ItemState.UNANSWERED) == ["k3", "k4"]
    assert engine.remove_work_contacts("boss", "acme", "leaver") == 3  # k1, k2, k4
    assert [c.user_id for c in engine.list_contacts("leaver")] == ["s1"]
    for customer in customers:
        certified(engine, "leaver", customer)
    certified(engine, "k1", "s1")


# ---- through real HTTP, as tables of steps ------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One call: `actor` is a person of the table, or "deployment" (the admin key); `method`
    an HTTP method, or ACT (a relationship step through its own endpoint), ADVANCE (the test
    clock, `path` in hours) or SWEEP. `path` is filled with the people's ids, `{org}` and `{last}`
    (the newest approval, or handover); `result` is the reply's `status`, an error's code, or
    the reply as `view` shows it."""

    actor: str
    method: str
    path: str
    status: int = 200
    result: Any = None
    body: dict[str, Any] | None = None


def ids(*names: str) -> list[str]:
    return list(names)


ORG_BODY = {"id": "{org}", "name": "Acme 公司", "admin": "{boss}"}
APPROVALS = [
    Step("deployment", "POST", "orgs", 201, None, ORG_BODY),
    Step("deployment", "POST", "orgs", 409, "org_exists", ORG_BODY),
    Step("deployment", "POST", "orgs", 422, "invalid_org_name", ORG_BODY | {"name": " padded"}),
    Step("deployment", "POST", "orgs", 404, "user_not_found", ORG_BODY | {"admin": "{nobody}"}),
    Step("deployment", "PUT", "orgs/{org}/admins/{chief}", 200, "bound", {"role": "escalation"}),
    Step(
        "deployment",
        "PUT",
        "orgs/{org}/admins/{chief}",
        200,
        "already_bound",
        {"role": "escalation"},
    ),
    Step(
        "deployment", "PUT", "orgs/{org}/admins/{chief}", 422, "invalid_request", {"role": "owner"}
    ),
    Step("deployment", "PUT", "orgs/{org}/members/{a}", 200, "added", {"work_id": "w-a"}),
    Step("deployment", "PUT", "orgs/{org}/members/{a}", 200, "already_member", {"work_id": "w-a"}),
    Step("deployment", "PUT", "orgs/{org}/members/{b}", 409, "work_id_taken", {"work_id": "w-a"}),
    Step("deployment", "PUT", "orgs/{org}/members/{b}", 422, "invalid_user_id", {"work_id": "w a"}),
    Step("deployment", "PUT", "orgs/{org}/members/{b}", 200, "added", {"work_id": "w-b"}),
    Step("deployment", "PUT", "orgs/{org}/members/{c}", 200, "added", {"work_id": "w-c"}),
    Step("deployment", "PUT", "orgs/{nobody}/members/{c}", 404, "org_not_found", {"work_id": "w"}),
    Step("a", "GET", "orgs/{org}/directory", 200, ids("b", "c")),
    Step("x", "GET", "orgs/{org}/directory", 404, "not_org_member"),
    # a and b part (a mutual delete): their relationship goes at once, the directory waits
    Step("a", "ACT", "befriend b"),
    Step("a", "ACT", "delete b"),
    Step("b", "ACT", "delete a"),
    Step("a", "ACT", "relation b", 200, "none"),
    Step("a", "GET", "orgs/{org}/directory", 200, ids("b", "c")),
    Step("boss", "GET", "orgs/{org}/approvals", 200, [("a", "b", "pending")]),
    Step("a", "GET", "orgs/{org}/approvals", 409, "not_org_admin"),
    Step("a", "POST", "orgs/{org}/approvals/{last}/approve", 409, "not_org_admin"),
    Step("boss", "POST", "orgs/{org}/approvals/{last}/approve", 200, "approved"),
    Step("chief", "POST", "orgs/{org}/approvals/{last}/reject", 409, "approval_already_decided"),
    Step("a", "GET", "orgs/{org}/directory", 200, ids("c")),
    Step("b", "GET", "orgs/{org}/directory", 200, ids("c")),
    Step("c", "GET", "orgs/{org}/directory", 200, ids("a", "b")),
    # a block-then-delete opens one too; rejected, the directory stays as it was
    Step("a", "ACT", "befriend c"),
    Step("a", "ACT", "block_delete c"),
    Step("boss", "GET", "orgs/{org}/approvals", 200, [("a", "c", "pending")]),
    Step("boss", "POST", "orgs/{org}/approvals/{last}/reject", 200, "rejected"),
    Step("a", "GET", "orgs/{org}/directory", 200, ids("c")),
    # an agreed mutual delete, left to the deadline: the deployment's policy (apply) acts
    Step("b", "ACT", "befriend c"),
    Step("b", "ACT", "propose c"),
    Step("c", "ACT", "accept_proposal b"),
    Step("deployment", "ADVANCE", "23.99"),
    Step("deployment", "SWEEP", "", 200, (0, 0)),
    Step("deployment", "ADVANCE", "0.01"),
    Step("deployment", "SWEEP", "", 200, (1, 0)),
    Step("deployment", "SWEEP", "", 200, (0, 0)),
    Step("boss", "POST", "orgs/{org}/approvals/{last}/approve", 409, "approval_already_decided"),
    Step(
        "boss",
        "GET",
        "orgs/{org}/approvals?state=all",
        200,
        [("a", "b", "approved"), ("a", "c", "rejected"), ("b", "c", "applied")],
    ),
    Step("boss", "GET", "orgs/{org}/approvals", 200, []),
    Step("b", "GET", "orgs/{org}/directory", 200, []),
    Step("c", "GET", "orgs/{org}/directory", 200, ids("a")),
    Step("boss", "POST", "orgs/{org}/approvals/999999999/approve", 404, "approval_not_found"),
    Step("boss", "POST", "orgs/{org}/approvals/0/approve", 422, "invalid_request"),
    Step("boss", "GET", "orgs/{nobody}/approvals", 404, "org_not_found"),
]

HANDOVER = [
    Step("deployment", "POST", "orgs", 201, None, ORG_BODY),
    *(
        Step("deployment", "PUT", f"orgs/{{org}}/members/{{{m}}}", 200, "added", {"work_id": m})
        for m in ("leaver", "s1", "s2")
    ),
    Step("leaver", "ACT", "befriend s1"),  # a colleague: not a customer
    *(Step("leaver", "ACT", f"befriend {k}") for k in ("k1", "k2", "k3")),
    Step("leaver", "ACT", "message k1"),
    Step(
        "leaver",
        "POST",
        "orgs/{org}/handovers",
        409,
        "not_org_admin",
        {"member": "{leaver}", "successors": ["{s1}"]},
    ),
    Step(
        "boss",
        "POST",
        "orgs/{org}/handovers",
        422,
        "invalid_handover",
        {"member": "{leaver}", "successors": ["{leaver}"]},
    ),
    Step(
        "boss",
        "POST",
        "orgs/{org}/handovers",
        422,
        "invalid_handover",
        {"member": "{leaver}", "successors": ["{k1}"]},
    ),
    Step(
        "boss",
        "POST",
        "orgs/{org}/handovers",
        422,
        "invalid_handover",
        {"member": "{k1}", "successors": ["{s1}"]},
    ),
    Step(
        "boss",
        "POST",
        "orgs/{org}/handovers",
        422,
        "invalid_request",
        {"member": "{leaver}", "successors": []},
    ),
    Step(
        "boss",
        "POST",
        "orgs/{org}/handovers",
        201,
        {
            "items": [("k1", "s1", True), ("k2", "s2", False), ("k3", "s1", False)],
            "report": {
                "moved": [],
                "declined": [],
                "unanswered": [],
                "waiting": ["k1", "k2", "k3"],
            },
        },
        {"member": "{leaver}", "successors": ["{s1}", "{s2}"]},
    ),
    Step(
        "boss",
        "POST",
        "orgs/{org}/handovers",
        409,
        "handover_in_progress",
        {"member": "{leaver}", "successors": ["{s1}"]},
    ),
    Step(
        "boss",
        "POST",
        "orgs/{org}/members/{leaver}/remove-work-contacts",
        409,
        "handover_in_progress",
    ),
    Step("k1", "GET", "handovers", 200, [("s1", "offered")]),
    Step("k1", "ACT", "notices", 200, ["handover_offered"]),
    Step("x", "POST", "handovers/{last}/accept", 404, "handover_not_found"),
    Step("k1", "POST", "handovers/{last}/accept", 200, "accepted"),
    Step("k1", "POST", "handovers/{last}/decline", 409, "handover_already_answered"),
    Step("k2", "POST", "handovers/{last}/decline", 200, "declined"),
    Step("s1", "ACT", "requests", 200, ["k1"]),  # from k1, the handover its message
    # the member's own removal is never refused, handover or not
    Step("leaver", "ACT", "delete k3"),
    Step(
        "boss",
        "GET",
        "orgs/{org}/handovers/{last}",
        200,
        {
            "items": [("k1", "s1", True), ("k2", "s2", False), ("k3", "s1", False)],
            "report": {"moved": ["k1"], "declined": ["k2"], "unanswered": [], "waiting": ["k3"]},
        },
    ),
    Step("deployment", "ADVANCE", str(7 * 24)),
    Step("deployment", "SWEEP", "", 200, (0, 1)),
    Step("k3", "POST", "handovers/{last}/accept", 409, "handover_already_answered"),
    Step(
        "boss",
        "GET",
        "orgs/{org}/handovers/{last}",
        200,
        {
            "items": [("k1", "s1", True), ("k2", "s2", False), ("k3", "s1", False)],
            "report": {"moved": ["k1"], "declined": ["k2"], "unanswered": ["k3"], "waiting": []},
        },
    ),
    Step("boss", "POST", "orgs/{org}/members/{leaver}/remove-work-contacts", 200, 2),
    Step("leaver", "ACT", "contacts", 200, ["s1"]),
    Step("boss", "GET", "orgs/{org}/handovers/999999999", 404, "handover_not_found"),
]


class Table:
    """Runs a table's steps against one server, for a cast of fresh users."""

    def __init__(self, api: Api, names: list[str]) -> None:
        self.api = api
        self.people: dict[str, User] = {name: api.create_user(uid(name)) for name in names}
        self.names = {user.id: name for name, user in self.people.items()}
        self.fill = {name: user.id for name, user in self.people.items()}
        self.fill |= {"org": uid("org"), "nobody": uid("nobody")}
        self.last: int | None = None

    def text(self, value: Any) -> Any:
        if isinstance(value, str):
            return value.format(**self.fill, last=self.last)
        if isinstance(value, list):
            return [self.text(v) for v in value]
        if isinstance(value, dict):
            return {k: self.text(v) for k, v in value.items()}
        return value

    def run(self, steps: list[Step]) -> None:
        for step in steps:
            response = self.call(step)
            if response is None:
                continue
            status, body = response
            if step.status >= 400:
                assert (status, body["error"]["code"]) == (step.status, step.result), (step, body)
                continue
            assert status == step.status, (step, body)
            if step.result is not None:
                assert self.view(body) == step.result, (step, body)

    def call(self, step: Step) -> tuple[int, Any] | None:
        api = self.api
        if step.method == "ADVANCE":
            api.advance(float(step.path) * 3600)
            return None
        if step.method == "SWEEP":
            return 200, api.sweep()
        if step.method == "ACT":
            return self.act(step)
        path, body = self.text(step.path), self.text(step.body)
        if step.actor == "deployment":
            response = api.call(step.method, f"/v1/admin/{path}", admin=True, json=body)
        else:
            user = self.people[step.actor]
            response = api.call(step.method, f"/v1/users/{user.id}/{path}", user, json=body)
        found = response.json()
        if response.status_code in (200, 201) and isinstance(found.get("id"), int):
            self.last = found["id"]
        if isinstance(found, dict) and found.get("approvals"):
            self.last = found["approvals"][-1]["id"]
        if isinstance(found, dict) and found.get("handovers"):
            self.last = found["handovers"][-1]["id"]
        return response.status_code, found

    def act(self, step: Step) -> tuple[int, Any] | None:
        api, me = self.api, self.people[step.actor]
        verb, _, other_name = step.path.partition(" ")
        other = self.people[other_name] if other_name else me
        proposals = f"/v1/users/{me.id}/mutual-delete-proposals"
        if verb == "befriend":
            api.befriend(me, other)
        elif verb == "delete":
            assert api.delete(me, other.id) == "deleted"
        elif verb == "block_delete":
            api.block_and_delete(me, other.id)
        elif verb == "propose":
            api.ok("POST", proposals, me, json={"to": other.id})
        elif verb == "accept_proposal":
            api.ok("POST", f"{proposals}/{other.id}/accept", me)
        elif verb == "message":
            api.message(me, other.id, "the order is late")
        elif verb == "relation":
            return 200, {"status": api.relation(me.id, other.id)}
        elif verb == "notices":
            found = api.ok("GET", f"/v1/users/{me.id}/notices", me)["notices"]
            return 200, {"kinds": [n["kind"] for n in found]}
        elif verb == "requests":
            found = api.requests(me)
            assert all("Handover from" in r["message"] for r in found), found
            return 200, {"from": [r["from"] for r in found]}
        elif verb == "contacts":
            return 200, {"contacts": api.contacts(me)}
        else:
            raise AssertionError(verb)
        return None

    def view(self, body: Any) -> Any:
        """The reply, with ids as the table's names."""

        def name(user: str) -> str:
            return self.names.get(user, user)

        if "status" in body:
            return body["status"]
        if "pair" in body:  # an approval
            return body["state"]
        if "members" in body:
            return [name(m["id"]) for m in body["members"]]
        if "approvals" in body:
            return [(*sorted(map(name, a["pair"])), a["state"]) for a in body["approvals"]]
        if "report" in body:
            return {
                "items": [
                    (name(i["customer"]), name(i["successor"]), i["open_conversation"])
                    for i in body["items"]
                ],
                "report": {k: [name(u) for u in v] for k, v in body["report"].items()},
            }
        if "handovers" in body:
            return [
                (name(i["successor"]), i["state"]) for h in body["handovers"] for i in h["items"]
            ]
        if "approvals_due" in body:
            return (body["approvals_due"], body["handovers_ended"])
        for key in ("kinds", "removed"):
            if key in body:
                return body[key]
        for key in ("from", "contacts"):
            if key in body:
                return [name(u) for u in body[key]]
        raise AssertionError(body)


@HTTP
def test_enterprise_link_approvals_over_http(api: Api) -> None:
    table = Table(api, ["boss", "chief", "a", "b", "c", "x"])
    start = api.audit_seq()
    table.run(APPROVALS)
    # every step is in the audit log (and so in the transparency log), the system its actor
    people = table.people
    steps = [
        (e["action"], e["actor"], sorted(table.names[u] for u in (e["a"], e["b"])))
        for e in api.audit(after=start)
        if e["action"].startswith("directory_change")
    ]
    assert steps == [
        ("directory_change_opened", "system", ["a", "b"]),
        ("directory_change_approved", "system", ["a", "b"]),
        ("directory_change_opened", "system", ["a", "c"]),
        ("directory_change_rejected", "system", ["a", "c"]),
        ("directory_change_opened", "system", ["b", "c"]),
        ("directory_change_applied", "system", ["b", "c"]),
    ]
    # the administrators are told of each step
    for admin in ("boss", "chief"):
        user = people[admin]
        found = api.ok("GET", f"/v1/users/{user.id}/notices", user)["notices"]
        assert [n["kind"] for n in found] == ["directory_change"] * 6
        assert found[1]["detail"].startswith("directory_change_approved org=")
    decided = [e for e in api.audit(after=start) if e["action"] == "directory_change_approved"]
    assert decided[0]["detail"].endswith(" by=admin")  # the role: the approval names who


@HTTP
def test_a_handover_over_http(api: Api) -> None:
    table = Table(api, ["boss", "leaver", "s1", "s2", "k1", "k2", "k3", "x"])
    start = api.audit_seq()
    table.run(HANDOVER)
    leaver = table.people["leaver"].id
    steps = Counter(
        (e["action"], e["actor"] if e["actor"] == "system" else table.names[e["actor"]])
        for e in api.audit(after=start, users=[leaver])
        if e["action"].startswith("handover")
    )
    assert steps == {
        ("handover_offered", "system"): 3,
        ("handover_accepted", "k1"): 1,
        ("handover_declined", "k2"): 1,
        ("handover_unanswered", "system"): 1,
    }


ORG_TABLES = ("org_members", "org_admins", "org_hidden", "org_approvals", "handovers")


def test_an_erasure_leaves_no_id_in_the_organisation_s_tables(engine: Hushan) -> None:
    colleagues(engine, "a", "b", "c", "s")
    engine.create_user("k", verification_required=False)
    for x, y in (("a", "b"), ("a", "c")):
        befriend(engine, x, y)
        engine.delete_contact(x, y)
        engine.delete_contact(y, x)
    first = min(x.id for x in engine.org_approvals("boss", "acme", True))
    engine.decide_approval("boss", "acme", first, Decision.APPROVE)  # a and b hidden
    befriend(engine, "a", "k")
    befriend(engine, "c", "k")
    engine.start_handover("boss", "acme", "a", ["s"])  # a leaves; k their customer
    engine.start_handover("boss", "acme", "c", ["s"])
    for user in ("a", "boss"):
        engine.erase_account(user)
    rows = [row for table in ORG_TABLES for row in engine.store.dump_rows(table)]
    rows += list(engine.store.dump_rows("handover_items"))
    assert rows and not [row for row in rows if {"a", "boss"} & set(map(str, row))]
    assert directory(engine, "b") == ["c", "s"]
    assert engine.org_admins("acme")[0].user == "chief"  # the second line remains


def test_the_operator_s_commands(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hushan.bootstrap import build
    from hushan.cli import app
    from hushan.config import Settings

    db = str(tmp_path / "cli.db")
    engine = build(Settings(database_url=f"sqlite:///{db}"))
    for user in ("boss", "chief", "a", "b"):
        engine.create_user(user)
    engine.store.close()

    def invoke(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["orgs", *args, "--db", db])
        return result.exit_code, result.output

    assert invoke("create", "acme", "Acme", "boss") == (0, "created acme, run by boss\n")
    assert invoke("create", "acme", "Acme", "boss")[1].count("org_exists") == 1
    assert invoke("admin", "acme", "chief", "--role", "escalation")[0] == 0
    assert "(already)" in invoke("admin", "acme", "chief", "--role", "escalation")[1]
    assert invoke("member", "acme", "a", "w-1") == (0, "a: w-1 in acme\n")
    code, out = invoke("member", "acme", "b", "w-1")
    assert code == 1 and "work_id_taken" in out
    assert invoke("member", "acme", "b", "w-2")[0] == 0
    assert invoke("member-remove", "acme", "b") == (0, "b: removed from acme\n")
    assert invoke("member-remove", "acme", "b") == (0, "b: not a member of acme\n")
    code, out = invoke("member-remove", "nowhere", "b")
    assert code == 1 and "org_not_found" in out
    engine = build(Settings(database_url=f"sqlite:///{db}"))
    try:
        admins = {a.user: a.role for a in engine.org_admins("acme")}
        assert admins == {"boss": AdminRole.ADMIN, "chief": AdminRole.ESCALATION}
        assert [m.user for m in engine.directory_view("a", "acme")] == []
        for user in ("c", "d"):
            engine.create_user(user, verification_required=False)
            engine.add_org_member("acme", user, f"w-{user}")
            parted(engine, "a", user)
        first, second = engine.deployment_approvals("acme", open_only=True)
        assert engine.org_approvals("boss", "acme", True) == [first, second]
        engine.decide_approval("boss", "acme", first.id, Decision.REJECT)
    finally:
        engine.store.close()
    code, out = invoke("approvals", "acme")
    assert code == 0 and out.splitlines() == [
        f"{second.id}  pending  a,d  opened={iso_utc(second.opened_at)}"
        f"  due={iso_utc(second.due_at)}"
    ]
    code, out = invoke("approvals", "acme", "--all")
    assert code == 0 and [line.split("  ")[:3] for line in out.splitlines()] == [
        [str(first.id), "rejected", "a,c"],
        [str(second.id), "pending", "a,d"],
    ]
    assert out.splitlines()[0].endswith("  by=boss")
    code, out = invoke("approvals", "nowhere")
    assert code == 1 and "org_not_found" in out


# ---- paging: the directory, the approvals and a customer's handovers ----------------------------
def parted(engine: Hushan, a: str, b: str) -> None:
    """The two colleagues delete each other: an approval opens."""
    befriend(engine, a, b)
    engine.delete_contact(a, b)
    engine.delete_contact(b, a)


def test_the_organisation_s_lists_page_in_the_engine(engine: Hushan) -> None:
    colleagues(engine, "a", "b", "c", "d", "e", "f")
    engine.create_user("k", verification_required=False)
    seen = [m.work_id for m in engine.directory_view("a", "acme")]
    assert seen == ["w-b", "w-c", "w-d", "w-e", "w-f"]
    assert [m.work_id for m in engine.directory_view("a", "acme", "w-c", 2)] == ["w-d", "w-e"]
    assert engine.directory_view("a", "acme", "w-f", 2) == []
    for other in ("c", "d", "e"):
        parted(engine, "b", other)
    every = [x.id for x in engine.org_approvals("boss", "acme", False)]
    assert len(every) == 3 and every == sorted(every)
    assert [x.id for x in engine.org_approvals("boss", "acme", True, every[0], 1)] == [every[1]]
    assert engine.org_approvals("boss", "acme", True, every[-1], 5) == []
    assert [x.id for x in engine.deployment_approvals("acme", False, every[0], 1)] == [every[1]]
    with pytest.raises(NotOrgAdmin):
        engine.org_approvals("a", "acme", False)
    for leaver in ("a", "c", "d"):
        befriend(engine, leaver, "k")
        engine.start_handover("boss", "acme", leaver, ["f"])
    offered = [h.id for h in engine.my_handovers("k")]
    assert len(offered) == 3 and offered == sorted(offered)
    assert [h.id for h in engine.my_handovers("k", offered[0], 1)] == [offered[1]]
    assert [h.member for h in engine.my_handovers("k", offered[1], 100)] == ["d"]


def walk(api: Api, path: str, field: str, user: User, **params: str) -> tuple[list[Any], int]:
    """Every item of a list by pages of two, and how many pages it took."""
    found: list[Any] = []
    query: dict[str, Any] = {"limit": 2, **params}
    pages = 0
    while True:
        page = api.ok("GET", path, user, params=query)
        pages += 1
        assert len(page[field]) <= 2
        found.extend(page[field])
        if page["next"] is None:
            return found, pages
        query = {**query, "cursor": page["next"]}


@HTTP
def test_the_organisation_s_lists_page_over_http(api: Api) -> None:
    table = Table(api, ["boss", "a", "b", "c", "d", "e", "s", "k"])
    people, org = table.people, table.fill["org"]
    boss, k = people["boss"], people["k"]
    api.ok("POST", "/v1/admin/orgs", admin=True, json={"id": org, "name": "Acme", "admin": boss.id})
    for name in ("a", "b", "c", "d", "e", "s"):
        body = {"work_id": f"w-{name}"}
        api.ok("PUT", f"/v1/admin/orgs/{org}/members/{people[name].id}", admin=True, json=body)
    base = f"/v1/users/{{}}/orgs/{org}"
    # the directory, by work id
    members, count = walk(api, base.format(people["a"].id) + "/directory", "members", people["a"])
    assert [m["work_id"] for m in members] == ["w-b", "w-c", "w-d", "w-e", "w-s"]
    assert count == 3
    # the approvals, oldest first, the open ones or all
    for other in ("b", "c", "d"):
        api.befriend(people["a"], people[other])
        api.delete(people["a"], people[other].id)
        api.delete(people[other], people["a"].id)
    approvals = base.format(boss.id) + "/approvals"
    opened, count = walk(api, approvals, "approvals", boss)
    assert [sorted(table.names[u] for u in x["pair"]) for x in opened] == [
        ["a", "b"],
        ["a", "c"],
        ["a", "d"],
    ]
    assert count == 2
    api.ok("POST", f"{approvals}/{opened[0]['id']}/approve", boss)
    assert [x["id"] for x in walk(api, approvals, "approvals", boss)[0]] == [
        x["id"] for x in opened[1:]
    ]
    every, _ = walk(api, approvals, "approvals", boss, state="all")
    assert [x["id"] for x in every] == [x["id"] for x in opened]
    # the handovers that offered the customer a successor, oldest first
    for leaver in ("b", "c", "d", "e"):
        api.befriend(people[leaver], k)
        start = {"member": people[leaver].id, "successors": [people["s"].id]}
        api.ok("POST", base.format(boss.id) + "/handovers", boss, json=start)
    mine, count = walk(api, f"/v1/users/{k.id}/handovers", "handovers", k)
    assert [table.names[h["member"]] for h in mine] == ["b", "c", "d", "e"]
    assert count == 2
    # a cursor not of the list's own: refused
    directory = base.format(people["a"].id) + "/directory"
    foreign = api.ok("GET", approvals, boss, params={"limit": 1})["next"]
    own = api.ok("GET", directory, people["a"], params={"limit": 1})["next"]
    assert foreign is not None and own is not None
    for path, user, cursor in (
        (directory, people["a"], foreign),
        (directory, people["a"], own[:-3]),
        (approvals, boss, own),
        (approvals, boss, "not a cursor"),
        (f"/v1/users/{k.id}/handovers", k, own),
    ):
        expect_error(api.call("GET", path, user, params={"cursor": cursor}), 422, "invalid_cursor")


# ---- removing a member -------------------------------------------------------------------------
def test_removing_a_member_waits_for_their_handovers_and_is_audited(engine: Hushan) -> None:
    colleagues(engine, "a", "b", "c", "s")
    engine.create_user("k", verification_required=False)
    parted(engine, "a", "b")
    (approval,) = engine.org_approvals("boss", "acme", True)
    engine.decide_approval("boss", "acme", approval.id, Decision.APPROVE)  # a and b hidden
    start = engine.audit_log(0, 10_000)[-1].seq
    # c saw a, b and s: each pair is an entry, the system its actor, the deployment named
    assert engine.remove_org_member("acme", "c") is True
    removed = engine.audit_log(start, 10_000)
    assert [(e.action, e.actor, {e.user_a, e.user_b}, e.detail) for e in removed] == [
        (AuditAction.ORG_MEMBER_REMOVED, "system", {"c", other}, "org=acme by=deployment")
        for other in ("a", "b", "s")
    ]
    assert directory(engine, "a") == ["s"] and directory(engine, "s") == ["a", "b"]
    with pytest.raises(NotOrgMember):
        engine.directory_view("c", "acme")
    for other in ("a", "b", "s"):
        certified(engine, "c", other)  # the log replays with the new entries
    assert engine.remove_org_member("acme", "c") is False  # no member: nothing changes
    assert engine.audit_log(start, 10_000) == removed
    with pytest.raises(OrgNotFound):
        engine.remove_org_member("nowhere", "a")
    # while a handover of a's customers is under way, neither a nor their successor goes
    befriend(engine, "a", "k")
    handover = engine.start_handover("boss", "acme", "a", ["s"])
    ends = f"{handover.ends_at:%Y-%m-%dT%H:%M:%SZ}"
    for member, role in (("a", "of their work contacts"), ("s", "naming them successor")):
        with pytest.raises(HandoverInProgress) as refused:
            engine.remove_org_member("acme", member)
        assert str(refused.value) == (
            f"Handover {handover.id} {role} is under way until every customer has answered, or"
            f" until {ends} at the latest: {member} stays a member of the organisation until it"
            " ends."
        )
    assert directory(engine, "b") == ["s"]  # a is hidden from b, and still a member
    engine.answer_handover("k", handover.id, accept=True)  # the last answer ends it
    assert engine.remove_work_contacts("boss", "acme", "a") == 1
    assert engine.remove_org_member("acme", "s") is True
    assert engine.remove_org_member("acme", "a") is True
    assert directory(engine, "b") == []
    assert engine.org_admins("acme")[0].user == "boss"  # administrators are not members
    with engine.store.read() as tx:
        events = Counter(e.type for e in tx.outbox_after(0, 10_000))
    assert events[EventType.ORG_MEMBER_REMOVED] == 3 + 2  # s saw a and b; a no one (b hidden)


@HTTP
def test_removing_a_member_over_http(api: Api) -> None:
    table = Table(api, ["boss", "a", "b", "s", "k"])
    people, org = table.people, table.fill["org"]
    boss = people["boss"]
    api.ok("POST", "/v1/admin/orgs", admin=True, json={"id": org, "name": "Acme", "admin": boss.id})
    members = f"/v1/admin/orgs/{org}/members"
    for name in ("a", "b", "s"):
        body = {"work_id": f"w-{name}"}
        api.ok("PUT", f"{members}/{people[name].id}", admin=True, json=body)
    api.befriend(people["a"], people["k"])
    start = {"member": people["a"].id, "successors": [people["s"].id]}
    handover = api.ok("POST", f"/v1/users/{boss.id}/orgs/{org}/handovers", boss, json=start)
    before = api.audit_seq()
    for name in ("a", "s"):  # the departing member, and their successor
        response = api.call("DELETE", f"{members}/{people[name].id}", admin=True)
        expect_error(response, 409, "handover_in_progress")
    expect_error(
        api.call("DELETE", f"/v1/admin/orgs/{uid('nowhere')}/members/{people['a'].id}", admin=True),
        404,
        "org_not_found",
    )
    expect_error(api.call("DELETE", f"{members}/{people['a'].id}"), 401, "unauthenticated")
    assert api.audit_seq() == before  # refused: nothing changed
    assert api.ok("DELETE", f"{members}/{people['b'].id}", admin=True) == {"status": "removed"}
    assert api.ok("DELETE", f"{members}/{people['b'].id}", admin=True) == {"status": "not_member"}
    steps = [
        (e["action"], e["actor"], sorted(table.names[u] for u in (e["a"], e["b"])), e["detail"])
        for e in api.audit(after=before)
    ]
    assert steps == [
        ("org_member_removed", "system", ["a", "b"], f"org={org} by=deployment"),
        ("org_member_removed", "system", ["b", "s"], f"org={org} by=deployment"),
    ]
    directory = api.ok("GET", f"/v1/users/{people['a'].id}/orgs/{org}/directory", people["a"])
    assert [m["work_id"] for m in directory["members"]] == ["w-s"]
    k = people["k"]
    api.ok("POST", f"/v1/users/{k.id}/handovers/{handover['id']}/decline", k)  # it ends
    assert api.ok("DELETE", f"{members}/{people['a'].id}", admin=True) == {"status": "removed"}


def test_an_erased_administrator_or_leaver_is_named_in_no_row_at_all(engine: Hushan) -> None:
    """The administrator who decided and started, and the member who left, are named nowhere
    after their erasure: not in the audit details, the notices, nor the requests a handover
    sent (canary ids, so that any row holding one is found)."""
    from tests.test_rights import rows_naming

    boss, leaver = "bossq7xz", "leaverq7xz"
    for user in (boss, "chief", leaver, "b", "c", "s", "k"):
        engine.create_user(user, verification_required=user == "s")
    engine.create_org("acme", "Acme 公司", boss)
    engine.set_org_admin("acme", "chief", AdminRole.ESCALATION)
    for user in (leaver, "b", "c", "s"):
        engine.add_org_member("acme", user, f"w-{user}")
    for x, y in (("b", "c"), (leaver, "b")):
        befriend(engine, x, y)
        engine.delete_contact(x, y)
        engine.delete_contact(y, x)
    first = min(x.id for x in engine.org_approvals(boss, "acme", True))
    engine.decide_approval(boss, "acme", first, Decision.APPROVE)
    befriend(engine, leaver, "k")
    handover = engine.start_handover(boss, "acme", leaver, ["s"])
    engine.answer_handover("k", handover.id, accept=True)
    decided = [e for e in engine.audit_log(0, 10_000) if e.action.value.endswith("_approved")]
    assert [e.detail.split()[-1] for e in decided] == ["by=admin"]  # the role, not the id
    assert engine.org_approvals(boss, "acme", False)[0].decided_by == boss  # the row knows who

    engine.erase_account(boss)
    assert rows_naming(engine, (boss,)) == []
    assert engine.org_approvals("chief", "acme", False)[0].decided_by == "erased"
    engine.erase_account(leaver)
    assert rows_naming(engine, (boss, leaver)) == []
    (request,) = engine.list_requests("s", incoming=True)
    assert request.message.startswith("Handover from erased at Acme 公司")
    assert "from=erased" in engine.notices("k")[0].detail
