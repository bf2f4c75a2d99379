"""Legal holds on each backend (hushan.domain.holds): a held history is kept past its purge
date with its key, a block-then-delete or an erasure under a hold seals it (unreadable to both
at once, still encrypted), and once the hold ends the next sweep purges it and nothing of it is
left. Every step is audited, in the transparency log, and the pair's certificate still
verifies, saying whether a hold covers it."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from hushan.clock import ManualClock
from hushan.domain.errors import (
    HistoryAlreadyPurged,
    HoldAlreadyReleased,
    HoldNotFound,
    HoldPairOfOneUser,
    InvalidCaseReference,
    InvalidHoldExpiry,
    InvalidHoldReason,
    InvalidUserId,
    UserNotFound,
)
from hushan.domain.holds import HoldEnd
from hushan.domain.model import AuditAction, HistoryState, PairRelation
from hushan.domain.sync import ChangeKind
from hushan.service import Hushan
from hushan.service.engine import Limits
from hushan.store.sqlite import SqliteStore
from hushan.tlog.certificate import LegalBasis, verify
from tests.conftest import Backends
from tests.drive import befriend
from tests.test_purge import (
    assert_gone,
    assert_no_row_keeps,
    friends_with_history,
    mutual_delete,
    stored_secrets,
)
from tests.test_rights import rows_naming
from tests.test_sync import catch_up

BUFFER = timedelta(days=30)
HOLD_ACTIONS = (
    AuditAction.LEGAL_HOLD_PLACED,
    AuditAction.PURGE_DEFERRED_LEGAL_HOLD,
    AuditAction.LEGAL_HOLD_RELEASED,
    AuditAction.KEY_DESTROYED,
)


def conversation_of(engine: Hushan, a: str, b: str) -> int:
    conversation = engine.inspect_pair(a, b).conversation
    assert conversation is not None
    return conversation.id


def key_kept(engine: Hushan, conversation: int) -> bool:
    return any(row[0] == conversation for row in engine.store.dump_rows("conversation_keys"))


def hold_steps(engine: Hushan, a: str = "a", b: str = "b") -> list[AuditAction]:
    """The pair's hold and key entries, in order."""
    return [
        e.action
        for e in engine.audit_log(0, 100_000)
        if e.action in HOLD_ACTIONS and {e.user_a, e.user_b} == {a, b}
    ]


def readable_messages(engine: Hushan, conversation: int) -> list[str]:
    """What the server itself could still decrypt of the history (what a hold keeps)."""
    with engine.store.read() as tx:
        (found,) = [c for c in tx.user_conversations("a") if c.id == conversation]
        key = engine._data_key(tx, found)
        stored = tx.list_messages(found, 0, 1000)
    return [m.body for m in engine._opened(key, conversation, stored)]


def certificate_claims(engine: Hushan, a: str, b: str) -> dict[str, object]:
    engine.log.publish()
    data = engine.log.certificate(a, b, LegalBasis.USER_REQUEST)
    return verify(data, engine.log.signer.verifier).claims


@pytest.mark.parametrize(
    ("user", "other", "reason", "case_ref", "expires_in", "error"),
    [
        ("a", None, "", "C-1", None, InvalidHoldReason),
        ("a", None, " padded", "C-1", None, InvalidHoldReason),
        ("a", None, "x" * 501, "C-1", None, InvalidHoldReason),
        ("a", None, "litigation", "", None, InvalidCaseReference),
        ("a", None, "litigation", "C 1", None, InvalidCaseReference),
        ("a", None, "litigation", "C" * 65, None, InvalidCaseReference),
        ("a", None, "litigation", "C-1", 0, InvalidHoldExpiry),
        ("a", None, "litigation", "C-1", -5, InvalidHoldExpiry),
        ("a", "a", "litigation", "C-1", None, HoldPairOfOneUser),
        ("bad id!", None, "litigation", "C-1", None, InvalidUserId),
        ("nobody", None, "litigation", "C-1", None, UserNotFound),
        ("a", "nobody", "litigation", "C-1", None, UserNotFound),
    ],
)
def test_a_bad_hold_is_refused_and_changes_nothing(
    engine: Hushan,
    clock: ManualClock,
    user: str,
    other: str | None,
    reason: str,
    case_ref: str,
    expires_in: int | None,
    error: type[Exception],
) -> None:
    friends_with_history(engine, "a", "b", 1)
    before = len(engine.audit_log(0, 100_000))
    expires = None if expires_in is None else clock.now() + timedelta(seconds=expires_in)
    with pytest.raises(error):
        engine.place_hold(user, other, reason, case_ref, expires)
    assert engine.list_holds() == [] and len(engine.audit_log(0, 100_000)) == before


