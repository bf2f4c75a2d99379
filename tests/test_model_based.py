"""Model-based tests in the spirit of ejabberd's roster tests: from each starting state, every
ordered sequence of two actions (on a database server a third of them, `SERVER_SHARE`) and a
sample of three, between two users, is run on the real engine and checked against the
reference model: outcome or refusal code, pair relation, blocks, history state, purge time and
readable messages after every step."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from hushan.clock import ManualClock, to_micros
from hushan.service import Hushan
from hushan.store.postgres import PostgresStore
from tests.conftest import BACKENDS, SERVERS, Backends, emptied, engine_on, fresh_engine
from tests.drive import apply
from tests.model import ACTIONS, PairModel

pytestmark = pytest.mark.long

# Every action by either side, plus the passage of time and the sweep.
STEPS: list[tuple[str, str]] = [(a, who) for a in ACTIONS for who in ("x", "y")] + [
    ("advance_10d", ""),
    ("advance_31d", ""),
    ("sweep", ""),
]

# Starting states, each reached from strangers by a short script of steps.
STARTS: dict[str, list[tuple[str, str]]] = {
    "strangers": [],
    "pending x->y": [("request", "x")],
    "friends": [("request", "x"), ("accept", "y"), ("send", "x")],
    "x removed y": [("request", "x"), ("accept", "y"), ("send", "y"), ("delete", "x")],
    "mutual deleted": [
        ("request", "x"),
        ("accept", "y"),
        ("send", "x"),
        ("delete", "x"),
        ("delete", "y"),
    ],
    "buffer expired, unswept": [
        ("request", "x"),
        ("accept", "y"),
        ("send", "x"),
        ("delete", "y"),
        ("delete", "x"),
        ("advance_31d", ""),
    ],
    "purged after buffer": [
        ("request", "x"),
        ("accept", "y"),
        ("send", "x"),
        ("delete", "x"),
        ("delete", "y"),
        ("advance_31d", ""),
        ("sweep", ""),
    ],
    "x blocks y, friends": [("request", "x"), ("accept", "y"), ("send", "x"), ("block", "x")],
    "block-deleted": [("request", "x"), ("accept", "y"), ("send", "y"), ("block_delete", "x")],
    "pending swallowed": [("block", "y"), ("request", "x")],
}


class Run:
    """One pair of fresh users on a shared engine, stepped in lockstep with the model."""

    def __init__(self, engine: Hushan, clock: ManualClock, tag: str) -> None:
        self.engine, self.clock = engine, clock
        self.x, self.y = f"x{tag}", f"y{tag}"
        for user in (self.x, self.y):
            engine.create_user(user)
        self.model = PairModel(self.x, self.y)
        self.sent = 0

    def now(self) -> float:
        return to_micros(self.clock.now()) / 1e6

    def step(self, action: str, who: str) -> None:
        if action.startswith("advance_"):
            self.clock.advance(timedelta(days=int(action[8:-1])))
            return
        if action == "sweep":
            self.engine.sweep()
            self.model.sweep(self.now())
            return
        actor = self.x if who == "x" else self.y
        other = self.model.other(actor)
        self.sent += 1
        body = f"{actor}#{self.sent}"
        model_action: Callable[..., str] = getattr(self.model, action)
        if action == "send":
            expected = model_action(actor, self.now(), body)
        else:
            expected = model_action(actor, self.now())
        got = apply(self.engine, action, actor, other, body)
        assert got == expected, f"{action} by {who}: engine {got!r}, model {expected!r}"

    def check(self, where: str) -> None:
        m = self.model
        (status,) = self.engine.relation_check([(self.x, self.y)])
        assert status.relation.value == m.relation(), where
        assert (status.a_blocks_b, status.b_blocks_a) == (m.blocks[self.x], m.blocks[self.y])
        assert (status.history_state.value if status.history_state else None) == m.history, where
        expected_purge = None if m.purge_at is None else m.purge_at
        got_purge = None if status.purge_at is None else to_micros(status.purge_at) / 1e6
        assert got_purge == expected_purge, where
        for me in (self.x, self.y):
            history = self.engine.history(me, m.other(me))
            bodies = [msg.body for msg in history.messages]
            assert bodies == m.messages, f"{where}: {me} reads {bodies}, model {m.messages}"
            assert not set(bodies) & m.purged_bodies, f"{where}: purged history came back"
            outgoing = {r.to_id for r in self.engine.list_requests(me, incoming=False)}
            assert (m.other(me) in outgoing) == m.listed_as_outgoing(me, self.now()), where


@pytest.fixture(scope="module", params=BACKENDS)
def shared(request: pytest.FixtureRequest, template_db: Path) -> Iterator[Hushan]:
    """One engine per backend for the whole module: each case uses users of its own."""
    engine = (
        engine_on(PostgresStore(emptied(Backends(request.param, request).shared_database())))
        if request.param in SERVERS
        else fresh_engine(template_db, request.getfixturevalue("tmp_path_factory").mktemp("m"))
    )
    yield engine
    engine.store.close()


def _run(engine: Hushan, start: str, steps: list[tuple[str, str]], tag: str) -> None:
    assert isinstance(engine.clock, ManualClock)
    run = Run(engine, engine.clock, tag)
    for action, who in STARTS[start]:
        run.step(action, who)
    run.check(f"start {start}")
    for i, (action, who) in enumerate(steps):
        run.step(action, who)
        run.check(f"start {start}, step {i + 1} {action} by {who or '-'}")


# On a database server, each start runs a third of the pairs, a different third for each start
# in turn: the rules are the same code on every backend, which SQLite checks on every pair; what
# a server adds (its SQL, locks and sweeps) every third still reaches, at a third of the time.
SERVER_SHARE = 3


@pytest.mark.parametrize("start", list(STARTS))
def test_every_pair_of_actions(shared: Hushan, start: str) -> None:
    share = SERVER_SHARE if isinstance(shared.store, PostgresStore) else 1
    offset = list(STARTS).index(start) % share
    for n, (first, second) in enumerate(itertools.product(STEPS, STEPS)):
        if n % share == offset:
            _run(shared, start, [first, second], f"{abs(hash(start)) % 10_000}_{n}")


def test_sample_of_three_actions(shared: Hushan) -> None:
    rng = random.Random(20261126)
    triples = list(itertools.product(STEPS, STEPS, STEPS))
    for n, triple in enumerate(rng.sample(triples, 300)):
        start = rng.choice(list(STARTS))
        _run(shared, start, list(triple), f"t{n}")
