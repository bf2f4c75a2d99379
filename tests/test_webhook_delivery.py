"""Webhook delivery by the Standard Webhooks specification, on each backend, to a real receiver
on 127.0.0.1: signatures (the spec's published vector, and the package's own verification),
the retry schedule driven by the test clock, dead letters, disabling an endpoint, leases
between workers, and per-pair order."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook, WebhookVerificationError

from hushan.bootstrap import build
from hushan.clock import ManualClock
from hushan.config import Settings
from hushan.delivery import Deliverer, signature_header
from hushan.domain.errors import InvalidWebhookUrl, UnknownEventType
from hushan.domain.webhooks import (
    MAX_URL_CHARS,
    URL_PATTERN,
    DeliveryState,
    after_attempt,
    checked_event_types,
    checked_url,
    failure_run_after,
    is_success,
    parse_schedule,
)
from hushan.service import Hushan
from hushan.service.webhooks import AttemptResult
from hushan.store.postgres import PostgresStore
from tests.drive import befriend
from tests.receiver import Received, Receiver
from tests.test_webhook_metrics import figures

SCHEDULE = parse_schedule("5,300,1800,7200,18000,36000,36000")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


@pytest.fixture
def sender(engine: Hushan, receiver: Receiver) -> Iterator[Deliverer]:
    """Closed before the receiver stops: no connection is left open."""
    made = Deliverer(engine, timeout=2, batch=50, threads=4)
    yield made
    made.close()


def verified(received: Received, secret: str) -> dict[str, object]:
    payload = Webhook(secret).verify(received.body, received.headers)
    assert isinstance(payload, dict)
    return payload


def test_the_spec_vector_signs_as_published() -> None:
    moment = datetime.fromtimestamp(1614265330, UTC)
    header = signature_header(
        ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        moment,
        '{"test": 2432232314}',
    )
    assert header == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_schedule_arithmetic() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert after_attempt(1, False, now, SCHEDULE).next_at == now + timedelta(seconds=5)
    assert after_attempt(7, False, now, SCHEDULE).next_at == now + timedelta(hours=10)
    assert after_attempt(8, False, now, SCHEDULE).state is DeliveryState.FAILED
    assert after_attempt(8, True, now, SCHEDULE).state is DeliveryState.DELIVERED
    with pytest.raises(ValueError, match="^A retry delay is never negative.$"):
        parse_schedule("5,-1")
    assert parse_schedule("0,0.5") == (timedelta(0), timedelta(seconds=0.5))  # 0: at once
    assert failure_run_after([False, False]) == (False, 2)
    assert failure_run_after([False, True, False]) == (True, 1)
    assert failure_run_after([True]) == (True, 0)
    assert failure_run_after([True, False, True, False, False]) == (True, 2)  # after the last


def test_what_counts_as_delivered_and_what_an_endpoint_may_be() -> None:
    assert [is_success(s) for s in (None, 199, 200, 299, 300)] == [False, False, True, True, False]
    longest = "https://example.com/" + "a" * (MAX_URL_CHARS - len("https://example.com/"))
    assert checked_url(longest) == longest
    for wrong in (longest + "a", "ftp://example.com/", "https://exa mple.com/"):
        with pytest.raises(InvalidWebhookUrl):
            checked_url(wrong)
    with pytest.raises(UnknownEventType, match="^Unknown event type: 'pair.nothing'.$"):
        checked_event_types(["pair.nothing"])


def _reads_as_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


@given(
    st.one_of(
        st.ip_addresses(v=6).map(str),
        st.ip_addresses(v=6).map(lambda address: address.exploded),
        st.text(alphabet="0123456789abcdefABCDEF:.", max_size=45),
    )
)
def test_a_bracketed_host_is_taken_exactly_when_it_is_an_ipv6_address(text: str) -> None:
    """The pattern (the API schema's too) lets through no host a worker cannot connect to: a
    fuzzed `http://[1]` was stored, and every attempt to send to it failed to parse."""
    url = f"http://[{text}]:443/hook"
    assert (re.fullmatch(URL_PATTERN, url) is not None) == _reads_as_ipv6(text)


def test_a_port_is_one_a_connection_can_use() -> None:
    for port, ok in (
        ("0", True),
        ("80", True),
        ("65535", True),
        ("65536", False),
        ("99999", False),
    ):
        assert (re.fullmatch(URL_PATTERN, f"http://example.com:{port}/") is not None) == ok
    with pytest.raises(InvalidWebhookUrl):
        checked_url("http://[1]")


def test_events_arrive_signed_and_verified(
    engine: Hushan, receiver: Receiver, sender: Deliverer
) -> None:
    endpoint, secret = engine.create_endpoint(receiver.url, ["contact.removed", "block.added"])
    befriend(engine)
    engine.delete_contact("A", "B")
    engine.block("B", "A")
    assert sender.run_once() == 1  # one pair: its second event waits for the first
    assert sender.run_once() == 1
    got = receiver.take()
    payloads = [verified(r, secret) for r in got]
    assert sorted(str(p["type"]) for p in payloads) == ["block.added", "contact.removed"]
    assert {r.headers["webhook-id"] for r in got} == {f"evt_{p['data']['seq']}" for p in payloads}  # type: ignore[index]
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 44).verify(got[0].body, got[0].headers)
    assert sender.run_once() == 0  # nothing twice
    listed = engine.list_deliveries(endpoint.id)
    assert {d.state for d in listed} == {DeliveryState.DELIVERED}


def test_an_endpoint_gets_no_event_from_before_it_existed(
    engine: Hushan, receiver: Receiver, sender: Deliverer
) -> None:
    befriend(engine)
    engine.delete_contact("A", "B")
    engine.create_endpoint(receiver.url, ["contact.removed"])
    assert sender.run_once() == 0
    engine.delete_contact("B", "A")
    assert sender.run_once() == 1


def test_retries_follow_the_schedule_then_dead_letter(
    engine: Hushan, receiver: Receiver, sender: Deliverer
) -> None:
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    receiver.answer = lambda _: 500
    endpoint, _ = engine.create_endpoint(receiver.url, ["contact.removed"])
    befriend(engine)
    engine.delete_contact("A", "B")
    assert sender.run_once() == 1  # at once
    for delay in SCHEDULE:
        clock.advance(delay - timedelta(seconds=1))
        assert sender.run_once() == 0, "not before its time"
        clock.advance(timedelta(seconds=1))
        assert sender.run_once() == 1
    clock.advance(timedelta(days=30))
    assert sender.run_once() == 0
    (dead,) = engine.list_deliveries(endpoint.id)
    assert dead.state is DeliveryState.FAILED and dead.attempts == 8 and dead.last_status == 500
    assert len(receiver.take()) == 8


def test_an_unreachable_endpoint_is_retried_with_its_error(
    engine: Hushan, sender: Deliverer
) -> None:
    endpoint, _ = engine.create_endpoint("http://127.0.0.1:9/hook", ["contact.removed"])
    befriend(engine)
    engine.delete_contact("A", "B")
    assert sender.run_once() == 1
    (pending,) = engine.list_deliveries(endpoint.id)
    assert pending.state is DeliveryState.PENDING and pending.last_status is None
    assert pending.last_error == "ConnectError"


def test_a_run_of_failures_disables_the_endpoint(
    engine: Hushan, receiver: Receiver, sender: Deliverer, caplog: pytest.LogCaptureFixture
) -> None:
    engine.limits = dataclasses.replace(engine.limits, webhook_disable_after=3)
    receiver.answer = lambda _: 503
    endpoint, _ = engine.create_endpoint(receiver.url, ["contact.removed"])
    for other in ("B", "C", "D", "E"):
        befriend(engine, "A", other)
        engine.delete_contact("A", other)
    assert sender.run_once() == 4  # four pairs: sent side by side
    (found,) = [e for e in engine.list_endpoints() if e.id == endpoint.id]
    assert found.disabled_at is not None and "failed attempts in a row" in (
        found.disabled_reason or ""
    )
    assert "disabled" in caplog.text
    # The operator is told: an open alert, written with the disable, naming the last failure.
    (alert,) = engine.list_webhook_alerts(open_only=True)
    assert (alert.endpoint_id, alert.at, alert.closed_at) == (endpoint.id, found.disabled_at, None)
    assert alert.reason == found.disabled_reason and alert.last_status == 503
    assert figures(engine)[("hushan_webhook_alerts_open", ())] == 1  # on /metrics too
    engine.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    assert sender.run_once() == 0, "a disabled endpoint gets nothing"
    receiver.answer = lambda _: 200
    engine.enable_endpoint(endpoint.id)
    assert engine.list_webhook_alerts(open_only=True) == []  # closed by the operator's enable
    assert figures(engine)[("hushan_webhook_alerts_open", ())] == 0
    (closed,) = engine.list_webhook_alerts()  # and kept as the record
    assert closed.id == alert.id and closed.closed_at == engine.clock.now()
    assert sender.run_once() == 4
    engine.enable_endpoint(endpoint.id, False)  # the operator's own disable: no alert
    assert engine.list_webhook_alerts(open_only=True) == []


def test_an_endpoint_disabled_with_no_answer_alerts_with_the_error(
    engine: Hushan, sender: Deliverer
) -> None:
    engine.limits = dataclasses.replace(engine.limits, webhook_disable_after=1)
    endpoint, _ = engine.create_endpoint("http://127.0.0.1:9/closed", ["contact.removed"])
    befriend(engine, "A", "B")
    engine.delete_contact("A", "B")
    assert sender.run_once() == 1
    (alert,) = engine.list_webhook_alerts(open_only=True)
    assert (alert.endpoint_id, alert.last_status, alert.last_error) == (
        endpoint.id,
        None,
        "ConnectError",
    )
    engine.delete_endpoint(endpoint.id)  # gone: nothing left to see to
    assert engine.list_webhook_alerts(open_only=True) == []


def test_two_workers_never_hold_the_same_delivery(
    engine: Hushan, receiver: Receiver, sender: Deliverer
) -> None:
    engine.create_endpoint(receiver.url, ["contact.removed"])
    for n in range(10):
        befriend(engine, "A", f"U{n}")
        engine.delete_contact("A", f"U{n}")
    engine.relay_events()
    lease = timedelta(minutes=1)
    first = engine.claim_deliveries("w1", 6, lease)
    second = engine.claim_deliveries("w2", 6, lease)
    assert len(first) == 6 and len(second) == 4
    assert not {o.delivery.id for o in first} & {o.delivery.id for o in second}
    assert engine.claim_deliveries("w3", 10, lease) == []
    engine.clock.advance(lease)  # type: ignore[attr-defined]
    again = engine.claim_deliveries("w3", 10, lease)  # the lapsed leases are taken over
    assert len(again) == 10
    # w1's late result is dropped: the delivery is w3's now
    from hushan.service.webhooks import AttemptResult

    engine.record_attempts("w1", [AttemptResult(first[0].delivery, 200)])
    assert {d.state for d in engine.list_deliveries()} == {DeliveryState.PENDING}


def test_a_pair_s_events_wait_for_the_one_before(
    engine: Hushan, receiver: Receiver, sender: Deliverer
) -> None:
    answers = iter([500, 200, 200, 200])
    receiver.answer = lambda _: next(answers)
    engine.create_endpoint(receiver.url, ["contact.removed", "block.added", "history.buffered"])
    befriend(engine)
    engine.delete_contact("A", "B")
    engine.delete_contact("B", "A")
    engine.block("A", "B")
    assert sender.run_once() == 1  # only the pair's oldest, which fails
    assert sender.run_once() == 0  # the rest wait for it
    engine.clock.advance(timedelta(seconds=5))  # type: ignore[attr-defined]
    for _ in range(4):
        sender.run_once()
    seqs = [json.loads(r.body)["data"]["seq"] for r in receiver.take()]
    assert len(seqs) == 5 and seqs[0] == seqs[1] and seqs[1:] == sorted(seqs[1:])


def test_rotation_signs_with_both_secrets_during_the_overlap(
    engine: Hushan, receiver: Receiver, sender: Deliverer
) -> None:
    endpoint, old = engine.create_endpoint(receiver.url, ["contact.removed"])
    new = engine.rotate_endpoint_secret(endpoint.id, timedelta(hours=1))
    assert engine.endpoint_secrets(endpoint.id) == [new, old]
    befriend(engine)
    engine.delete_contact("A", "B")
    sender.run_once()
    (got,) = receiver.take()
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    verified(got, old), verified(got, new)
    engine.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    engine.delete_contact("B", "A")
    sender.run_once()
    (after,) = [r for r in receiver.take() if json.loads(r.body)["type"] == "contact.removed"]
    verified(after, new)
    with pytest.raises(WebhookVerificationError):
        verified(after, old)


def test_replay_one_and_every_failure_since(
    engine: Hushan, receiver: Receiver, sender: Deliverer
) -> None:
    engine.limits = dataclasses.replace(engine.limits, webhook_schedule=())
    receiver.answer = lambda _: 500
    endpoint, _ = engine.create_endpoint(receiver.url, ["contact.removed"])
    for other in ("B", "C"):
        befriend(engine, "A", other)
        engine.delete_contact("A", other)
    start = engine.clock.now()
    assert sender.run_once() == 2
    failed = engine.list_deliveries(endpoint.id, DeliveryState.FAILED)
    assert len(failed) == 2
    receiver.answer = lambda _: 200
    replayed = engine.replay_delivery(failed[0].id)
    assert replayed.state is DeliveryState.PENDING and replayed.attempts == 0
    assert sender.run_once() == 1
    assert engine.replay_failures(start + timedelta(seconds=1)) == 0
    assert engine.replay_failures(start, endpoint.id) == 1
    assert sender.run_once() == 1
    assert {d.state for d in engine.list_deliveries(endpoint.id)} == {DeliveryState.DELIVERED}


def test_hushan_worker_delivers(tmp_path: Path, receiver: Receiver) -> None:
    """The real `hushan worker` process relays and sends, and stops cleanly on SIGTERM."""
    db = tmp_path / "worker.db"
    engine = build(Settings(database_url=f"sqlite:///{db}"))
    endpoint, secret = engine.create_endpoint(receiver.url, ["contact.removed"])
    argv = [sys.executable, "-m", "hushan.cli", "worker", "--db", str(db), "--interval", "0.1"]
    worker = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        befriend(engine)
        engine.delete_contact("A", "B")
        deadline = time.monotonic() + 30
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
        (got,) = receiver.take()
        assert verified(got, secret)["type"] == "contact.removed"
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    (done,) = engine.list_deliveries(endpoint.id)
    engine.store.close()
    assert worker.returncode == 0, output
    assert done.state is DeliveryState.DELIVERED


def test_the_next_due_time_is_of_what_a_worker_could_claim(
    engine: Hushan, receiver: Receiver, sender: Deliverer
) -> None:
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    assert engine.next_delivery_due() is None
    receiver.answer = lambda _: 500
    engine.create_endpoint(receiver.url, ["contact.removed", "block.added"])
    befriend(engine)
    engine.delete_contact("A", "B")
    engine.block("B", "A")
    engine.relay_events()
    assert engine.next_delivery_due() == clock.now()
    assert sender.run_once() == 1
    # The block's delivery is due already, but waits behind the failed removal's retry.
    assert engine.next_delivery_due() == clock.now() + SCHEDULE[0]


def test_outcomes_that_come_during_a_write_are_written_together(
    engine: Hushan, sender: Deliverer
) -> None:
    """The group commit: while one thread's outcome is being written, the outcomes of three
    others wait, and the next transaction takes all three; each thread returns only once its own
    is written."""
    endpoint, _ = engine.create_endpoint("http://127.0.0.1:9/hook", ["contact.removed"])
    for other in ("B", "C", "D", "E"):
        befriend(engine, "A", other)
        engine.delete_contact("A", other)
    engine.relay_events()
    claimed = engine.claim_deliveries(sender.owner, 10, timedelta(minutes=1))
    assert len(claimed) == 4
    batches: list[int] = []
    first_held, release = threading.Event(), threading.Event()
    write = engine.record_attempts

    def gated(owner: str, results: Sequence[AttemptResult]) -> list[str]:
        batches.append(len(results))
        if len(batches) == 1:
            first_held.set()
            assert release.wait(10)
        return write(owner, results)

    engine.record_attempts = gated  # type: ignore[method-assign]
    recorder = sender._recorder
    returned: list[int] = []

    def hand_in(n: int) -> None:
        recorder.record(AttemptResult(claimed[n].delivery, 204))
        returned.append(n)

    first = threading.Thread(target=hand_in, args=(0,))
    first.start()
    assert first_held.wait(10)
    others = [threading.Thread(target=hand_in, args=(n,)) for n in (1, 2, 3)]
    for thread in others:
        thread.start()
    time.sleep(0.2)  # the three are waiting for the write under way
    assert returned == [], "no thread returns before its outcome is written"
    release.set()
    for thread in (first, *others):
        thread.join(10)
    assert batches == [1, 3] and sorted(returned) == [0, 1, 2, 3]
    delivered = engine.list_deliveries(endpoint.id, DeliveryState.DELIVERED)
    assert len(delivered) == 4


def test_a_thread_sends_again_only_once_its_last_outcome_is_written(
    engine: Hushan, receiver: Receiver, sender: Deliverer
) -> None:
    """What a kill can make a receiver get twice: at each request, the attempts answered but not
    yet recorded are at most one per sending thread."""
    endpoint, _ = engine.create_endpoint(receiver.url, ["contact.removed", "contact.added"])
    for n in range(30):
        befriend(engine, "A", f"U{n}")
        engine.delete_contact("A", f"U{n}")
    answered, worst = [0], [0]
    lock = threading.Lock()

    def answer(_: Received) -> int:
        with lock:  # no answer given while the recorded attempts are counted
            recorded = sum(d.attempts for d in engine.list_deliveries(endpoint.id, limit=1000))
            worst[0] = max(worst[0], answered[0] - recorded)
            answered[0] += 1
        return 204

    receiver.answer = answer
    while sender.run_once():
        pass
    assert answered[0] == 90 and len(engine.list_deliveries(endpoint.id, limit=1000)) == 90
    # The sending thread has none outstanding: at most one each for the others.
    assert worst[0] <= sender.threads - 1


def test_outcomes_are_committed_without_waiting_for_the_disk(engine: Hushan) -> None:
    """PostgreSQL's commit of an attempt's outcome (`write_unsynced`) does not wait for the
    disk, whatever the server's default, and its statements go in a pipeline; SQLite's WAL at
    NORMAL never waits."""
    if not isinstance(engine.store, PostgresStore):
        with engine.store.write_unsynced() as tx:
            (level,) = tx._c.execute("PRAGMA synchronous").fetchone()  # type: ignore[attr-defined]
            assert level == 1  # NORMAL
        return
    # The tests' URL turns synchronous commit off for every transaction: not this store's.
    store = PostgresStore(engine.store.url.partition("?")[0])
    try:
        for write, setting, pipelined in ((store.write, "on", 0), (store.write_unsynced, "off", 1)):
            with write() as tx:
                (found,) = tx._c.execute("SHOW synchronous_commit").fetchone()  # type: ignore[attr-defined]
                assert found == setting
                assert tx._c.raw.pgconn.pipeline_status == pipelined  # type: ignore[attr-defined]
    finally:
        store.close()