def test_a_held_history_outlives_its_purge_date_then_goes_at_the_sweep_after_release(
    engine: Hushan, clock: ManualClock
) -> None:
    friends_with_history(engine, "a", "b", 3)
    friends_with_history(engine, "c", "d", 2)  # due at the same time, never held
    conversation = conversation_of(engine, "a", "b")
    hold = engine.place_hold("b", "a", "litigation", "CASE-7")
    assert (hold.user, hold.other) == ("a", "b")  # a pair is kept in order
    assert certificate_claims(engine, "a", "b")["legal_hold"] is True
    for x, y in (("a", "b"), ("c", "d")):
        mutual_delete(engine, x, y)
    clock.advance(BUFFER)
    report = engine.sweep()
    assert (report.keys_destroyed, report.purges_deferred) == (1, 1)
    assert key_kept(engine, conversation)
    assert readable_messages(engine, conversation) == [f"a-b-secret-{i}" for i in range(3)]
    for me, other in (("a", "b"), ("b", "a")):  # past its date: the two read nothing
        history = engine.history(me, other)
        assert history.state is HistoryState.BUFFERED and history.messages == []
    assert not engine.sweep().did_work  # the deferral is recorded once
    (residue,) = engine.data_residue("a")
    assert residue.legal_hold and residue.hold_reasons == []  # the reason is not disclosed

    released = engine.release_hold(hold.id)
    assert released.ended_how is HoldEnd.RELEASED and not released.live
    assert engine.sweep().keys_destroyed == 1
    assert not key_kept(engine, conversation)
    assert hold_steps(engine) == [
        AuditAction.LEGAL_HOLD_PLACED,
        AuditAction.PURGE_DEFERRED_LEGAL_HOLD,
        AuditAction.LEGAL_HOLD_RELEASED,
        AuditAction.KEY_DESTROYED,
    ]
    claims = certificate_claims(engine, "a", "b")
    assert claims["legal_hold"] is False and claims["key_destroyed_reason"] == "purge_due"
    assert "legal_hold" not in certificate_claims(engine, "c", "d")  # never held: as before
    with pytest.raises(HoldAlreadyReleased):
        engine.release_hold(hold.id)
    with pytest.raises(HoldNotFound):
        engine.release_hold("lh_nothing")


def test_a_hold_one_second_before_the_due_purge_defers_it_one_after_is_refused(
    engine: Hushan, clock: ManualClock
) -> None:
    """The bar: placed one second before a due purge, the hold defers it; placed after the
    purge, it is refused with `history_already_purged`; after release and sweep the canary
    scan finds nothing."""
    friends_with_history(engine, "a", "b", 2)
    friends_with_history(engine, "c", "d", 2)
    for x, y in (("a", "b"), ("c", "d")):
        engine.send_message(y, x, f"canary-{x}{y}-5q")
    held = conversation_of(engine, "a", "b")
    key, ciphertexts = stored_secrets(engine, held)
    mutual_delete(engine, "a", "b")
    mutual_delete(engine, "c", "d")
    clock.advance(BUFFER - timedelta(seconds=1))
    hold = engine.place_hold("a", "b", "held a second early", "CASE-1")
    clock.advance(timedelta(seconds=1))
    report = engine.sweep()
    assert (report.keys_destroyed, report.purges_deferred) == (1, 1)
    assert key_kept(engine, held) and "canary-ab-5q" in readable_messages(engine, held)
    with pytest.raises(HistoryAlreadyPurged):
        engine.place_hold("c", "d", "one second too late", "CASE-2")
    assert [h.id for h in engine.list_holds()] == [hold.id]

    engine.release_hold(hold.id)
    engine.sweep()
    # The canary scan: no row names a canary, and neither the key nor any ciphertext of the
    # held history is left in a row (on SQLite, in the file and its WAL either).
    assert rows_naming(engine, ("canary-ab-5q", "canary-cd-5q")) == []
    if isinstance(engine.store, SqliteStore):
        assert_gone(engine, held, key, ciphertexts)
    else:
        assert_no_row_keeps(engine, held, key, ciphertexts)


