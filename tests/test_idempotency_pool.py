"""A keyed call whose route shapes its reply on the pool thread (`EnginePool.reply`), in
process on both backends: the write, its reply and its key are committed by the time the
handler has the reply, so the write's transaction never waited for the event loop; a refusal
keeps nothing there, and leaves the reply to the middleware."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from hushan.api import idempotency
from hushan.api.idempotency import Idempotency, Pending
from hushan.api.offload import EnginePool, PoolLimits
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
