"""Crash safety with SIGKILL, on each backend: a real `hushan serve` is killed mid-burst and
mid-sweep, restarted on the same database, and must hold every acknowledged write, keep its
invariants, and finish the sweep without repeating a step (Rule 5, Rule 7)."""

from __future__ import annotations

import re
import shutil
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.api_client import Api, User, uid
from tests.conftest import BACKENDS, new_database
from tests.server import Server

DAY = 86400


@dataclass(frozen=True)
class Database:
    """The database a test's servers share, on one backend, and a direct read-only view of it
    for observations (never a write)."""

    directory: Path  # the servers' working directory: key files, logs, the SQLite file
    env: dict[str, str]
    url: str | None = None  # PostgreSQL; else the SQLite file in `directory`

    @property
    def file(self) -> Path:
        return self.directory / "hushan.db"

    def count(self, sql: str) -> int:
        if self.url is not None:
            with psycopg.connect(self.url) as conn:
                row = conn.execute(sql).fetchone()
        else:
            with closing(sqlite3.connect(self.file, timeout=10)) as conn:
                row = conn.execute(sql).fetchone()
        assert row is not None
        return int(row[0])

    def as_crashed(self, into: Path) -> Database:
        """The database as the crash left it, to inspect while servers go on. A SQLite file is
        copied with its WAL and shared-memory files; PostgreSQL outlives the killed server
        and holds exactly what it committed, so it is read as it is, before any restart."""
        if self.url is not None:
            return self
        into.mkdir()
        for suffix in ("", "-wal", "-shm"):
            source = self.file.with_name(self.file.name + suffix)
            if source.exists():
                shutil.copyfile(source, into / source.name)
        return Database(into, self.env)


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    directory = tmp_path / "data"
    directory.mkdir()
    url = new_database(request, request.param)
    if url is not None:
        return Database(directory, {"HUSHAN_DATABASE_URL": url}, url)
    return Database(directory, {})


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    """Closes every client and stops every server a test opened, whatever happened."""
    with ExitStack() as opened:
        yield opened


def start(stack: ExitStack, directory: Path, **env: str) -> tuple[Server, Api]:
    """A server on `directory`'s database (a new port each time) and a client for it."""
    server = Server(directory, **env)
    stack.callback(server.stop)
    server.start()
    return server, stack.enter_context(Api(server.url))


# ---- a) a burst of writes, killed ----------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One write: `actor` acts toward `other`; `expect` is the documented success answer."""

    kind: str  # request | accept | message | delete
    actor: User
    other: User
    expect: str
    body: str = ""

    def send(self, http: httpx.Client) -> httpx.Response:
        me = f"/v1/users/{self.actor.id}"
        auth = self.actor.auth
        if self.kind == "request":
            return http.post(f"{me}/requests", headers=auth, json={"to": self.other.id})
        if self.kind == "accept":
            return http.post(f"{me}/requests/{self.other.id}/accept", headers=auth)
        if self.kind == "message":
            return http.post(
                f"{me}/messages", headers=auth, json={"to": self.other.id, "body": self.body}
            )
        assert self.kind == "delete"
        return http.delete(f"{me}/contacts/{self.other.id}", headers=auth)

    def answered_as_expected(self, response: httpx.Response) -> bool:
        if self.kind == "message":
            return response.status_code == 201 and response.json()["body"] == self.body
        return response.status_code == 200 and response.json() == {"status": self.expect}


