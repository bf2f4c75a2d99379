"""What only a Citus cluster shows (HUSHAN_TEST_CITUS_URL; `make test-citus`): the layout the
migrations give the schema, and that a write spanning nodes commits by two-phase commit, the
audit entry with the rows, under the coordinator's locks."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest

from hushan.domain.model import PairRelation
from hushan.service import Hushan
from hushan.store.postgres import PostgresStore
from tests.conftest import CITUS, Backends
from tests.drive import befriend

pytestmark = pytest.mark.skipif(not CITUS, reason="no Citus cluster (HUSHAN_TEST_CITUS_URL)")

BY_USER = {
    "users": "id",
    "edges": "owner_id",
    "blocks": "blocker_id",
    "friend_requests": "to_id",
    "notices": "user_id",
    "devices": "user_id",
    "changes": "user_id",
    "conversations": "user_lo",
    "conversation_keys": "user_lo",
    "messages": "user_lo",
}


@pytest.fixture
def citus_engine(request: pytest.FixtureRequest) -> Iterator[Hushan]:
    made = Backends("citus", request)
    yield made.engine()
    made.close()


def _store(engine: Hushan) -> PostgresStore:
    assert isinstance(engine.store, PostgresStore)
    return engine.store


def test_the_schema_is_distributed_by_user_and_the_rest_kept_on_the_coordinator(
    citus_engine: Hushan,
) -> None:
    with psycopg.connect(_store(citus_engine).url) as conn:
        rows = conn.execute(
            "SELECT table_name::text, citus_table_type, distribution_column, colocation_id"
            " FROM citus_tables"
        ).fetchall()
    distributed = {name: column for name, kind, column, _ in rows if kind == "distributed"}
    assert distributed == BY_USER
    assert len({group for _, kind, _, group in rows if kind == "distributed"}) == 1
    local = {name for name, kind, _, _ in rows if kind == "local"}
    assert {"audit_log", "log_leaves", "log_nodes", "log_checkpoints", "tokens"} <= local
    assert _store(citus_engine).citus is not False
    # Only Alembic's own bookkeeping stays a plain table (written by migrations alone).
    assert set(_store(citus_engine).table_names()) == local | set(BY_USER) | {"alembic_version"}


def _worker_of(conn: psycopg.Connection[tuple[object, ...]], user: str) -> int:
    row = conn.execute(
        "SELECT p.nodeport FROM pg_dist_shard_placement p"
        " WHERE p.shardid = get_shard_id_for_distribution_column('users', %s::varchar)",
        (user,),
    ).fetchone()
    assert row is not None
    return int(str(row[0]))


def _users_on_two_workers(url: str) -> tuple[str, str]:
    with psycopg.connect(url) as conn:
        first = "u0"
        for n in range(1, 200):
            if _worker_of(conn, f"u{n}") != _worker_of(conn, first):
                return first, f"u{n}"
    raise AssertionError("no two users on two workers")


def _remote_commands(engine: Hushan, work: Callable[[], object]) -> list[str]:
    """The commands the coordinator sends the workers while `work` runs on this thread."""
    store = _store(engine)
    sent: list[str] = []
    with store.pinned():
        conn: psycopg.Connection[tuple[object, ...]] = store._pinned.conn
        conn.add_notice_handler(lambda d: sent.append(f"{d.message_primary} {d.message_detail}"))
        conn.execute("SET citus.log_remote_commands = on")
        conn.commit()
        try:
            work()
        finally:
            conn.execute("RESET citus.log_remote_commands")
            conn.commit()
    return sent


def _servers(sent: list[str], command: str) -> set[str]:
    return {line.split(" on server ")[1].split()[0] for line in sent if command in line}


def test_a_pair_on_two_workers_commits_with_its_audit_entry_by_two_phase_commit(
    citus_engine: Hushan,
) -> None:
    """An accepted request changes both users' shards, on two workers, and the coordinator's
    audit log: each worker is sent PREPARE TRANSACTION, then COMMIT PREPARED."""
    a, b = _users_on_two_workers(_store(citus_engine).url)
    for user in (a, b):
        citus_engine.create_user(user)
    citus_engine.send_request(a, b)
    sent = _remote_commands(citus_engine, lambda: citus_engine.accept_request(b, a))
    assert len(_servers(sent, "PREPARE TRANSACTION")) == 2, sent
    assert _servers(sent, "COMMIT PREPARED") == _servers(sent, "PREPARE TRANSACTION")
    assert citus_engine.relation_check([(a, b)])[0].relation is PairRelation.BOTH_WAY


def test_a_one_user_write_and_its_audit_entry_commit_together(citus_engine: Hushan) -> None:
    """A block changes one user's shard, on one worker, and writes the coordinator's audit
    log, a Citus local table: Citus still commits the two by two-phase commit (with a plain
    table there, it would commit the worker alone, in one phase, before the coordinator)."""
    befriend(citus_engine, "x1", "y1")
    sent = _remote_commands(citus_engine, lambda: citus_engine.block("x1", "y1"))
    assert len(_servers(sent, "PREPARE TRANSACTION")) == 1, sent
    assert _servers(sent, "COMMIT PREPARED") == _servers(sent, "PREPARE TRANSACTION")
