"""Rule 3: while a block holds, the blocked side cannot get into the blocker's list by any
path, including accepting a request the blocker sent before the block. A block closes the
blocker's own pending request; an accept of a request whose sender blocks you answers as if
there were none, as for a withdrawn one."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hushan.domain.errors import RequestNotFound
from hushan.domain.model import PairRelation, RequestOutcome
from hushan.service import Hushan, WithdrawOutcome
from tests.api_client import Api, expect_error
from tests.drive import befriend

Blocking = Callable[[Hushan], object]
BLOCKINGS: dict[str, Blocking] = {
    "block": lambda engine: engine.block("A", "B"),
    "block_and_delete": lambda engine: engine.block_and_delete("A", "B"),
}


def relation(engine: Hushan) -> PairRelation:
    (status,) = engine.relation_check([("A", "B")])
    return status.relation


@pytest.mark.parametrize("blocking", BLOCKINGS)
def test_a_request_sent_before_a_block_cannot_be_accepted(engine: Hushan, blocking: str) -> None:
    for user in ("A", "B"):
        engine.create_user(user)
    assert engine.send_request("A", "B", "hi") is RequestOutcome.PENDING
    BLOCKINGS[blocking](engine)
    assert engine.list_requests("B", incoming=True) == []
    with pytest.raises(RequestNotFound):
        engine.accept_request("B", "A")
    assert relation(engine) is PairRelation.NONE
    assert engine.list_contacts("A") == []
    # Lifting the block does not bring the request back: A sends a new one if they wish.
    engine.unblock("A", "B")
    with pytest.raises(RequestNotFound):
        engine.accept_request("B", "A")
    assert engine.send_request("A", "B", "again") is RequestOutcome.PENDING
    assert engine.accept_request("B", "A") is RequestOutcome.ADDED


def test_a_request_kept_for_a_remover_cannot_be_accepted_after_block_and_delete(
    engine: Hushan,
) -> None:
    """The issue's second path: B removed A; A's request (answered already_friends, kept for
    B); A block-and-deletes B; B accepts."""
    befriend(engine, "A", "B")
    engine.delete_contact("B", "A")
    assert engine.send_request("A", "B", "hi") is RequestOutcome.ALREADY_FRIENDS
    assert [r.from_id for r in engine.list_requests("B", incoming=True)] == ["A"]
    engine.block_and_delete("A", "B")
    assert engine.list_requests("B", incoming=True) == []
    with pytest.raises(RequestNotFound):
        engine.accept_request("B", "A")
    assert relation(engine) is PairRelation.NONE


def test_a_request_whose_sender_blocks_you_reads_as_none(engine: Hushan) -> None:
    """Even a request that outlived its sender's block (written before this rule, say) is
    neither accepted nor rejected: the answer is the one for no request at all."""
    for user in ("A", "B"):
        engine.create_user(user)
    engine.send_request("A", "B", "hi")
    with engine.store.write("A", "B") as tx:  # a block written without closing the request
        tx.add_block("A", "B", engine.clock.now())
    with pytest.raises(RequestNotFound):
        engine.accept_request("B", "A")
    assert engine.reject_request("B", "A").value == "not_pending"
    assert relation(engine) is PairRelation.NONE


def test_a_sender_withdraws_their_request(engine: Hushan) -> None:
    for user in ("A", "B", "C"):
        engine.create_user(user)
    engine.send_request("A", "B", "hi")
    assert engine.withdraw_request("A", "B") is WithdrawOutcome.WITHDRAWN
    assert engine.withdraw_request("A", "B") is WithdrawOutcome.NOT_PENDING
    assert engine.list_requests("A", incoming=False) == []
    with pytest.raises(RequestNotFound):
        engine.accept_request("B", "A")
    # A swallowed one is withdrawn alike: its sender cannot tell it was swallowed.
    engine.block("C", "A")
    engine.send_request("A", "C", "hi")
    assert engine.withdraw_request("A", "C") is WithdrawOutcome.WITHDRAWN
    actions = [e.action.value for e in engine.audit_log() if e.actor == "A"]
    assert actions.count("request_withdrawn") == 2


def test_the_issue_reproduction_through_http(api: Api) -> None:
    a, b = api.users("a", "b")
    assert api.send_request(a, b.id, "hi") == "pending"
    assert api.block_and_delete(a, b.id)["newly_blocked"] is True
    expect_error(
        api.call("POST", f"/v1/users/{b.id}/requests/{a.id}/accept", b), 404, "request_not_found"
    )
    assert api.relation(a.id, b.id) == "none"
    assert api.contacts(a) == []
    assert api.pair(a.id, b.id)["a_blocks_b"] is True
