"""Two API processes racing on the same pair, on each backend: whatever the interleaving, the
pair ends as one of the two serial orders leaves it, with the audit entries of that order
(exactly one per change), never a mix."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hushan.domain.errors import HushanError
from hushan.service import Hushan
from tests.api_client import Api, User
from tests.conftest import Backends
from tests.server import Server, children

PAIRS = 8  # pairs raced at once in each scenario
Op = tuple[str, str]  # (who acts: "a" or "b", action)

# name: (setup steps, the two racing operations)
SCENARIOS: dict[str, tuple[list[Op], tuple[Op, Op]]] = {
    "both delete": ([("a", "request"), ("b", "accept")], (("a", "delete"), ("b", "delete"))),
    "accept vs delete": ([("a", "request")], (("b", "accept"), ("a", "delete"))),
    "block vs accept": ([("a", "request")], (("b", "accept"), ("a", "block"))),
    "two accepts": ([("a", "request")], (("b", "accept"), ("b", "accept"))),
    "delete vs block-delete": (
        [("a", "request"), ("b", "accept")],
        (("a", "delete"), ("b", "block_delete")),
    ),
    # Consensual mutual delete: a proposes; b accepts while a withdraws, or b both accepts
    # and declines a "remove anyway" proposal, or a deletes while b accepts.
    "accept vs withdraw": (
        [("a", "request"), ("b", "accept"), ("a", "propose")],
        (("b", "accept_proposal"), ("a", "withdraw_proposal")),
    ),
    "accept vs decline (remove anyway)": (
        [("a", "request"), ("b", "accept"), ("a", "propose_anyway")],
        (("b", "accept_proposal"), ("b", "decline_proposal")),
    ),
    "accept vs the proposer's delete": (
        [("a", "request"), ("b", "accept"), ("a", "propose")],
        (("b", "accept_proposal"), ("a", "delete")),
    ),
}


def act_api(api: Api, me: User, other: User, action: str) -> None:
    proposals = f"/v1/users/{me.id}/mutual-delete-proposals"
    calls: dict[str, Callable[[], Any]] = {
        "request": lambda: api.call(
            "POST", f"/v1/users/{me.id}/requests", me, json={"to": other.id}
        ),
        "accept": lambda: api.call("POST", f"/v1/users/{me.id}/requests/{other.id}/accept", me),
        "delete": lambda: api.call("DELETE", f"/v1/users/{me.id}/contacts/{other.id}", me),
        "block": lambda: api.call("PUT", f"/v1/users/{me.id}/blocks/{other.id}", me),
        "block_delete": lambda: api.call(
            "POST", f"/v1/users/{me.id}/contacts/{other.id}/block-and-delete", me
        ),
        "propose": lambda: api.call("POST", proposals, me, json={"to": other.id}),
        "propose_anyway": lambda: api.call(
            "POST", proposals, me, json={"to": other.id, "remove_anyway": True}
        ),
        "accept_proposal": lambda: api.call("POST", f"{proposals}/{other.id}/accept", me),
        "decline_proposal": lambda: api.call("POST", f"{proposals}/{other.id}/decline", me),
        "withdraw_proposal": lambda: api.call("DELETE", f"{proposals}/{other.id}", me),
    }
    response = calls[action]()
    assert response.status_code < 500, response.text


def act_engine(engine: Hushan, me: str, other: str, action: str) -> None:
    calls: dict[str, Callable[[], Any]] = {
        "request": lambda: engine.send_request(me, other),
        "accept": lambda: engine.accept_request(me, other),
        "delete": lambda: engine.delete_contact(me, other),
        "block": lambda: engine.block(me, other),
        "block_delete": lambda: engine.block_and_delete(me, other),
        "propose": lambda: engine.propose_mutual_delete(me, other),
        "propose_anyway": lambda: engine.propose_mutual_delete(me, other, remove_anyway=True),
        "accept_proposal": lambda: engine.accept_mutual_delete(me, other),
        "decline_proposal": lambda: engine.decline_mutual_delete(me, other),
        "withdraw_proposal": lambda: engine.withdraw_mutual_delete(me, other),
    }
    with contextlib.suppress(HushanError):  # a refusal is an outcome too: it changes nothing
        calls[action]()


def outcome(status: dict[str, Any], actions: list[str], proposals: int) -> tuple[Any, ...]:
    return (
        status["relation"],
        status["a_blocks_b"],
        status["b_blocks_a"],
        status["history_state"],
        tuple(sorted(Counter(actions).items())),
        proposals,  # mutual-delete proposals still pending between the two
    )


def serial_outcomes(backend: Backends, setup: list[Op], ops: tuple[Op, Op]) -> set[tuple[Any, ...]]:
    """What each serial order leaves, on a fresh engine of the same backend."""
    allowed = set()
    for order in (ops, ops[::-1]):
        engine = backend.engine()
        engine.create_user("a")
        engine.create_user("b")
        for who, action in setup:
            act_engine(engine, who, "b" if who == "a" else "a", action)
        after = engine.audit_log(0, 10_000)[-1].seq
        for who, action in order:
            act_engine(engine, who, "b" if who == "a" else "a", action)
        (status,) = engine.relation_check([("a", "b")])
        allowed.add(
            outcome(
                {
                    "relation": status.relation.value,
                    "a_blocks_b": status.a_blocks_b,
                    "b_blocks_a": status.b_blocks_a,
                    "history_state": status.history_state and status.history_state.value,
                },
                [e.action.value for e in engine.audit_log(after, 10_000)],
                sum(len(engine.list_proposals(u, incoming=False)) for u in ("a", "b")),
            )
        )
    return allowed


@pytest.fixture
def two_servers(backend: Backends, tmp_path: Path) -> Iterator[tuple[Api, Api]]:
    env = {"HUSHAN_TEST_CLOCK": "0"}
    if (url := backend.own_database()) is not None:
        env["HUSHAN_DATABASE_URL"] = url
    first = Server(tmp_path, **env).start()
    second = Server(tmp_path, **env).start()  # the same database (file or PostgreSQL)
    try:
        with Api(first.url) as one, Api(second.url) as two:
            yield one, two
        for server in (first, second):
            assert "Traceback" not in server.log()
    finally:
        first.stop()
        second.stop()


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_racing_processes_end_in_a_serial_outcome(
    scenario: str, backend: Backends, two_servers: tuple[Api, Api]
) -> None:
    setup, ops = SCENARIOS[scenario]
    allowed = serial_outcomes(backend, setup, ops)
    one, two = two_servers
    pairs = [one.users(f"ra{n}-", f"rb{n}-") for n in range(PAIRS)]
    for a, b in pairs:
        for who, action in setup:
            me, other = (a, b) if who == "a" else (b, a)
            act_api(one, me, other, action)
    start = one.audit_seq()
    barrier = threading.Barrier(2 * PAIRS)

    def race(api: Api, a: User, b: User, op: Op) -> None:
        me, other = (a, b) if op[0] == "a" else (b, a)
        barrier.wait()
        act_api(api, me, other, op[1])

    threads = [
        threading.Thread(target=race, args=(api, a, b, op))
        for a, b in pairs
        for api, op in ((one, ops[0]), (two, ops[1]))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = one.audit(after=start)
    for a, b in pairs:
        status = one.pair(a.id, b.id)
        actions = [e["action"] for e in entries if {e["a"], e["b"]} == {a.id, b.id}]
        pending = sum(
            len(
                one.ok("GET", f"/v1/users/{u.id}/mutual-delete-proposals?direction=outgoing", u)[
                    "proposals"
                ]
            )
            for u in (a, b)
        )
        found = outcome(status, actions, pending)
        assert found in allowed, (scenario, a.id, found)


def test_workers_in_several_processes_purge_each_history_exactly_once(
    backend: Backends, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys
    import time

    from hushan.bootstrap import build
    from hushan.config import Settings
    from hushan.domain.model import AuditAction

    monkeypatch.chdir(tmp_path)  # key files, when the database is not a file
    url = backend.own_database() or f"sqlite:///{tmp_path / 'workers.db'}"
    monkeypatch.setenv("HUSHAN_DATABASE_URL", url)
    monkeypatch.setenv("HUSHAN_BUFFER_SECONDS", "1")
    engine = build(Settings())
    try:
        conversations = 30
        for n in range(conversations):
            a, b = f"wa{n}", f"wb{n}"
            engine.create_user(a, verification_required=False)
            engine.create_user(b, verification_required=False)
            engine.send_request(a, b)
            engine.send_message(a, b, f"secret {n}")
            engine.delete_contact(a, b)
            engine.delete_contact(b, a)  # mutual: buffered, due in a second
        argv = [sys.executable, "-m", "hushan.cli", "worker", "--interval", "0.05"]
        workers = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(3)]
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                done = Counter(e.action for e in engine.audit_log(0, 10_000))
                if done[AuditAction.ROWS_PURGED] >= conversations:
                    break
                time.sleep(0.2)
            time.sleep(0.5)  # let any second purge of the same history show, were there one
        finally:
            for worker in workers:
                assert worker.stdout is not None
                worker.stdout.readline()  # its start line: it is past starting up
                worker.terminate()
            for worker in workers:
                worker.communicate(timeout=30)
                assert worker.wait(timeout=30) == 0
        done = Counter(e.action for e in engine.audit_log(0, 10_000))
        assert done[AuditAction.KEY_DESTROYED] == conversations  # none twice, none skipped
        assert done[AuditAction.ROWS_PURGED] == conversations
        assert list(engine.store.dump_rows("messages")) == []
    finally:
        engine.store.close()  # also when an assertion fails


def test_serve_with_two_api_processes(backend: Backends, tmp_path: Path) -> None:
    env = {"HUSHAN_TEST_CLOCK": "0"}
    if (url := backend.own_database()) is not None:
        env["HUSHAN_DATABASE_URL"] = url
    server = Server(tmp_path, "--workers", "2", **env).start()
    try:
        assert server.process is not None
        children_before_stop = children(server.process.pid)
        # two API processes and the background worker (uvicorn may add a helper)
        assert len(children_before_stop) >= 3, children_before_stop
        with Api(server.url) as api:
            a, b = api.users("wa", "wb")
            api.befriend(a, b)
            for n in range(20):  # spread over both processes by the kernel's accept queue
                api.message(a, b.id, f"m{n}")
            assert len(api.history(b, a.id)["messages"]) == 20
        assert "Traceback" not in server.log()
    finally:
        server.stop()
    assert not alive_after(children_before_stop, seconds=15), "a process outlived serve"


def alive_after(pids: list[int], seconds: float) -> list[int]:
    """Those of `pids` still running (zombies count as gone) after up to `seconds`."""
    import time

    def running(pid: int) -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state != "Z"

    deadline = time.monotonic() + seconds
    while (left := [pid for pid in pids if running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_the_test_clock_needs_one_api_process(tmp_path: Path) -> None:
    import subprocess
    import sys

    argv = [sys.executable, "-m", "hushan.cli", "serve", "--db", str(tmp_path / "x.db")]
    done = subprocess.run(
        [*argv, "--workers", "2", "--test-clock"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and "single API process" in done.stdout


def test_no_process_outlives_a_killed_multi_process_serve(tmp_path: Path) -> None:
    server = Server(tmp_path, "--workers", "2", HUSHAN_TEST_CLOCK="0").start()
    try:
        assert server.process is not None
        started = children(server.process.pid)
        assert len(started) >= 3, started
        server.kill()  # SIGKILL: serve runs no cleanup at all
        assert not alive_after(started, seconds=15), "a child of serve outlived it"
    finally:
        server.stop()


def race_accepts_against_a_sweep(before: Api, after: Api, tag: str) -> None:
    """PAIRS proposals made on `before`, accepted there while `after` sweeps, all at once."""
    pairs = [before.users(f"x{tag}a{n}-", f"x{tag}b{n}-") for n in range(PAIRS)]
    for a, b in pairs:
        before.befriend(a, b)
        path = f"/v1/users/{a.id}/mutual-delete-proposals"
        made = before.call("POST", path, a, json={"to": b.id, "remove_anyway": True})
        assert made.status_code == 201, made.text
    barrier = threading.Barrier(PAIRS + 1)
    accepted: dict[str, int] = {}

    def accept(a: User, b: User) -> None:
        barrier.wait()
        path = f"/v1/users/{b.id}/mutual-delete-proposals/{a.id}/accept"
        accepted[a.id] = before.call("POST", path, b).status_code

    def sweep() -> None:
        barrier.wait()
        after.sweep()

    threads = [threading.Thread(target=accept, args=pair) for pair in pairs]
    threads.append(threading.Thread(target=sweep))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    after.sweep()  # whatever the race left due
    for a, b in pairs:
        notices = before.ok("GET", f"/v1/users/{a.id}/notices", a)["notices"]
        found = (accepted[a.id], before.relation(a.id, b.id), [n["kind"] for n in notices])
        assert found in (
            (200, "none", ["mutual_delete_accepted"]),
            (404, "b_has_a", ["mutual_delete_expired"]),
        ), found


def test_accept_racing_the_expiry_in_another_process(backend: Backends, tmp_path: Path) -> None:
    """Two `serve` processes on one database, each with its own test clock: one before the
    proposals' window closes (where B accepts), one past it (where the sweep runs). Each pair
    ends accepted or expired (with "remove anyway": the proposer's side gone), never both,
    never neither."""
    env = {"HUSHAN_TEST_CLOCK": "1", "HUSHAN_PROPOSAL_TTL_SECONDS": "3600"}
    if (url := backend.own_database()) is not None:
        env["HUSHAN_DATABASE_URL"] = url
    early, late = Server(tmp_path, **env).start(), Server(tmp_path, **env).start()
    try:
        with Api(early.url) as before, Api(late.url) as after:
            after.advance(3601)  # past the window of every proposal `before` makes from now
            for round_ in range(3):
                race_accepts_against_a_sweep(before, after, str(round_))
        for server in (early, late):
            assert "Traceback" not in server.log()
    finally:
        early.stop()
        late.stop()
