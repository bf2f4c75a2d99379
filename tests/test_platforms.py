"""Linked platforms, on each backend: who may see what (a table over every event type, subscriber
kind and notice grade, then the same rule through the relay to a real receiver), links,
acknowledgements (a 2xx, or a 202 and the platform's acknowledge later), the data residue
report's pending platforms, and the sync rate."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hushan.delivery import Deliverer
from hushan.domain.errors import PlatformNotFound, UnbindCaseNotFound, UserNotFound
from hushan.domain.events import EventType
from hushan.domain.notices import NoticeGrade
from hushan.domain.platforms import (
    GRADED,
    SEEN_BY_BOTH,
    AssetPolicy,
    PermissionPolicy,
    Viewer,
    may_see,
    percentile,
)
from hushan.service import Hushan
from tests.drive import befriend
from tests.receiver import Receiver

# For the other side of the pair: what they see whatever the grade, what only `notify` shows.
OTHER_SEES = {t: "always" for t in SEEN_BY_BOTH} | {t: "notify" for t in GRADED}


@pytest.mark.parametrize("event", list(EventType))
@pytest.mark.parametrize("viewer", list(Viewer))
@pytest.mark.parametrize("grade", list(NoticeGrade))
def test_who_may_see_what(event: EventType, viewer: Viewer, grade: NoticeGrade) -> None:
    if viewer in (Viewer.APP, Viewer.ACTOR):
        expected = True  # an app backend sees all; a user's own action is theirs to know
    else:
        rule = OTHER_SEES.get(event, "never")
        expected = rule == "always" or (rule == "notify" and grade is NoticeGrade.NOTIFY)
    assert may_see(event, viewer, grade) is expected


def test_the_silent_deletes_and_blocks_are_never_the_other_side_s() -> None:
    for hidden in (EventType.BLOCK_ADDED, EventType.REQUEST_SWALLOWED, EventType.CONTACT_ADDED):
        assert not any(may_see(hidden, Viewer.OTHER, g) for g in NoticeGrade)
    assert not may_see(EventType.CONTACT_REMOVED, Viewer.OTHER, NoticeGrade.SILENT)
    assert not may_see(EventType.CONTACT_REMOVED, Viewer.OTHER, NoticeGrade.ON_CONTACT)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99)) == (50.0, 99.0)
    assert percentile([], 0.5) is None and percentile([7.0], 0.99) == 7.0
    assert percentile([3.0, 9.0], 0.0) == 3.0  # the lowest rank is 1, not 0


@given(st.integers(1, 5000), st.integers(0, 1000))
def test_percentile_is_the_value_at_rank_ceil_fraction_times_n(n: int, permille: int) -> None:
    values = [float(v) for v in range(1, n + 1)]
    rank = max(1, math.ceil(Fraction(permille, 1000) * n))
    assert percentile(values, permille / 1000) == values[rank - 1]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


@pytest.fixture
def sender(engine: Hushan, receiver: Receiver) -> Iterator[Deliverer]:
    made = Deliverer(engine, timeout=2, batch=100, threads=4)
    yield made
    made.close()


def drain(sender: Deliverer) -> None:
    while sender.run_once():
        pass


def types_received(receiver: Receiver) -> list[str]:
    return [json.loads(r.body)["type"] for r in receiver.take()]


def platform(engine: Hushan, receiver: Receiver, name: str = "game") -> str:
    made, _ = engine.create_platform(
        name, receiver.url, AssetPolicy.MANUAL_UNBIND, PermissionPolicy.REVOKE
    )
    return made.id


def test_a_platform_of_the_removed_side_never_learns_of_a_silent_delete(
    engine: Hushan, receiver: Receiver, sender: Deliverer
) -> None:
    befriend(engine, "A", "B")
    game = platform(engine, receiver)
    engine.link_platform("B", game)  # the side that is removed
    engine.delete_contact("A", "B")  # silent: A's grade by default
    engine.block("A", "B")
    drain(sender)
    assert types_received(receiver) == []
    engine.delete_contact("B", "A")  # B's own action, and the history both see buffered
    drain(sender)
    assert sorted(types_received(receiver)) == ["contact.removed", "history.buffered"]


def test_under_notify_the_removed_side_s_platform_is_told(
    engine: Hushan, receiver: Receiver, sender: Deliverer
) -> None:
    befriend(engine, "A", "B")
    engine.update_settings("A", notice_grade=NoticeGrade.NOTIFY)
    game = platform(engine, receiver)
    engine.link_platform("B", game)
    engine.delete_contact("A", "B")
    drain(sender)
    assert types_received(receiver) == ["contact.removed"]


def test_a_platform_gets_only_its_linking_users_events(
    engine: Hushan, receiver: Receiver, sender: Deliverer
) -> None:
    game = platform(engine, receiver)
    befriend(engine, "A", "B")
    befriend(engine, "C", "D")
    engine.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    engine.link_platform("A", game)  # what happened before the link is not the platform's
    engine.delete_contact("A", "B")
    engine.delete_contact("C", "D")
    drain(sender)
    got = [json.loads(r.body)["data"] for r in receiver.take()]
    assert [d["pair"] for d in got] == [["A", "B"]]
    assert engine.link_platform("A", game, linked=False) is True
    engine.delete_contact("B", "A")
    drain(sender)
    assert receiver.take() == []
    assert [p.id for p in engine.platforms_of("A")] == []
    with pytest.raises(PlatformNotFound):
        engine.link_platform("A", "pf_" + "0" * 16)
    with pytest.raises(UserNotFound):
        engine.link_platform("nobody", game)


def test_purges_wait_for_acknowledgement_in_the_residue_report(
    engine: Hushan, receiver: Receiver, sender: Deliverer
) -> None:
    befriend(engine, "A", "B")
    engine.send_message("A", "B", "hello")
    game = platform(engine, receiver)
    engine.link_platform("A", game)
    receiver.answer = lambda _: 202  # taken, to be finished later
    engine.block_and_delete("A", "B")
    drain(sender)
    (residue,) = engine.data_residue("A")
    assert residue.platforms_pending == [game]
    assert engine.data_residue("B")[0].platforms_pending == []  # B linked nothing
    purged = [d for d in engine.list_deliveries() if d.seq in {e for e in _purge_seqs(engine)}]
    assert purged
    for delivery in purged:
        engine.acknowledge_delivery(game, delivery.id)
    assert engine.data_residue("A")[0].platforms_pending == []
    with pytest.raises(PlatformNotFound):
        engine.acknowledge_delivery("pf_" + "0" * 16, purged[0].id)


def _purge_seqs(engine: Hushan) -> list[int]:
    with engine.store.read() as tx:
        return [e.seq for e in tx.outbox_after(0, 1000) if e.type is EventType.HISTORY_PURGED]


def test_the_sync_rate(engine: Hushan, receiver: Receiver, sender: Deliverer) -> None:
    game = platform(engine, receiver)
    befriend(engine, "A", "B")
    befriend(engine, "A", "C")
    engine.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    engine.link_platform("A", game)
    receiver.answer = lambda _: 500
    engine.delete_contact("A", "B")
    engine.delete_contact("A", "C")
    drain(sender)
    rate = engine.sync_rate(game, timedelta(hours=1))
    assert (rate.emitted, rate.acknowledged, rate.rate) == (2, 0, 0.0)
    receiver.answer = lambda _: 200  # the platform recovers
    engine.clock.advance(timedelta(seconds=5))  # type: ignore[attr-defined]
    drain(sender)
    rate = engine.sync_rate(game, timedelta(hours=1))
    assert (rate.emitted, rate.acknowledged, rate.rate) == (2, 2, 1.0)
    assert rate.lag_p50_seconds == rate.lag_p99_seconds == 5.0
    assert engine.sync_rate(game, timedelta(seconds=1)).emitted == 0


def test_manual_unbind_keeps_a_case_per_user_platform_and_event_until_done(
    engine: Hushan, receiver: Receiver, sender: Deliverer
) -> None:
    befriend(engine, "A", "B")
    befriend(engine, "A", "C")
    game = platform(engine, receiver)  # manual_unbind
    shop, _ = engine.create_platform(
        "shop", receiver.url, AssetPolicy.AUTO_INHERIT, PermissionPolicy.KEEP
    )
    for user in ("A", "B"):
        engine.link_platform(user, game)
    engine.link_platform("A", shop.id)
    receiver.answer = lambda _: 202  # taken; the platform says when it is finished
    engine.delete_contact("A", "B")
    engine.delete_contact("B", "A")  # a mutual delete: history.buffered, which both see
    engine.block_and_delete("A", "C")  # a purge; C linked nothing, A did
    drain(sender)
    cases = engine.list_unbind_cases(game, open_only=True)
    assert sorted((c.user_id, c.event_type.value) for c in cases) == [
        ("A", "history.buffered"),
        ("A", "history.purged"),
        ("B", "history.buffered"),
    ]
    assert engine.list_unbind_cases(shop.id) == []  # nothing to unbind by hand there
    (a_b,) = [c for c in cases if c.user_id == "A" and c.event_type.value == "history.buffered"]
    b_a = next(c for c in cases if c.user_id == "B")
    assert a_b.seq == b_a.seq and a_b.id != b_a.id  # one case each, for the one event

    def residue(user: str, other: str) -> tuple[list[int], list[str]]:
        (found,) = [r for r in engine.data_residue(user) if r.other == other]
        return [c.id for c in found.unbind_cases], found.platforms_pending

    assert residue("A", "B") == ([a_b.id], sorted([game, shop.id]))
    assert residue("B", "A") == ([b_a.id], [game])
    assert residue("C", "A") == ([], [])
    # Acknowledging the delivery (or a 2xx) says the event arrived, not that the user is done.
    (endpoint,) = [p.endpoint_id for p in engine.list_platforms() if p.id == game]
    (delivery,) = [d for d in engine.list_deliveries(endpoint) if d.seq == a_b.seq]
    engine.acknowledge_delivery(game, delivery.id)
    assert residue("A", "B")[0] == [a_b.id]
    assert engine.unbind_case_done(game, a_b.id) is True
    assert engine.unbind_case_done(game, a_b.id) is False  # again: already done
    assert residue("A", "B")[0] == [] and residue("B", "A")[0] == [b_a.id]  # B's stays open
    # Another relay round or a replay opens nothing twice.
    engine.replay_delivery(delivery.id)
    drain(sender)
    assert len(engine.list_unbind_cases(game)) == 3
    with pytest.raises(UnbindCaseNotFound):
        engine.unbind_case_done(shop.id, b_a.id)  # not that platform's case
    with pytest.raises(PlatformNotFound):
        engine.unbind_case_done("pf_" + "0" * 16, b_a.id)
    # Done acknowledges the event too: B's platform is no longer pending once B is done.
    assert engine.unbind_case_done(game, b_a.id) is True
    assert residue("B", "A") == ([], [])
    (closed,) = engine.list_unbind_cases(game, user_id="B")
    assert closed.done_at == engine.clock.now()


def test_an_erasure_drops_the_erased_user_s_cases(
    engine: Hushan, receiver: Receiver, sender: Deliverer
) -> None:
    befriend(engine, "A", "B")
    game = platform(engine, receiver)
    for user in ("A", "B"):
        engine.link_platform(user, game)
    engine.block_and_delete("A", "B")
    drain(sender)
    assert {c.user_id for c in engine.list_unbind_cases(game)} == {"A", "B"}
    engine.erase_account("A")
    drain(sender)
    found = engine.list_unbind_cases(game)
    assert "A" not in {c.user_id for c in found}
    assert {c.user_id for c in found} == {"B"}


def test_an_erased_user_s_own_platforms_are_sent_the_erasure(
    engine: Hushan, receiver: Receiver, sender: Deliverer
) -> None:
    befriend(engine, "A", "B")
    game = platform(engine, receiver)
    engine.link_platform("A", game)  # the side that is erased
    engine.erase_account("A")
    drain(sender)
    got = [json.loads(r.body) for r in receiver.take()]
    assert "account.erased" in {g["type"] for g in got}
    (erased,) = [g for g in got if g["type"] == "account.erased"]
    assert erased["data"]["pair"][1] == "B" and erased["data"]["pair"][0].startswith("erased:")
    assert engine.list_unbind_cases(game) == []  # the erased user's case went with them
