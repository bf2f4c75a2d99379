"""Stateful property test: random sequences of every relationship action among four users,
with time passing and sweeps, checked against the reference model and the contract's
invariants after every step."""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import tempfile
from collections import Counter
from datetime import timedelta
from functools import cache
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from hushan.clock import ManualClock, to_micros
from hushan.crypto import Sealer
from hushan.domain.errors import NothingToCertify
from hushan.domain.model import AuditAction, ordered
from hushan.domain.notices import NoticeGrade
from hushan.service import Hushan
from hushan.store import migrate
from hushan.store.postgres import PostgresStore
from hushan.tlog.certificate import LegalBasis, verify
from hushan.tlog.note import Signer
from tests.conftest import (
    CITUS,
    PG_URL,
    POSTGRES,
    create_citus_database,
    database_url,
    drop_citus_database,
    emptied,
    fresh_engine,
)
from tests.drive import apply
from tests.model import PairModel

USERS = ("u1", "u2", "u3", "u4")
PAIRS = [ordered(a, b) for a, b in itertools.combinations(USERS, 2)]
# Weighted so that stories reach friendship, parting and restore, not only blocks.
STORY_ACTIONS = st.sampled_from(
    ["request"] * 4
    + ["accept"] * 4
    + ["send"] * 2
    + ["delete"] * 3
    + ["reject", "block", "unblock", "unblock", "block_delete"]
)


@cache
def _template() -> Path:
    path = Path(tempfile.mkdtemp(prefix="hushan-sm-")) / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


def _edge(detail: str) -> tuple[str, str]:
    """The edge an audit entry names in its detail, as "owner->contact [reason]"."""
    owner, contact = detail.split()[0].split("->")
    return owner, contact


@cache
def _pg_database() -> str:
    """One migrated PostgreSQL database for this process's state machine runs."""
    name = f"hushan_sm_{os.getpid()}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = database_url(name)

    def drop() -> None:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    atexit.register(drop)
    migrate.upgrade(url)
    return url


pytestmark = pytest.mark.long


