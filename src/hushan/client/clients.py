"""`Client` and `AsyncClient`: hushan's HTTP API over httpx, one call at a time.

    from hushan.client import Client, ops

    with Client("http://127.0.0.1:8000", token) as alice:
        alice.send(ops.requests_send("alice", to="bob", message="我是Alice"))

`token` is a user's token, the admin key or a service credential; a service credential acts for
a user with `act_as` (the `Hushan-Act-As` header), on the client or on one call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar, cast

import httpx

from hushan.client.attempts import Attempts, RetryPolicy, typed
from hushan.client.call import Call

T = TypeVar("T")
DEFAULT_RETRY = RetryPolicy()
PageCall = Callable[[str | None], Call[T]]  # a list's call for the page at a cursor


def next_cursor(page: Any) -> str | None:
    """A list reply's `next` (docs/api.md, "Paging"): None after the last page."""
    found = cast(Mapping[str, Any], page).get("next")
    return None if found is None else str(found)


class _Base:
    def __init__(self, token: str | None, act_as: str | None, retry: RetryPolicy) -> None:
        self._token = token
        self._act_as = act_as
        self.retry = retry

    def _attempts(self, call: Call[Any], act_as: str | None, key: str | None) -> Attempts:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        if act_as or self._act_as:
            headers["Hushan-Act-As"] = act_as or self._act_as or ""
        return Attempts(call, self.retry, headers, key)


class Client(_Base):
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        act_as: str | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        http: httpx.Client | None = None,
    ) -> None:
        super().__init__(token, act_as, retry)
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self._sleep = sleep

    def send(
        self, call: Call[T], *, act_as: str | None = None, idempotency_key: str | None = None
    ) -> T:
        """The reply to `call`, retried by the client's RetryPolicy; `ApiError` otherwise."""
        attempts = self._attempts(call, act_as, idempotency_key)
        while True:
            try:
                response = self._http.request(**attempts.request())
            except httpx.TransportError as lost:
                self._sleep(attempts.after_lost(lost))
                continue
            wait = attempts.after_reply(response)
            if wait is None:
                return typed(call, attempts.result(response))
            self._sleep(wait)

    def pages(self, page: PageCall[T]) -> Iterator[T]:
        """Every page of a list, first to last, e.g.
        `client.pages(lambda cursor: ops.contacts_list("alice", cursor=cursor))`."""
        cursor: str | None = None
        while True:
            found = self.send(page(cursor))
            yield found
            if (cursor := next_cursor(found)) is None:
                return

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: TracebackType | None
    ) -> None:
        self.close()


class AsyncClient(_Base):
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        act_as: str | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(token, act_as, retry)
        self._http = http or httpx.AsyncClient(base_url=base_url, timeout=timeout)
        self._sleep = sleep

    async def send(
        self, call: Call[T], *, act_as: str | None = None, idempotency_key: str | None = None
    ) -> T:
        """As `Client.send`, without blocking the event loop while it waits."""
        attempts = self._attempts(call, act_as, idempotency_key)
        while True:
            try:
                response = await self._http.request(**attempts.request())
            except httpx.TransportError as lost:
                await self._sleep(attempts.after_lost(lost))
                continue
            wait = attempts.after_reply(response)
            if wait is None:
                return typed(call, attempts.result(response))
            await self._sleep(wait)

    async def pages(self, page: PageCall[T]) -> AsyncIterator[T]:
        """As `Client.pages`: `async for found in client.pages(...)`."""
        cursor: str | None = None
        while True:
            found = await self.send(page(cursor))
            yield found
            if (cursor := next_cursor(found)) is None:
                return

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: TracebackType | None
    ) -> None:
        await self.aclose()
