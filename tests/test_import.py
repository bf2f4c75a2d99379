"""The bulk import, on each backend: what it loads behaves exactly like relationships made
through the service, and a refused import writes nothing at all."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hushan.domain.errors import FriendLimitReached, ImportLineInvalid, ImportPairTaken
from hushan.domain.events import EVENT_OF_ACTION
from hushan.domain.model import AuditAction, HistoryState, PairRelation, RequestOutcome
from hushan.importer import import_edges, read_edges
from hushan.service import DeleteOutcome, Hushan, Limits
from hushan.tlog.certificate import LegalBasis, verify
from tests.conftest import Backends
from tests.test_cli import invoke

GRAPH = """owner,contact
alice,bob
bob,alice
carol,alice
dave,erin

erin,dave
alice,bob
"""


def table_sizes(engine: Hushan) -> dict[str, int]:
    return {t: len(list(engine.store.dump_rows(t))) for t in engine.store.table_names()}


def test_an_imported_graph_is_what_the_service_would_have_made(engine: Hushan) -> None:
    counts = import_edges(engine, GRAPH.splitlines(keepends=True)).counts
    assert (counts.users, counts.edges, counts.pairs) == (5, 5, 3)  # the repeated line is one
    assert counts.audit_entries == 5 + 3  # each edge, and each conversation's start
    (ab, ca, de) = engine.relation_check([("alice", "bob"), ("carol", "alice"), ("dave", "erin")])
    assert ab.relation is PairRelation.BOTH_WAY
    assert ca.relation is PairRelation.A_HAS_B  # carol has alice; alice does not have carol
    assert de.relation is PairRelation.BOTH_WAY
    assert all(s.history_state is HistoryState.ACTIVE for s in (ab, ca, de))
    assert [c.user_id for c in engine.list_contacts("alice")] == ["bob"]
    assert engine.get_user("carol").verification_required
    # The kept contact counts are right: they decide the friend limit.
    for user in ("alice", "bob", "carol", "dave", "erin"):
        stored = {r[0]: r for r in engine.store.dump_rows("users")}[user]
        assert stored[4] == len(engine.list_contacts(user))  # users.contact_count
    # Every pair works as one made by hand: messages, history, the three ways to part.
    engine.send_message("alice", "bob", "hello")
    assert [m.body for m in engine.history("bob", "alice").messages] == ["hello"]
    assert engine.send_request("alice", "carol") is RequestOutcome.ADDED  # the one-way re-add
    assert engine.delete_contact("dave", "erin") is DeleteOutcome.DELETED
    assert engine.delete_contact("erin", "dave") is DeleteOutcome.DELETED
    assert engine.history("dave", "erin").state is HistoryState.BUFFERED


def test_an_imported_pair_gets_a_certificate_that_verifies(engine: Hushan) -> None:
    import_edges(engine, GRAPH.splitlines())
    engine.block_and_delete("alice", "bob")
    data = engine.log.certificate("alice", "bob", LegalBasis.USER_REQUEST)
    claims = verify(data, engine.log.signer.verifier).claims
    assert claims["history_state"] == "purged"
    assert claims["key_destroyed_reason"] == "block_delete"
    one_way = engine.log.certificate("alice", "carol", LegalBasis.USER_REQUEST)
    assert verify(one_way, engine.log.signer.verifier).claims["relation"] == "b_has_a"


@pytest.mark.parametrize(
    ("lines", "line", "reason"),
    [
        (["alice,bob", "bob"], 2, "expected two fields"),
        (["alice,bob", "alice,bob,carol"], 2, "expected two fields"),
        (["alice,b ob"], 1, "is not a user id"),
        (["alice,"], 1, "is not a user id"),
        (["x" * 65 + ",alice"], 1, "is not a user id"),
        (["alice,bob", "", "carol,carol"], 3, "cannot have themselves"),
    ],
)
def test_a_bad_line_is_named_and_nothing_is_written(
    engine: Hushan, lines: list[str], line: int, reason: str
) -> None:
    before = table_sizes(engine)
    with pytest.raises(ImportLineInvalid) as raised:
        import_edges(engine, lines)
    assert raised.value.message.startswith(f"Line {line}: ")
    assert reason in raised.value.message
    assert table_sizes(engine) == before


@pytest.mark.parametrize("held", ["edge", "block", "request", "purged history"])
def test_a_pair_hushan_already_holds_refuses_the_whole_import(engine: Hushan, held: str) -> None:
    for user in ("alice", "bob"):
        engine.create_user(user)
    if held == "edge":
        engine.send_request("alice", "bob")
        engine.accept_request("bob", "alice")
        engine.delete_contact("alice", "bob")  # bob still has alice
    elif held == "block":
        engine.block("bob", "alice")
    elif held == "request":
        engine.send_request("bob", "alice")
    else:
        engine.send_request("alice", "bob")
        engine.accept_request("bob", "alice")
        engine.block_and_delete("alice", "bob")
        engine.unblock("alice", "bob")
        engine.delete_contact("bob", "alice")
    before = table_sizes(engine)
    with pytest.raises(ImportPairTaken) as raised:
        import_edges(engine, ["carol,dave", "alice,bob"])
    assert raised.value.message.startswith("Line 2: ")
    assert table_sizes(engine) == before  # carol and dave were not loaded either


def test_the_friend_limit_refuses_the_whole_import(backend: Backends) -> None:
    engine = backend.engine(Limits(max_friends=2))
    engine.create_user("alice")
    before = table_sizes(engine)
    with pytest.raises(FriendLimitReached) as raised:
        import_edges(engine, ["alice,b1", "alice,b2", "carol,dave", "alice,b3"])
    assert "'alice' would have 3 contacts" in raised.value.message
    assert table_sizes(engine) == before
    import_edges(engine, ["alice,b1", "alice,b2"])  # at the limit is fine


def test_an_empty_input_imports_nothing(engine: Hushan) -> None:
    before = table_sizes(engine)
    counts = import_edges(engine, ["owner,contact", "", "  "]).counts
    assert counts.edges == counts.pairs == counts.users == 0
    assert table_sizes(engine) == before


def test_reading_keeps_line_numbers_of_the_file() -> None:
    edges = list(read_edges(["owner,contact\n", "\n", "a,b\n", " c , d \n"]))
    assert [(e.line, e.owner, e.contact) for e in edges] == [(3, "a", "b"), (4, "c", "d")]


def test_the_cli_imports_a_file_and_refuses_a_missing_one(tmp_path: Path) -> None:
    source = tmp_path / "edges.csv"
    source.write_text(GRAPH)
    db = str(tmp_path / "cli.db")
    code, out = invoke("import", str(source), "--db", db, "--no-verification")
    assert code == 0, out
    assert "imported 5 edges in 3 pairs; 5 new users; 8 audit entries; 8 webhook events" in out
    code, out = invoke("pair", "alice", "bob", "--db", db)
    assert "both_way" in out
    (tmp_path / "more.csv").write_text("frank,gina\n")
    code, out = invoke("import", str(tmp_path / "more.csv"), "--db", db, "--no-events")
    assert code == 0 and "2 audit entries; 0 webhook events" in out, out
    code, out = invoke("import", str(source), "--db", db)
    assert code == 1 and "import_pair_taken" in out
    code, out = invoke("import", str(tmp_path / "missing.csv"), "--db", db)
    assert code == 1 and "no such file" in out
    (tmp_path / "bad.csv").write_bytes(b"alice,\xff\xfe\n")
    code, out = invoke("import", str(tmp_path / "bad.csv"), "--db", db)
    assert code == 1 and "not UTF-8" in out


def test_writers_do_not_wait_while_the_input_is_read(engine: Hushan) -> None:
    for user in ("alice", "bob"):
        engine.create_user(user, verification_required=False)
    reading, written = threading.Event(), threading.Event()

    def slow_input() -> Iterator[str]:
        yield "carol,dave"
        reading.set()
        assert written.wait(10), "a writer waited for the import's reading"
        yield "dave,carol"

    def write() -> None:
        assert reading.wait(10)
        engine.send_request("alice", "bob")  # one writer while the import reads its input
        written.set()

    writer = threading.Thread(target=write)
    writer.start()
    result = import_edges(engine, slow_input())
    writer.join(10)
    assert result.counts.edges == 2
    assert engine.relation_check([("alice", "bob")])[0].relation is PairRelation.BOTH_WAY


def outbox(engine: Hushan) -> list[tuple[int, str, str, str, str]]:
    with engine.store.read() as tx:
        events = tx.outbox_after(0, 10_000)
    return [(e.seq, e.type.value, e.actor, e.user_a, e.user_b) for e in events]


def test_an_import_s_relationships_reach_webhook_subscribers(engine: Hushan) -> None:
    """An import's audit entries are outbox events of its transaction, as the service's are:
    an endpoint registered before it gets a delivery for each, in per-pair order."""
    endpoint, _ = engine.create_endpoint("http://127.0.0.1:9/hook", ["contact.added"])
    counts = import_edges(engine, GRAPH.splitlines()).counts
    assert counts.events == counts.audit_entries == 8
    with engine.store.read() as tx:
        entries = tx.audit_entries(0, 10_000)
    assert outbox(engine) == [
        (e.seq, EVENT_OF_ACTION[e.action].value, e.actor, e.user_a, e.user_b) for e in entries
    ]
    engine.relay_events()
    deliveries = engine.list_deliveries(endpoint.id)
    added = [e.seq for e in entries if e.action is AuditAction.EDGE_ADDED]
    assert sorted(d.seq for d in deliveries) == added and len(added) == 5


def test_an_import_without_events_writes_none_and_holds_nothing_back(engine: Hushan) -> None:
    endpoint, _ = engine.create_endpoint("http://127.0.0.1:9/hook", ["contact.removed"])
    counts = import_edges(engine, GRAPH.splitlines(), events=False).counts
    assert (counts.audit_entries, counts.events) == (8, 0)
    assert outbox(engine) == []
    engine.delete_contact("alice", "bob")  # after the gap in the outbox's seqs
    ((seq, kind, *_),) = outbox(engine)
    with engine.store.read() as tx:
        imported = [e.seq for e in tx.audit_entries(0, 10_000)][:8]
    assert kind == "contact.removed" and seq > max(imported)
    engine.relay_events()
    assert [d.seq for d in engine.list_deliveries(endpoint.id)] == [seq]
