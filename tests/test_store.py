"""Store-level behaviour that the service tests only reach by chance: batch shapes and order."""

from __future__ import annotations

import random

import pytest

from hushan.domain.model import PairRelation
from hushan.service import Hushan, Limits
from hushan.store.pairs_sql import _power_of_two_chunks
from tests.conftest import Backends


@pytest.mark.parametrize(
    ("count", "pieces"),
    [
        (0, []),
        (1, [(0, 1)]),
        (10, [(0, 8), (8, 2)]),
        (1000, [(0, 512), (512, 256), (768, 128), (896, 64), (960, 32), (992, 8)]),
        (1024, [(0, 1024)]),
        (4096, [(0, 4096)]),
        (8195, [(0, 4096), (4096, 4096), (8192, 2), (8194, 1)]),
    ],
)
def test_power_of_two_chunks_cover_the_batch_in_order(
    count: int, pieces: list[tuple[int, int]]
) -> None:
    assert list(_power_of_two_chunks(count)) == pieces


def test_batch_relation_check_matches_one_pair_at_a_time(engine: Hushan) -> None:
    """A shuffled batch with repeats and unknown users answers each pair in its own slot."""
    users = [f"u{i}" for i in range(8)]
    for user in users:
        engine.create_user(user, verification_required=False)
    rng = random.Random(7)
    for _ in range(20):
        a, b = rng.sample(users, 2)
        engine.send_request(a, b, "")
    for _ in range(4):
        engine.delete_contact(*rng.sample(users, 2))
    engine.block("u0", "u1")
    every = [(a, b) for a in [*users, "nobody"] for b in users if a != b]
    batch = [rng.choice(every) for _ in range(1000)]
    one_by_one = {pair: engine.relation_check([pair])[0] for pair in set(batch)}
    assert len({status.relation for status in one_by_one.values()}) == 4  # every relation occurs
    assert engine.relation_check(batch) == [one_by_one[pair] for pair in batch]
    assert engine.relation_check([]) == []


def test_mixed_case_ids_find_their_pair_whatever_the_collation(engine: Hushan) -> None:
    """Pairs are ordered by Python's string order everywhere; the PostgreSQL tests run under
    a collation that orders 'Bob' after 'alice', where C orders it first."""
    for user in ("alice", "Bob", "carol"):
        engine.create_user(user, verification_required=False)
    engine.send_request("alice", "Bob")
    engine.send_request("Bob", "carol")
    engine.delete_contact("Bob", "carol")
    engine.delete_contact("carol", "Bob")
    checked = engine.relation_check([("alice", "Bob"), ("Bob", "alice"), ("carol", "Bob")])
    assert [s.history_state.value if s.history_state else None for s in checked] == [
        "active",
        "active",
        "buffered",
    ]
    assert engine.inspect_pair("Bob", "alice").conversation is not None


def test_a_batch_far_above_the_default_limit_is_answered(backend: Backends) -> None:
    """Bound values stay under each database's per-statement limit at any batch size."""
    engine = backend.engine(Limits(relation_check_max_pairs=20_000))
    engine.create_user("a", verification_required=False)
    engine.create_user("b")
    engine.send_request("b", "a")
    batch = [("a", "b"), ("b", "a"), ("a", "nobody")] * 5000
    answers = engine.relation_check(batch)
    assert [s.relation for s in answers[:3]] * 5000 == [s.relation for s in answers]
    assert answers[0].relation is PairRelation.BOTH_WAY


def test_the_audit_log_reads_backwards_from_the_newest(engine: Hushan) -> None:
    """The operator console's order: pages of the newest entries first, each page older than
    the last, together the whole log once."""
    for user in ("alice", "bob", "carol"):
        engine.create_user(user, verification_required=False)
    engine.send_request("alice", "bob")
    engine.send_request("bob", "carol")
    engine.delete_contact("alice", "bob")
    engine.block("carol", "alice")
    forwards = [x.seq for x in engine.audit_log(0, 1000)]
    assert len(forwards) >= 4
    backwards: list[int] = []
    page = engine.recent_audit(None, 3)
    while page:
        backwards += [x.seq for x in page]
        page = engine.recent_audit(page[-1].seq, 3)
    assert backwards == forwards[::-1]
    assert [x.seq for x in engine.recent_audit(forwards[2], 1000)] == forwards[1::-1]
    assert engine.recent_audit(forwards[0], 10) == []
