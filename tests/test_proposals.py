"""Consensual mutual delete, on each backend: propose, accept, decline, withdraw, expiry, with
and without "remove anyway", the refusals, and accept racing the expiry sweep."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from hushan.clock import ManualClock
from hushan.domain.errors import (
    CannotBefriendSelf,
    NotInYourContacts,
    ProposalNotFound,
    ProposalPending,
    RecipientRemovedYou,
    VerificationTooLong,
)
from hushan.domain.model import AuditAction, HistoryState, PairRelation
from hushan.domain.notices import NoticeKind
from hushan.service import REMOVED_ANYWAY, Hushan
from hushan.store.base import Store
from hushan.store.postgres import PostgresStore
from hushan.store.sqlite import SqliteStore
from hushan.tlog.certificate import LegalBasis, verify
from tests.conftest import engine_on
from tests.drive import befriend as friends

WINDOW = timedelta(hours=48)


def relation(engine: Hushan) -> PairRelation:
    return engine.relation_check([("A", "B")])[0].relation


def kinds(engine: Hushan, user: str) -> list[tuple[NoticeKind, str]]:
    return [(n.kind, n.detail) for n in engine.notices(user)]


def same_database(store: Store) -> Store:
    """Another store, with connections of its own, on the same database."""
    if isinstance(store, PostgresStore):
        return PostgresStore(store.url)
    assert isinstance(store, SqliteStore)
    return SqliteStore(store.path)


def clock_of(engine: Hushan) -> ManualClock:
    assert isinstance(engine.clock, ManualClock)
    return engine.clock


def test_accepted_both_edges_go_at_once_and_both_are_told(engine: Hushan) -> None:
    friends(engine)
    engine.send_message("A", "B", "before")
    proposal = engine.propose_mutual_delete("A", "B", "let us part kindly")
    assert proposal.expires_at == proposal.created_at + WINDOW
    assert [p.proposer for p in engine.list_proposals("B", incoming=True)] == ["A"]
    assert [p.other for p in engine.list_proposals("A", incoming=False)] == ["B"]
    assert kinds(engine, "B") == [(NoticeKind.MUTUAL_DELETE_PROPOSED, "let us part kindly")]
    seq = engine.audit_log(0, 10_000)[-1].seq

    engine.accept_mutual_delete("B", "A")
    (status,) = engine.relation_check([("A", "B")])
    assert status.relation is PairRelation.NONE
    assert status.history_state is HistoryState.BUFFERED  # a mutual delete: Rule 4's buffer
    actions = [e.action for e in engine.audit_log(seq, 10_000)]
    assert actions == [
        AuditAction.EDGE_REMOVED,
        AuditAction.EDGE_REMOVED,
        AuditAction.HISTORY_BUFFERED,
    ]
    for user in ("A", "B"):
        assert kinds(engine, user)[-1] == (NoticeKind.MUTUAL_DELETE_ACCEPTED, "")
    assert engine.list_proposals("B", incoming=True) == []
    claims = verify(
        engine.log.certificate("B", "A", LegalBasis.USER_REQUEST), engine.log.signer.verifier
    ).claims
    assert len(claims["removals"]) == 2 and claims["history_state"] == "buffered"
    # Within the buffer, friends again restore the history, as after any mutual delete.
    engine.send_request("A", "B")
    engine.accept_request("B", "A")
    assert [m.body for m in engine.history("B", "A").messages] == ["before"]


@pytest.mark.parametrize("anyway", [False, True])
def test_declined_nothing_changes_unless_remove_anyway(engine: Hushan, anyway: bool) -> None:
    friends(engine)
    engine.propose_mutual_delete("A", "B", remove_anyway=anyway)
    assert engine.decline_mutual_delete("B", "A") is anyway
    assert kinds(engine, "A") == [
        (NoticeKind.MUTUAL_DELETE_DECLINED, REMOVED_ANYWAY if anyway else "")
    ]
    if not anyway:
        assert relation(engine) is PairRelation.BOTH_WAY
        return
    assert relation(engine) is PairRelation.B_HAS_A  # the proposer's side only
    with pytest.raises(RecipientRemovedYou) as refused:
        engine.send_message("B", "A", "still there?")
    assert "removed you from their contacts" in refused.value.message  # B knows: no riddle


def test_withdrawn_the_proposal_is_gone(engine: Hushan) -> None:
    friends(engine)
    engine.propose_mutual_delete("A", "B", remove_anyway=True)
    engine.withdraw_mutual_delete("A", "B")
    assert kinds(engine, "B")[-1] == (NoticeKind.MUTUAL_DELETE_WITHDRAWN, "")
    with pytest.raises(ProposalNotFound):
        engine.accept_mutual_delete("B", "A")
    assert relation(engine) is PairRelation.BOTH_WAY


@pytest.mark.parametrize("anyway", [False, True])
def test_expiry_closes_it_at_the_sweep(engine: Hushan, anyway: bool) -> None:
    friends(engine)
    engine.propose_mutual_delete("A", "B", remove_anyway=anyway)
    clock_of(engine).advance(WINDOW)
    with pytest.raises(ProposalNotFound):  # the window has passed, swept or not
        engine.accept_mutual_delete("B", "A")
    assert engine.sweep().proposals_expired == 1
    assert engine.sweep().proposals_expired == 0
    detail = REMOVED_ANYWAY if anyway else ""
    for user in ("A", "B"):
        assert kinds(engine, user)[-1] == (NoticeKind.MUTUAL_DELETE_EXPIRED, detail)
    assert relation(engine) is (PairRelation.B_HAS_A if anyway else PairRelation.BOTH_WAY)


def test_a_new_proposal_closes_one_whose_window_passed(engine: Hushan) -> None:
    friends(engine)
    engine.propose_mutual_delete("A", "B")
    clock_of(engine).advance(WINDOW)
    engine.propose_mutual_delete("B", "A")  # not refused: the old one expires first
    assert [p.proposer for p in engine.list_proposals("A", incoming=True)] == ["B"]
    assert (NoticeKind.MUTUAL_DELETE_EXPIRED, "") in kinds(engine, "A")


def test_refusals_change_nothing(engine: Hushan) -> None:
    friends(engine)
    friends(engine, "C", "D")
    engine.delete_contact("D", "C")
    with pytest.raises(CannotBefriendSelf):
        engine.propose_mutual_delete("A", "A")
    with pytest.raises(NotInYourContacts):
        engine.propose_mutual_delete("D", "C")  # D removed C: D's own side answers
    with pytest.raises(VerificationTooLong):
        engine.propose_mutual_delete("A", "B", "x" * 201)
    engine.propose_mutual_delete("A", "B")
    for proposer, other in (("A", "B"), ("B", "A")):
        with pytest.raises(ProposalPending):
            engine.propose_mutual_delete(proposer, other)
    with pytest.raises(ProposalNotFound):
        engine.accept_mutual_delete("A", "B")  # the proposer cannot accept their own
    with pytest.raises(ProposalNotFound):
        engine.withdraw_mutual_delete("B", "A")  # nor can the other withdraw it
    assert relation(engine) is PairRelation.BOTH_WAY
    assert len(engine.list_proposals("B", incoming=True)) == 1


@pytest.mark.parametrize("anyway", [False, True])
def test_accept_racing_the_expiry_sweep_ends_in_one_of_them(engine: Hushan, anyway: bool) -> None:
    """Two engines on one database, one a moment before the window closes (accepting), one
    a moment after (sweeping): whichever commits first wins, the other finds nothing."""
    friends(engine)
    engine.propose_mutual_delete("A", "B", remove_anyway=anyway)
    late = engine_on(same_database(engine.store))  # its clock starts where this one did
    clock_of(engine).advance(WINDOW - timedelta(microseconds=1))
    clock_of(late).advance(WINDOW + timedelta(microseconds=1))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def accept() -> None:
        barrier.wait()
        try:
            engine.accept_mutual_delete("B", "A")
            outcomes.append("accepted")
        except ProposalNotFound:
            outcomes.append("too late")

    def sweep() -> None:
        barrier.wait()
        outcomes.append(f"expired {late.expire_proposals()}")

    threads = [threading.Thread(target=accept), threading.Thread(target=sweep)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    late.store.close()
    assert sorted(outcomes) in (["accepted", "expired 0"], ["expired 1", "too late"])
    if "accepted" in outcomes:
        assert relation(engine) is PairRelation.NONE
    else:
        assert relation(engine) is (PairRelation.B_HAS_A if anyway else PairRelation.BOTH_WAY)


def test_a_proposal_tells_the_proposer_nothing_about_the_other_side(engine: Hushan) -> None:
    friends(engine)
    engine.delete_contact("B", "A")  # silently: A still has B
    made = engine.propose_mutual_delete("A", "B", remove_anyway=True)
    assert made.status.value == "pending"  # as if B had done nothing
    engine.accept_mutual_delete("B", "A")
    assert relation(engine) is PairRelation.NONE
    # Declined after the proposer's own silent delete: the answer is the proposal's flag,
    # not whether anything was left to remove.
    friends(engine, "C", "D")
    engine.propose_mutual_delete("C", "D", remove_anyway=True)
    engine.delete_contact("C", "D")
    assert engine.decline_mutual_delete("D", "C") is True


def test_a_proposal_to_someone_who_blocks_you_is_swallowed(engine: Hushan) -> None:
    friends(engine)
    engine.block("B", "A")
    made = engine.propose_mutual_delete("A", "B", "hear me out")
    assert made.status.value == "pending"
    assert engine.list_proposals("B", incoming=True) == []
    assert engine.notices("B") == []
    with pytest.raises(ProposalNotFound):
        engine.accept_mutual_delete("B", "A")
    assert [p.other for p in engine.list_proposals("A", incoming=False)] == ["B"]
    clock_of(engine).advance(WINDOW)
    engine.sweep()
    assert engine.notices("B") == []
    assert kinds(engine, "A") == [(NoticeKind.MUTUAL_DELETE_EXPIRED, "")]


def test_remove_anyway_spares_a_friendship_made_again_since(engine: Hushan) -> None:
    friends(engine)
    engine.propose_mutual_delete("A", "B", remove_anyway=True)
    clock_of(engine).advance(timedelta(hours=1))
    engine.delete_contact("A", "B")
    engine.send_request("A", "B")  # back at once: a later edge than the proposal
    clock_of(engine).advance(WINDOW)
    engine.sweep()
    assert relation(engine) is PairRelation.BOTH_WAY


def test_accepted_under_a_block_the_history_is_buffered_not_erased(engine: Hushan) -> None:
    """Erasing at once (Rule 6) would show B that A blocks them: an agreed removal buffers the
    history as any mutual delete, and A can still erase it with a block-and-delete."""
    friends(engine)
    engine.send_message("A", "B", "kept for now")
    engine.propose_mutual_delete("A", "B")
    engine.block("A", "B")
    engine.accept_mutual_delete("B", "A")
    assert engine.history("B", "A").state is HistoryState.BUFFERED
    engine.block_and_delete("A", "B")
    assert engine.history("B", "A").state is HistoryState.PURGED


def test_remove_anyway_spares_a_friendship_made_again_at_the_same_instant(engine: Hushan) -> None:
    friends(engine)
    engine.propose_mutual_delete("A", "B", remove_anyway=True)
    engine.delete_contact("A", "B")
    engine.send_request("A", "B")  # the clock has not moved: no time tells the two apart
    assert engine.decline_mutual_delete("B", "A") is True
    assert relation(engine) is PairRelation.BOTH_WAY


def test_a_swallowed_proposal_is_invisible_to_the_one_who_blocks(engine: Hushan) -> None:
    friends(engine)
    engine.block("B", "A")
    engine.propose_mutual_delete("A", "B", remove_anyway=True)
    engine.propose_mutual_delete("B", "A")  # B never saw A's: B's own is not refused
    engine.accept_mutual_delete("A", "B")
    assert relation(engine) is PairRelation.NONE


def test_a_swallowed_remove_anyway_is_kept_under_the_proposers_grade(engine: Hushan) -> None:
    friends(engine)
    engine.block("B", "A")
    engine.propose_mutual_delete("A", "B", remove_anyway=True)  # A's grade: silent
    clock_of(engine).advance(WINDOW)
    engine.sweep()
    assert relation(engine) is PairRelation.B_HAS_A
    assert engine.relation_view("B", "A").removed_you_at is None  # as silent as any delete
    assert engine.notices("B") == []


def test_proposing_again_after_the_window_first_closes_the_old_one(engine: Hushan) -> None:
    friends(engine)
    engine.propose_mutual_delete("A", "B", remove_anyway=True)
    clock_of(engine).advance(WINDOW)
    with pytest.raises(NotInYourContacts):  # the expiry removed A's side, and it stands
        engine.propose_mutual_delete("A", "B")
    assert relation(engine) is PairRelation.B_HAS_A
    assert kinds(engine, "B")[-1] == (NoticeKind.MUTUAL_DELETE_EXPIRED, REMOVED_ANYWAY)
