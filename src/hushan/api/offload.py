"""The engine pool: where every engine call of an API process runs, off the event loop.

A fixed set of threads, each keeping its database connection for its whole life (the stores
keep one per thread), and a bounded queue in front of it: a call that would wait behind
`max_pending` others is refused at once with `Busy` (503). Why fixed, why bounded:
docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from starlette.responses import Response

from hushan.api import idempotency
from hushan.domain.errors import Busy

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound=Response)


# A check for the request's next engine call to run first, on its thread (`check_first`).
_first: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "first", default=None
)


def check_first(check: Callable[[], None]) -> None:
    """Run `check` on the pool thread right before the request's next engine call, in the same
    trip; what it raises is that call's error (a guard's look at a token: hushan.api.tokens_seen).
    It runs outside any idempotency hold: nothing it writes joins the call's transaction."""
    _first.set(check)


def _after(first: Callable[[], None] | None, work: Callable[[], R]) -> Callable[[], R]:
    if first is None:
        return work

    def checked() -> R:
        first()
        return work()

    return checked


@dataclass(frozen=True, slots=True)
class PoolLimits:
    threads: int
    max_pending: int


class EnginePool:
    def __init__(self, limits: PoolLimits) -> None:
        self.limits = limits
        self._executor = ThreadPoolExecutor(limits.threads, thread_name_prefix="hushan-engine")
        self._in_flight = 0  # touched on the event loop only

    @property
    def in_flight(self) -> int:
        """Calls running or waiting for a thread."""
        return self._in_flight

    async def run(self, call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """`call(*args, **kwargs)` on a pool thread; its result, or its exception."""
        self._admit()
        try:
            loop = asyncio.get_running_loop()
            first = _first.get()
            _first.set(None)
            # In the request's context, so that log lines from the engine carry its request id.
            context = contextvars.copy_context()
            bound = functools.partial(call, *args, **kwargs)
            keyed = idempotency.claimed()
            if keyed is not None:  # its write is held open until the reply is kept with it

                def start(held: Callable[[], R]) -> asyncio.Future[R]:
                    return loop.run_in_executor(self._executor, context.run, _after(first, held))

                return await idempotency.run_held(keyed, start, bound)
            return await loop.run_in_executor(self._executor, context.run, _after(first, bound))
        finally:
            self._in_flight -= 1

    async def reply(
        self,
        shape: Callable[[R], S],
        call: Callable[P, R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> S:
        """`shape(call(*args, **kwargs))`, the route's reply, made on a pool thread. `shape`
        must be pure: under an `Idempotency-Key` the reply is kept in the write's own
        transaction on that thread, which then never waits for the event loop."""
        self._admit()
        try:
            loop = asyncio.get_running_loop()
            first = _first.get()
            _first.set(None)
            context = contextvars.copy_context()
            bound = functools.partial(call, *args, **kwargs)
            keyed = idempotency.claimed()
            if keyed is not None:
                work = idempotency.replying(keyed, bound, shape)
                return await loop.run_in_executor(self._executor, context.run, _after(first, work))
            result = await loop.run_in_executor(self._executor, context.run, _after(first, bound))
            return shape(result)
        finally:
            self._in_flight -= 1

    def _admit(self) -> None:
        if self._in_flight >= self.limits.threads + self.limits.max_pending:
            raise Busy()
        self._in_flight += 1

    def submit(self, call: Callable[[], object]) -> asyncio.Future[object]:
        """Start `call` on a pool thread without waiting for it (a job: an erasure). It
        counts against no request's queue; its result is the returned future's. It runs in
        the request's context too: its audit entries name the credential it came through."""
        context = contextvars.copy_context()
        return asyncio.wrap_future(self._executor.submit(context.run, call))

    def close(self) -> None:
        """Wait for the calls in flight (a job among them finishes its current step)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