def script(a: User, b: User) -> list[Op]:
    """A pair's life: befriend, talk, one-way delete and instant re-add, talk, mutual delete,
    restore inside the buffer, talk."""

    def talk(tag: str, count: int) -> list[Op]:
        return [
            Op("message", x, y, "201", f"{x.id}:{tag}:{i}")
            for i, (x, y) in enumerate([(a, b), (b, a)] * (count // 2))
        ]

    return [
        Op("request", a, b, "pending"),
        Op("accept", b, a, "added"),
        *talk("first", 6),
        Op("delete", a, b, "deleted"),
        Op("request", a, b, "added"),
        *talk("second", 4),
        Op("delete", b, a, "deleted"),
        Op("delete", a, b, "deleted"),
        Op("request", a, b, "pending"),
        Op("accept", b, a, "added"),
        *talk("third", 2),
    ]


@dataclass(frozen=True)
class PairState:
    """What the server must hold for a pair (a, b), as the client can read it back."""

    a_has_b: bool = False
    b_has_a: bool = False
    history: str | None = None
    a_requested_b: bool = False
    messages: tuple[tuple[str, str], ...] = field(default=())  # (sender, body)

    def after(self, op: Op, a: User) -> PairState:
        by_a = op.actor.id == a.id
        if op.kind == "message":
            return replace(self, messages=(*self.messages, (op.actor.id, op.body)))
        if op.kind == "request" and op.expect == "pending":
            return replace(self, a_requested_b=self.a_requested_b or by_a)
        if op.kind in ("request", "accept"):
            history = "active" if self.history in (None, "buffered") else self.history
            return replace(self, a_has_b=True, b_has_a=True, history=history, a_requested_b=False)
        assert op.kind == "delete"
        state = replace(self, a_has_b=False) if by_a else replace(self, b_has_a=False)
        if not (state.a_has_b or state.b_has_a) and state.history == "active":
            state = replace(state, history="buffered")
        return state


@dataclass
class Burst:
    acked: list[tuple[int, Op, dict[str, Any]]] = field(default_factory=list)
    in_flight: dict[int, Op] = field(default_factory=dict)  # pair index -> unanswered write
    surprises: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, url: str, pairs: list[tuple[int, User, User]]) -> None:
        with httpx.Client(base_url=url, timeout=10) as http:
            for index, a, b in pairs:
                for op in script(a, b):
                    try:
                        response = op.send(http)
                    except httpx.TransportError:
                        with self.lock:
                            self.in_flight[index] = op
                        return
                    if not op.answered_as_expected(response):
                        with self.lock:
                            self.surprises.append(f"{op}: {response.status_code} {response.text}")
                        return
                    with self.lock:
                        self.acked.append((index, op, response.json()))


Span = tuple[datetime, datetime | None]


def replay_audit(entries: list[dict[str, Any]], a: str, b: str) -> tuple[set[str], list[Span]]:
    """Fold a pair's edge entries in log order: the edges they leave, and the time spans in
    which the pair was both_way."""
    edges: set[str] = set()
    spans: list[Span] = []
    for entry in entries:
        if {entry["a"], entry["b"]} != {a, b}:
            continue
        when = datetime.fromisoformat(entry["at"])
        edge = entry["detail"].split(" ")[0]
        was_both = len(edges) == 2
        if entry["action"] == "edge_added":
            edges.add(edge)
        elif entry["action"] == "edge_removed":
            edges.discard(edge)
        else:
            continue
        if len(edges) == 2 and not was_both:
            spans.append((when, None))
        elif was_both and len(edges) < 2:
            spans[-1] = (spans[-1][0], when)
    return edges, spans


def test_acknowledged_writes_survive_sigkill(database: Database, stack: ExitStack) -> None:
    threads, pairs_per_thread, kill_after_acks = 4, 40, 400
    first, api = start(stack, database.directory, **database.env)
    pairs = [
        (i, api.create_user(uid("a")), api.create_user(uid("b")))
        for i in range(threads * pairs_per_thread)
    ]
    burst = Burst()
    workers = [
        threading.Thread(target=burst.run, args=(first.url, pairs[t::threads]), daemon=True)
        for t in range(threads)
    ]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 20
    while len(burst.acked) < kill_after_acks and time.monotonic() < deadline:
        time.sleep(0.005)
    first.kill()
    for worker in workers:
        worker.join(timeout=15)
    assert burst.surprises == []
    assert len(burst.acked) >= kill_after_acks
    assert burst.in_flight, "the kill should have caught writes in flight"

    second, api = start(stack, database.directory, **database.env)
    users = {u.id: u for _, a, b in pairs for u in (a, b)}
    contacts = {user_id: set(api.contacts(user)) for user_id, user in users.items()}
    audit = api.audit()
    relations = api.relations([(a.id, b.id) for _, a, b in pairs])

    acked_by_pair: dict[int, list[tuple[Op, dict[str, Any]]]] = {}
    for index, op, reply in burst.acked:
        acked_by_pair.setdefault(index, []).append((op, reply))

    for (index, a, b), relation in zip(pairs, relations, strict=True):
        state = PairState()
        for op, _ in acked_by_pair.get(index, []):
            state = state.after(op, a)
        allowed = {state}
        if index in burst.in_flight:
            allowed.add(state.after(burst.in_flight[index], a))

        history = api.history(a, b.id)
        found = PairState(
            a_has_b=b.id in contacts[a.id],
            b_has_a=a.id in contacts[b.id],
            history=history["state"],
            a_requested_b=any(r["to"] == b.id for r in api.requests(a, "outgoing")),
            messages=tuple((m["sender"], m["body"]) for m in history["messages"]),
        )
        assert found in allowed, (index, found, allowed)

        # Every acknowledged message is there, under the id it was acknowledged with.
        stored = {m["id"]: (m["sender"], m["body"]) for m in history["messages"]}
        for op, reply in acked_by_pair.get(index, []):
            if op.kind == "message":
                assert stored.get(reply["id"]) == (op.actor.id, op.body), (index, reply)
        assert history == api.history(b, a.id)  # both sides read the same conversation

        # Invariants: the relation check agrees with the contact lists; the audit log, written
        # in the same transaction as each change, replays to the same edges; every message was
        # sent while the pair was both_way.
        expected_relation = {
            (True, True): "both_way",
            (True, False): "a_has_b",
            (False, True): "b_has_a",
            (False, False): "none",
        }[(found.a_has_b, found.b_has_a)]
        assert relation["relation"] == expected_relation, (index, relation)
        assert relation["history_state"] == found.history
        edges, spans = replay_audit(audit, a.id, b.id)
        expected_edges = {f"{a.id}->{b.id}"} if found.a_has_b else set()
        expected_edges |= {f"{b.id}->{a.id}"} if found.b_has_a else set()
        assert edges == expected_edges, (index, edges)
        for message in history["messages"]:
            sent = datetime.fromisoformat(message["sent_at"])
            assert any(start <= sent and (end is None or sent <= end) for start, end in spans), (
                index,
                message,
                spans,
            )

    # Nobody gained a contact outside their pair.
    partner = {a.id: b.id for _, a, b in pairs} | {b.id: a.id for _, a, b in pairs}
    assert all(found <= {partner[user_id]} for user_id, found in contacts.items())


# ---- b) killed during a purge sweep --------------------------------------------------------


def test_sweep_killed_midway_resumes_without_repeating_a_step(
    database: Database, tmp_path: Path, stack: ExitStack
) -> None:
    # Small batches make many steps of few messages: the kill lands midway without a large
    # history to write first.
    pair_count, messages_per_pair, threads = 100, 20, 4
    env = {
        **database.env,
        "HUSHAN_PURGE_BATCH_ROWS": "4",
        "HUSHAN_SWEEP_INTERVAL_SECONDS": "3600",
    }
    data = database.directory
    first, api = start(stack, data, **env)
    pairs = [
        (api.create_user(uid("a")), api.create_user(uid("b"), verification_required=False))
        for _ in range(pair_count)
    ]
    for a, b in pairs:
        assert api.send_request(a, b.id) == "added"

    def talk(chunk: list[tuple[User, User]]) -> None:
        with Api(first.url) as own:
            for a, b in chunk:
                for i in range(messages_per_pair):
                    sender, to = (a, b) if i % 2 == 0 else (b, a)
                    own.message(sender, to.id, f"{sender.id} #{i}")

    talkers = [threading.Thread(target=talk, args=(pairs[t::threads],)) for t in range(threads)]
    for talker in talkers:
        talker.start()
    for talker in talkers:
        talker.join()
    for a, b in pairs:
        api.delete(a, b.id)
        api.delete(b, a.id)
    assert {r["history_state"] for r in api.relations((a.id, b.id) for a, b in pairs)} == {
        "buffered"
    }
    total = pair_count * messages_per_pair
    assert database.count("SELECT count(*) FROM messages") == total

    api.advance(31 * DAY)

    def sweep() -> None:
        try:
            with Api(first.url, timeout=60) as own:
                own.sweep()
        except httpx.TransportError:
            pass  # killed, as intended

    sweeper = threading.Thread(target=sweep, daemon=True)
    sweeper.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if database.count("SELECT count(*) FROM messages") < total * 0.8:
            break
        time.sleep(0.001)
    first.kill()
    sweeper.join(timeout=10)

    # As the crash left it: the sweep was midway, and no purged conversation kept its key.
    crashed = database.as_crashed(tmp_path / "crashed")
    finished = crashed.count("SELECT count(*) FROM conversations WHERE rows_purged_at IS NOT NULL")
    assert 0 <= finished < pair_count, "the sweep finished before the kill: make it longer"
    assert crashed.count("SELECT count(*) FROM messages") > 0
    assert (
        crashed.count(
            "SELECT count(*) FROM conversations AS c JOIN conversation_keys AS k"
            " ON k.conversation_id = c.id WHERE c.state = 'purged'",
        )
        == 0
    )

    # Restart on the same database. The test clock's offset lived in the killed process:
    # move it past purge_at again (purge_at is stored absolute), then sweep.
    second, api = start(stack, data, **env)
    api.advance(31 * DAY)
    api.sweep()
    api.sweep()  # a second sweep finds nothing left and repeats nothing

    conversation_ids = set()
    for a, b in pairs:
        status = api.pair(a.id, b.id)
        conversation = status["conversation"]
        assert status["history_state"] == "purged" and status["relation"] == "none"
        assert conversation["state"] == "purged" and conversation["key_present"] is False
        assert conversation["key_destroyed_at"] is not None
        assert conversation["rows_purged_at"] is not None
        conversation_ids.add(conversation["id"])
        for reader, other in ((a, b), (b, a)):
            history = api.history(reader, other.id)
            assert (history["state"], history["messages"]) == ("purged", [])
    assert len(conversation_ids) == pair_count
    assert database.count("SELECT count(*) FROM messages") == 0

    destroyed: Counter[int] = Counter()
    purged: Counter[int] = Counter()
    for entry in api.audit():
        match = re.match(r"conversation=(\d+)", entry["detail"])
        if entry["action"] == "key_destroyed" and match:
            destroyed[int(match.group(1))] += 1
        elif entry["action"] == "rows_purged" and match:
            purged[int(match.group(1))] += 1
    assert destroyed == Counter(dict.fromkeys(conversation_ids, 1))
    assert purged == Counter(dict.fromkeys(conversation_ids, 1))
