"""The engine pool in process (no key): every engine call runs on one of its own threads, in
the request's context, after the request's `check_first`; a reply is shaped from the call's
result; a call beyond the threads and the queue is refused at once with Busy; what is in
flight is counted back down whatever the call did."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any

import pytest
from starlette.responses import PlainTextResponse

from hushan.api.offload import EnginePool, PoolLimits, check_first
from hushan.domain.errors import Busy, NotFound

REQUEST: ContextVar[str | None] = ContextVar("request", default=None)


def served(work: Callable[[EnginePool], Coroutine[Any, Any, Any]], threads: int = 2) -> Any:
    """`work(pool)` as a request with id "r1" runs it, on a fresh pool closed afterwards."""

    async def request() -> Any:
        pool = EnginePool(PoolLimits(threads=threads, max_pending=1))
        REQUEST.set("r1")
        try:
            return await work(pool)
        finally:
            pool.close()

    return asyncio.run(request())


Seen = tuple[str, str | None, tuple[object, ...], dict[str, object]]


def where(*args: object, **kwargs: object) -> Seen:
    """The thread and request a call ran on and in, and what it was given."""
    return threading.current_thread().name, REQUEST.get(), args, kwargs


def shape(seen: Seen) -> PlainTextResponse:
    name, request, args, kwargs = seen
    return PlainTextResponse(f"{name.split('_')[0]} {request} {args} {kwargs}", status_code=201)


def test_a_call_runs_on_a_pool_thread_in_the_request_s_context() -> None:
    async def work(pool: EnginePool) -> Any:
        ran = await pool.run(where, "a", n=1)
        replied = await pool.reply(shape, where, "b", n=2)
        job = await pool.submit(where)
        return ran, replied, job, pool.in_flight

    ran, replied, job, in_flight = served(work)
    assert ran[0].startswith("hushan-engine_") and ran[1:] == ("r1", ("a",), {"n": 1})
    assert replied.status_code == 201
    assert replied.body.decode() == "hushan-engine r1 ('b',) {'n': 2}"
    assert job[0].startswith("hushan-engine_") and job[1:] == ("r1", (), {})
    assert in_flight == 0


def test_check_first_runs_once_on_the_pool_thread_before_the_next_call() -> None:
    """Its refusal is that call's, and the call does not run; the call after it runs plainly."""
    seen: list[tuple[str, str]] = []

    def call(label: str) -> str:
        seen.append((label, threading.current_thread().name))
        return label

    def refuse() -> None:
        seen.append(("refused", threading.current_thread().name))
        raise NotFound()

    def check() -> None:
        call("check")

    async def work(pool: EnginePool) -> Any:
        check_first(check)
        first = await pool.run(call, "run")
        second = await pool.run(call, "again")
        check_first(check)
        replied = await pool.reply(PlainTextResponse, call, "reply")
        third = await pool.reply(PlainTextResponse, call, "plain")
        check_first(refuse)
        with pytest.raises(NotFound):
            await pool.run(call, "never")
        check_first(refuse)
        with pytest.raises(NotFound):
            await pool.reply(PlainTextResponse, call, "never")
        return first, second, replied.body, third.body, pool.in_flight

    assert served(work) == ("run", "again", b"reply", b"plain", 0)
    assert [label for label, _ in seen] == [
        "check",
        "run",
        "again",
        "check",
        "reply",
        "plain",
        "refused",
        "refused",
    ]
    assert all(thread.startswith("hushan-engine") for _, thread in seen)


def test_a_call_beyond_the_threads_and_the_queue_is_refused_at_once() -> None:
    """One thread and one place in the queue: a third call is Busy (503, retry after a
    second) without waiting; once the first two are done the pool takes calls again."""
    gate = threading.Event()

    async def work(pool: EnginePool) -> Any:
        running = asyncio.ensure_future(pool.run(gate.wait, 5))
        waiting = asyncio.ensure_future(pool.reply(PlainTextResponse, str, "queued"))
        await asyncio.sleep(0)
        counted = pool.in_flight
        with pytest.raises(Busy) as busy:
            await pool.reply(PlainTextResponse, str, "third")
        with pytest.raises(Busy):
            await pool.run(str, "third")
        gate.set()
        done = await running, (await waiting).body
        after = await pool.reply(PlainTextResponse, str, "later")
        return counted, busy.value, done, after.body, pool.in_flight

    counted, busy, done, after, in_flight = served(work, threads=1)
    assert counted == 2 and (busy.code, busy.retry_after) == ("busy", 1)
    assert done == (True, b"queued") and after == b"later" and in_flight == 0


def test_what_is_in_flight_is_counted_down_when_a_call_fails() -> None:
    async def work(pool: EnginePool) -> Any:
        for _ in range(3):  # more than the pool's threads and queue together
            with pytest.raises(NotFound):
                await pool.reply(PlainTextResponse, _not_found)
            with pytest.raises(NotFound):
                await pool.run(_not_found)
        return pool.in_flight

    assert served(work, threads=1) == 0


def _not_found() -> str:
    raise NotFound()