class Relationships(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine: Hushan = self.new_engine()
        assert isinstance(self.engine.clock, ManualClock)
        self.clock: ManualClock = self.engine.clock
        for user in USERS:
            self.engine.create_user(user)
        self.models = {pair: PairModel(*pair) for pair in PAIRS}
        self.counter = 0

    def new_engine(self) -> Hushan:
        self.directory = Path(tempfile.mkdtemp(prefix="hushan-sm-run-"))
        return fresh_engine(_template(), self.directory)

    def now(self) -> float:
        return to_micros(self.clock.now()) / 1e6

    def teardown(self) -> None:
        self.engine.store.close()
        if hasattr(self, "directory"):
            shutil.rmtree(self.directory, ignore_errors=True)

    @rule(
        action=STORY_ACTIONS,
        actor=st.sampled_from(USERS),
        other=st.sampled_from(USERS),
    )
    def act_any(self, action: str, actor: str, other: str) -> None:
        self.act(action, actor, other)

    # Most steps stay on one pair, so long stories (befriend, part, restore, purge) happen.
    @rule(action=STORY_ACTIONS, forward=st.booleans())
    def act_on_first_pair(self, action: str, forward: bool) -> None:
        actor, other = PAIRS[0] if forward else PAIRS[0][::-1]
        self.act(action, actor, other)

    def act(self, action: str, actor: str, other: str) -> None:
        if actor == other:
            assert apply(self.engine, action, actor, other) in (
                "cannot_befriend_self",
                "not_in_your_contacts",
                "request_not_found",
                "not_pending",
            )
            return
        model = self.models[ordered(actor, other)]
        self.counter += 1
        body = f"m{self.counter}"
        expected = (
            model.send(actor, self.now(), body)
            if action == "send"
            else getattr(model, action)(actor, self.now())
        )
        got = apply(self.engine, action, actor, other, body)
        assert got == expected, f"{action} {actor}->{other}: engine {got}, model {expected}"
        event(f"{action}: {got}")
        if model.restores:
            event("a history was restored")
        if model.history == "purged":
            event("a history was purged")

    @initialize(grades=st.lists(st.sampled_from(list(NoticeGrade)), min_size=4, max_size=4))
    def choose_notice_grades(self, grades: list[NoticeGrade]) -> None:
        # From the start, so that most removals are made under some grade other than silent.
        for user, grade in zip(USERS, grades, strict=True):
            self.set_notice_grade(user, grade)

    @rule(user=st.sampled_from(USERS), grade=st.sampled_from(list(NoticeGrade)))
    def set_notice_grade(self, user: str, grade: NoticeGrade) -> None:
        self.engine.update_settings(user, notice_grade=grade)
        for model in self.models.values():
            if user in (model.x, model.y):
                model.grades[user] = grade.value

    @rule(hours=st.sampled_from([1, 24, 24 * 6, 24 * 8, 24 * 29, 24 * 31]))
    def advance(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))

    @rule()
    def sweep(self) -> None:
        self.engine.sweep()
        for model in self.models.values():
            model.sweep(self.now())

    @rule(pair=st.sampled_from(PAIRS), forward=st.booleans())
    def certify(self, pair: tuple[str, str], forward: bool) -> None:
        """A certificate's claims come from live state; the verifier replays the pair's log
        entries. Any disagreement between the two fails verification."""
        holder, other = pair if forward else pair[::-1]
        try:
            data = self.engine.log.certificate(holder, other, LegalBasis.USER_REQUEST)
        except NothingToCertify:
            return
        verdict = verify(data, self.engine.log.signer.verifier)
        model = self.models[pair]
        assert verdict.claims["history_state"] == model.history, pair
        event("certified")

    @invariant()
    def pairs_match_model(self) -> None:
        statuses = self.engine.relation_check(PAIRS)
        for status, pair in zip(statuses, PAIRS, strict=True):
            m = self.models[pair]
            assert status.relation.value == m.relation(), pair
            assert (status.a_blocks_b, status.b_blocks_a) == (m.blocks[m.x], m.blocks[m.y])
            state = status.history_state.value if status.history_state else None
            assert state == m.history, pair

    @invariant()
    def disclosable_removals_match_model(self) -> None:
        """A removal is kept exactly while its grade may still disclose it: made under a
        grade other than silent, not a block-then-delete, and not undone by a re-add."""
        kept = {(r[0], r[1]) for r in self.engine.store.dump_rows("removals")}
        expected = {
            (user, model.other(user))
            for model in self.models.values()
            for user in (model.x, model.y)
            if model.disclosable[user]
        }
        assert kept == expected
        if kept:
            event("a disclosable removal is in force")

    @invariant()
    def contact_counts_match_lists(self) -> None:
        # The friend limit reads a kept count; it must equal the list it stands for.
        with self.engine.store.read() as tx:
            for user in USERS:
                assert tx.pair_facts(user, user).actor_contacts == len(tx.list_contacts(user)), user

    @invariant()
    def messages_readable_only_as_model_says(self) -> None:
        # A message is stored only for a both_way, unblocked pair (checked on every send), and
        # what each side reads is exactly the model's history: purged ones never come back.
        for pair, m in self.models.items():
            for me, other in (pair, pair[::-1]):
                bodies = [msg.body for msg in self.engine.history(me, other).messages]
                assert bodies == m.messages, (pair, me)
                assert not set(bodies) & m.purged_bodies, (pair, me)

    @invariant()
    def no_rows_without_key_after_sweep(self) -> None:
        # Every message row belongs to a conversation whose key exists, or to a purged one
        # whose rows the next sweep deletes; never to a live conversation without a key.
        store = self.engine.store
        keys = {row[0] for row in store.dump_rows("conversation_keys")}
        states = {row[0]: row[3] for row in store.dump_rows("conversations")}
        for row in store.dump_rows("messages"):
            conversation = row[1]
            assert conversation in keys or states[conversation] == "purged"
        for conversation, state in states.items():
            assert (conversation in keys) == (state != "purged")

    @invariant()
    def audit_accounts_for_every_change(self) -> None:
        edges: set[tuple[str, str]] = set()
        blocks: set[tuple[str, str]] = set()
        history: dict[tuple[str, str], str | None] = {}
        restores: Counter[tuple[str, str]] = Counter()
        for entry in self.engine.audit_log(0, 100_000):
            pair = ordered(entry.user_a, entry.user_b)
            if entry.action is AuditAction.EDGE_ADDED:
                edges.add(_edge(entry.detail))
            elif entry.action is AuditAction.EDGE_REMOVED:
                edges.discard(_edge(entry.detail))
            elif entry.action is AuditAction.BLOCK_ADDED:
                blocks.add((entry.user_a, entry.user_b))
            elif entry.action is AuditAction.BLOCK_REMOVED:
                blocks.discard((entry.user_a, entry.user_b))
            elif entry.action is AuditAction.HISTORY_RESTORED:
                restores[pair] += 1
            if entry.history_state is not None:
                history[pair] = entry.history_state.value
        for pair, m in self.models.items():
            x, y = pair
            assert ((x, y) in edges, (y, x) in edges) == (m.has[x], m.has[y]), pair
            assert ((x, y) in blocks, (y, x) in blocks) == (m.blocks[x], m.blocks[y]), pair
            assert history.get(pair) == m.history, pair
            # A restore happens only inside the buffer and never after block-delete.
            assert restores[pair] == m.restores, pair


Relationships.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRelationships = Relationships.TestCase


class PostgresRelationships(Relationships):
    def new_engine(self) -> Hushan:
        signer = Signer.generate("test.hushan/log")
        store = PostgresStore(emptied(_pg_database()))
        return Hushan(store, Sealer(os.urandom(32)), signer, ManualClock())


# Fewer runs than on SQLite: every step's invariants are dozens of round trips to the server.
PostgresRelationships.TestCase.settings = settings(Relationships.TestCase.settings, max_examples=40)
if POSTGRES:
    TestRelationshipsOnPostgres = PostgresRelationships.TestCase


@cache
def _citus_database() -> str:
    """One distributed database on the cluster for this process's state machine runs."""
    name = f"hushan_sm_{os.getpid()}"
    url = create_citus_database(name)
    atexit.register(drop_citus_database, name)
    return url


class CitusRelationships(Relationships):
    def new_engine(self) -> Hushan:
        signer = Signer.generate("test.hushan/log")
        store = PostgresStore(emptied(_citus_database()))
        return Hushan(store, Sealer(os.urandom(32)), signer, ManualClock())


# Fewer still than on PostgreSQL: a step's invariants make hundreds of statements, many of
# them fanning out to every shard (about a minute an example on the shared 2-core machine).
CitusRelationships.TestCase.settings = settings(Relationships.TestCase.settings, max_examples=5)
if CITUS:
    TestRelationshipsOnCitus = CitusRelationships.TestCase