def test_block_then_delete_under_a_hold_seals_the_history_until_release(
    engine: Hushan, clock: ManualClock
) -> None:
    friends_with_history(engine, "a", "b", 3)
    conversation = conversation_of(engine, "a", "b")
    phones = {user: engine.register_device(user, "phone").id for user in "ab"}
    hold = engine.place_hold("a", None, "investigation", "INV/2026#3")
    outcome = engine.block_and_delete("a", "b")
    assert outcome.deleted and not outcome.history_purged
    for me, other in (("a", "b"), ("b", "a")):  # both users' devices are told to drop it
        changes = catch_up(engine, me, phones[me])
        assert (ChangeKind.PURGE, other) in [(c.kind, c.other) for c in changes]
    status = engine.inspect_pair("a", "b").status  # the relationship changed at once
    assert (status.relation, status.a_blocks_b) == (PairRelation.B_HAS_A, True)
    for me, other in (("a", "b"), ("b", "a")):  # unreadable to both at once
        assert engine.history(me, other).messages == []
    assert key_kept(engine, conversation)
    assert readable_messages(engine, conversation)  # still encrypted, still there
    assert engine.sweep().keys_destroyed == 0
    engine.unblock("a", "b")
    engine.send_request("a", "b")
    engine.accept_request("b", "a")
    assert engine.history("a", "b").messages == []  # a new history, not the sealed one
    assert key_kept(engine, conversation)

    engine.release_hold(hold.id)
    assert engine.sweep().keys_destroyed == 1
    assert not key_kept(engine, conversation)
    assert engine.sweep().keys_destroyed == 0


def test_a_sealed_history_is_certified_as_held_then_as_block_deleted(engine: Hushan) -> None:
    friends_with_history(engine, "a", "b", 2)
    hold = engine.place_hold("a", "b", "case", "C-3")
    engine.block_and_delete("b", "a")
    sealed = certificate_claims(engine, "a", "b")
    assert (sealed["legal_hold"], sealed["history_state"], sealed["key_destroyed_at"]) == (
        True,
        "buffered",
        None,
    )
    engine.release_hold(hold.id)
    engine.sweep()
    purged = certificate_claims(engine, "a", "b")
    assert (purged["legal_hold"], purged["history_state"]) == (False, "purged")
    assert purged["key_destroyed_reason"] == "block_delete"
    assert purged["rows_purged_at"] is not None


def test_an_erasure_under_a_hold_removes_the_account_and_keeps_the_history_sealed(
    engine: Hushan, clock: ManualClock
) -> None:
    for other in ("y", "z"):  # z not held: purged with the erasure
        befriend(engine, "xcanary8", other)
        engine.send_message("xcanary8", other, f"to {other}")
    held = conversation_of(engine, "xcanary8", "y")
    hold = engine.place_hold("y", "xcanary8", "case", "C-9")
    engine.erase_account("xcanary8")
    with pytest.raises(UserNotFound):
        engine.get_user("xcanary8")
    assert key_kept(engine, held)
    (residue,) = engine.data_residue("y")
    assert residue.legal_hold and residue.other.startswith("erased:")
    assert residue.state is HistoryState.BUFFERED  # not gone, whatever the two were told
    with pytest.raises(UserNotFound):  # nobody reads it, as after any erasure
        engine.history("y", residue.other)
    assert engine.sweep().keys_destroyed == 0

    engine.release_hold(hold.id)
    assert engine.sweep().keys_destroyed == 1
    assert not key_kept(engine, held)
    assert rows_naming(engine, ("xcanary8",)) == []  # the hold's own record forgot the id too


def test_an_expired_hold_ends_at_the_sweep_that_then_purges(
    engine: Hushan, clock: ManualClock
) -> None:
    friends_with_history(engine, "a", "b", 1)
    conversation = conversation_of(engine, "a", "b")
    hold = engine.place_hold("a", "b", "until the hearing", "H-1", clock.now() + BUFFER * 2)
    mutual_delete(engine, "a", "b")
    clock.advance(BUFFER)
    assert engine.sweep().purges_deferred == 1
    clock.advance(BUFFER)
    report = engine.sweep()
    assert (report.holds_expired, report.keys_destroyed) == (1, 1)
    assert engine.get_hold(hold.id).ended_how is HoldEnd.EXPIRED
    assert not key_kept(engine, conversation)
    assert Counter(hold_steps(engine))[AuditAction.LEGAL_HOLD_RELEASED] == 1


def test_the_residue_report_gives_the_reason_only_where_the_deployment_allows(
    backend: Backends,
) -> None:
    engine = backend.engine(Limits(hold_disclose_reason=True))
    befriend(engine, "a", "b")
    befriend(engine, "a", "c")
    engine.place_hold("a", "b", "fraud inquiry", "F-2")
    engine.place_hold("a", None, "audit", "A-1")
    residues = {r.other: r for r in engine.data_residue("a")}
    assert [(h.reason, h.case_ref) for h in residues["b"].hold_reasons] == sorted(
        [("fraud inquiry", "F-2"), ("audit", "A-1")],
        key=lambda h: [x.id for x in engine.list_holds() if x.reason == h[0]][0],
    )
    assert [h.reason for h in residues["c"].hold_reasons] == ["audit"]
