"""A keyed call whose route shapes its reply on the pool thread (`EnginePool.reply`), in
process on both backends: the write, its reply and its key are committed by the time the
handler has the reply, so the write's transaction never waited for the event loop; a refusal
keeps nothing there, and leaves the reply to the middleware."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any

import pytest

from hushan.api import idempotency
from hushan.api.idempotency import Idempotency, Pending
from hushan.api.offload import EnginePool, PoolLimits, check_first
from hushan.api.routes.messages import sent_reply
from hushan.domain.errors import Refused
from hushan.service import Hushan
from hushan.store.base import StoredReply
from tests.test_idempotency_engine import friends

CALLER = "user:a"


def keyed(engine: Hushan, key: str, work: Callable[[EnginePool], Coroutine[Any, Any, Any]]) -> Any:
    """`work(pool)` as a handler runs it under `key`, the caller named by the guards."""

    async def request() -> Any:
        pool = EnginePool(PoolLimits(threads=2, max_pending=4))
        middleware = Idempotency(lambda *_: None, engine, pool.run, reply_timeout=5.0)  # type: ignore[arg-type]
        pending = Pending(key, "POST", "/v1/users/a/messages", middleware)
        pending.read(key.encode())
        token = idempotency._pending.set(pending)
        try:
            idempotency.identify(CALLER)
            return pending, await work(pool)
        finally:
            idempotency._pending.reset(token)
            pool.close()

    return asyncio.run(request())


def kept(engine: Hushan, key: str) -> StoredReply | None:
    with engine.store.read() as tx:
        return tx.idempotent_reply(CALLER, key, engine.clock.now())


def test_the_reply_is_committed_with_the_write_before_the_handler_has_it(
    engine: Hushan,
) -> None:
    friends(engine)
    seen: list[StoredReply | None] = []

    async def send(pool: EnginePool) -> Any:
        response = await pool.reply(sent_reply, engine.send, "a", "b", "hello")
        # Read on another thread while the request is still being served.
        seen.append(await asyncio.to_thread(kept, engine, "k1"))
        return response

    pending, response = keyed(engine, "k1", send)
    assert pending.kept
    assert response.status_code == 201
    (reply,) = seen
    assert reply is not None
    assert (reply.status, reply.body) == (201, response.body)
    assert ("content-type", "application/json") in reply.headers
    assert [m.body for m in engine.history("a", "b").messages] == ["hello"]


def test_a_refusal_keeps_nothing_on_the_pool_thread(engine: Hushan) -> None:
    friends(engine)
    engine.create_user("c")

    async def send(pool: EnginePool) -> Any:
        with pytest.raises(Refused):
            await pool.reply(sent_reply, engine.send, "a", "c", "hello")

    pending, _ = keyed(engine, "k2", send)
    assert not pending.kept
    assert kept(engine, "k2") is None
    assert engine.history("a", "b").messages == []


def test_a_keyed_write_through_run_is_held_until_its_reply_is_handed_over(
    engine: Hushan,
) -> None:
    """`EnginePool.run` under a key: the write runs on a pool thread, in the request's
    context, after the request's check_first; its result comes back while the thread holds
    the write open; the reply handed over is committed with the write, and nothing before."""
    friends(engine)
    request: ContextVar[str | None] = ContextVar("request", default=None)
    seen: list[tuple[str, str, str | None]] = []

    def send(body: str, *, client_msg_id: str) -> tuple[Any, bool]:
        seen.append(("send", threading.current_thread().name, request.get()))
        return engine.send("a", "b", body, client_msg_id=client_msg_id)

    async def run(pool: EnginePool) -> Any:
        request.set("r1")
        check_first(lambda: seen.append(("check", threading.current_thread().name, None)))
        message, new = await pool.run(send, "hello", client_msg_id="m1")
        pending = idempotency._pending.get()
        assert pending is not None and pending.handoff is not None
        assert pending.committed is not None and not pending.committed.done()
        before = await asyncio.to_thread(kept, engine, "k3")
        reply = StoredReply(pending.claim().fingerprint, 201, [], b"sent")
        pending.handoff.set_result(reply)
        await pending.committed
        return message.body, new, before, pending.used

    _, (body, new, before, used) = keyed(engine, "k3", run)
    assert (body, new, before, used) == ("hello", True, None, True)
    assert [(step, request) for step, _, request in seen] == [("check", None), ("send", "r1")]
    assert all(thread.startswith("hushan-engine_") for _, thread, _ in seen)
    reply = kept(engine, "k3")
    assert reply is not None and (reply.status, reply.body) == (201, b"sent")
    assert [m.body for m in engine.history("a", "b").messages] == ["hello"]


def test_a_keyed_reply_is_shaped_on_a_pool_thread_in_the_request_s_context(
    engine: Hushan,
) -> None:
    friends(engine)
    request: ContextVar[str | None] = ContextVar("request", default=None)
    seen: list[tuple[str, str, str | None]] = []

    def shape(sent: tuple[Any, bool]) -> Any:
        seen.append(("shape", threading.current_thread().name, request.get()))
        return sent_reply(sent)

    def check() -> None:
        seen.append(("check", threading.current_thread().name, request.get()))

    async def send(pool: EnginePool) -> Any:
        request.set("r1")
        check_first(check)
        return await pool.reply(shape, engine.send, "a", "b", body="hello")

    pending, response = keyed(engine, "k4", send)
    assert response.status_code == 201 and pending.kept
    assert [(step, request) for step, _, request in seen] == [("check", "r1"), ("shape", "r1")]
    assert all(thread.startswith("hushan-engine_") for _, thread, _ in seen)
    assert [m.body for m in engine.history("a", "b").messages] == ["hello"]
    reply = kept(engine, "k4")
    assert reply is not None and (reply.status, reply.body) == (201, response.body)

    def refuse() -> None:
        raise Refused()

    async def refused(pool: EnginePool) -> Any:
        check_first(refuse)
        with pytest.raises(Refused):
            await pool.reply(shape, engine.send, "a", "b", "never")

    pending, _ = keyed(engine, "k5", refused)
    assert not pending.kept and kept(engine, "k5") is None
    assert [m.body for m in engine.history("a", "b").messages] == ["hello"]
