"""`Idempotency-Key` on every non-GET operation (the IETF httpapi draft): the HTTP side.

The middleware reads the key, fingerprints the request (method, path with its query, body) and
keeps the reply. The guards name the caller (`identify`): keys are the caller's own. The first
engine call made after that runs under a hold (hushan.store.held), and the reply is written in
its write's transaction before it commits. A crash therefore keeps both the write and its key,
or neither. Two ways to make the reply in that transaction:
- a route that shapes its reply from the engine call's result alone (`EnginePool.reply`) has it
  shaped on the pool thread (`replying`): the write, its reply and the key commit there, and
  the transaction never waits for the event loop;
- any other route's write stays open on its pool thread until the handler has made the reply
  on the loop and handed it over (`run_held`), its locks held across that round trip.
A request that wrote nothing (a refusal, a read) has its reply kept in a transaction of its
own. Replies of 5xx are never kept (nothing was done: retry); 4xx replies made once the caller
is known are, as the draft says of errors, but for a 401 (a token found revoked or expired
only in the call's own trip to the pool, hushan.api.security): nothing was looked at.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextvars import ContextVar
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hushan.api.errors import domain_reply, error_response, status_for
from hushan.domain.errors import (
    Busy,
    HushanError,
    IdempotencyKeyInFlight,
    InvalidIdempotencyKey,
)
from hushan.service import Hushan
from hushan.service.idempotency import Claim, Replay
from hushan.store.base import StoredReply
from hushan.store.held import Hold, holding

HEADER = "idempotency-key"
REPLAYED = "idempotent-replayed"
MAX_KEY_CHARS = 255
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Headers of the first reply that are not its own to replay: framing, and the request's id.
NOT_REPLAYED = frozenset({"content-length", "date", "server", "x-request-id", REPLAYED})
# The forms the OpenAPI document declares (`KEY_PATTERN`), the same rules: a bare token, or an
# sf-string of at most 255 characters once its escapes are read.
_BARE = r"[\u0021-\u007e]{1,255}"
_QUOTED_CHARS = r'(?:[\u0020\u0021\u0023-\u005b\u005d-\u007e]|\\["\\]){1,255}'
_QUOTED = f'"({_QUOTED_CHARS})"'
KEY_PATTERN = f'^(?:{_BARE}|"{_QUOTED_CHARS}")$'
R = TypeVar("R")
Reply = TypeVar("Reply", bound=Response)


def parse_key(raw: str) -> str:
    """An sf-string (`"abc"`, the draft's form) or, as many clients send it, a bare token."""
    quoted = re.fullmatch(_QUOTED, raw)
    if quoted:
        return re.sub(r"\\(.)", r"\1", quoted.group(1))
    if re.fullmatch(_BARE, raw):
        return raw
    raise InvalidIdempotencyKey()


class Pending:
    """One keyed request as it is served."""

    def __init__(self, key: str, method: str, target: str, middleware: Idempotency) -> None:
        self.key = key
        self.engine = middleware.engine
        self.reply_timeout = middleware.reply_timeout
        self._start = f"{method}\0{target}\0".encode()
        self._body = hashlib.sha256()
        self._in_flight = middleware.in_flight
        self.caller: str | None = None
        self.used = False  # an engine call wrote under this key's hold
        self.kept = False  # the reply was kept with the write, on its pool thread
        self.handoff: Future[StoredReply | None] | None = None  # the reply, to the held write
        self.committed: asyncio.Future[None] | None = None

    def read(self, chunk: bytes) -> None:
        self._body.update(chunk)

    def claim(self) -> Claim:
        assert self.caller is not None
        fingerprint = hashlib.sha256(self._start + self._body.digest()).digest()
        return Claim(self.caller, self.key, fingerprint)

    def identify(self, caller: str) -> None:
        if self.caller == caller:
            return
        if (caller, self.key) in self._in_flight:
            raise IdempotencyKeyInFlight()
        self._in_flight.add((caller, self.key))
        self.caller = caller

    def abandon(self) -> None:
        """The request ended without a reply (an error, a client gone): roll its held write
        back."""
        if self.handoff is not None and not self.handoff.done():
            self.handoff.set_result(None)

    def release(self) -> None:
        if self.caller is not None:
            self._in_flight.discard((self.caller, self.key))


_pending: ContextVar[Pending | None] = ContextVar("idempotency", default=None)


def identify(caller: str) -> None:
    """The guards name the request's caller: `user:{id}`, `admin`. A keyed request whose key
    the same caller has in flight in this process is refused here, before anything runs."""
    pending = _pending.get()
    if pending is not None:
        pending.identify(caller)


def claimed() -> Pending | None:
    """The keyed request whose next engine call is to run under its key's hold, if any."""
    pending = _pending.get()
    if pending is None or pending.caller is None or pending.used:
        return None
    return pending


async def run_held(
    pending: Pending, start: Callable[[Callable[[], R]], asyncio.Future[R]], call: Callable[[], R]
) -> R:
    """`call` on a pool thread (`start`) under the key's hold. If it wrote, its thread keeps
    the transaction open and waits for the reply (`Pending.handoff`) while this returns the
    result to the handler; the middleware hands the reply over and waits for the commit."""
    loop = asyncio.get_running_loop()
    engine, claim = pending.engine, pending.claim()
    outcome: asyncio.Future[R] = loop.create_future()
    handoff: Future[StoredReply | None] = Future()

    def deliver(result: R | None, error: BaseException | None) -> None:
        if outcome.done():
            return
        if error is not None:
            outcome.set_exception(error)
        else:
            outcome.set_result(result)  # type: ignore[arg-type]

    def held() -> R:
        hold = Hold()
        result: R | None = None
        error: BaseException | None = None
        with holding(hold):
            try:
                result = call()
            except BaseException as raised:  # noqa: BLE001 - handed to the loop below
                error = raised
        if not hold.holding:  # wrote nothing: an ordinary call
            if error is not None:
                raise error
            return result  # type: ignore[return-value]
        loop.call_soon_threadsafe(deliver, result, error)
        try:
            reply = handoff.result(timeout=pending.reply_timeout)
        except FutureTimeout:
            reply = None
        engine.keep_reply(hold, claim, reply)
        if reply is None:
            raise Busy()
        return result  # type: ignore[return-value]

    pending.handoff = handoff  # answered (None: roll back) whatever becomes of the request
    thread = start(held)
    # Read here too: a request that ended early leaves its rolled-back thread's Busy unread.
    thread.add_done_callback(lambda done: done.cancelled() or done.exception())
    done, _ = await asyncio.wait({thread, outcome}, return_when=asyncio.FIRST_COMPLETED)
    if outcome in done or outcome.done():
        pending.used = True
        pending.committed = thread  # type: ignore[assignment]
        return outcome.result()
    outcome.cancel()
    return thread.result()


def replying(
    pending: Pending, call: Callable[[], R], shape: Callable[[R], Reply]
) -> Callable[[], Reply]:
    """The pool thread's work for a keyed call whose reply is `shape` of its result: the
    write, its reply and its key committed together before the thread lets go of them."""
    engine, claim = pending.engine, pending.claim()
    pending.used = True  # the reply is made here: no later call of the request is held

    def work() -> Reply:
        hold = Hold()
        try:
            with holding(hold):
                result = call()
            response: Response = shape(result)
        except HushanError as refusal:
            if not hold.holding:
                raise
            # A refusal that wrote (a disclosure it made is kept): kept with its reply, which
            # the loop's handler makes again, the same, from the error raised on.
            keep(hold, domain_reply(refusal))
            raise
        except BaseException:
            hold.finish(None)
            raise
        if hold.holding:
            keep(hold, response)
        return response  # type: ignore[return-value]

    def keep(hold: Hold, response: Response) -> None:
        kept = _kept(response.status_code, response.raw_headers, bytes(response.body))
        engine.keep_reply(hold, claim, None if kept is None else _with_fingerprint(kept, claim))
        if kept is None:  # not kept, and rolled back: nothing was done
            raise Busy()
        pending.kept = True

    return work


def _kept(status: int, raw: list[tuple[bytes, bytes]], body: bytes) -> StoredReply | None:
    """What of a reply is kept for replays; None for one never kept."""
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]
    if status >= 500 or status == 401 or any(name.lower() == REPLAYED for name, _ in headers):
        return None
    kept = [(k, v) for k, v in headers if k.lower() not in NOT_REPLAYED]
    return StoredReply(b"", status, kept, body)


def _stored(messages: list[Message]) -> StoredReply | None:
    if not messages:
        return None
    start = messages[0]
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return _kept(int(start["status"]), list(start.get("headers", [])), body)


def _with_fingerprint(reply: StoredReply, claim: Claim) -> StoredReply:
    return StoredReply(claim.fingerprint, reply.status, reply.headers, reply.body)


def replayed(reply: StoredReply) -> Response:
    response = Response(reply.body, status_code=reply.status)
    for name, value in reply.headers:
        response.headers.append(name, value)
    response.headers[REPLAYED] = "true"
    return response


async def _as_messages(response: Response) -> list[Message]:
    found: list[Message] = []

    async def keep(message: Message) -> None:
        found.append(message)

    async def nothing() -> Message:
        return {"type": "http.disconnect"}

    await response({"type": "http"}, nothing, keep)
    return found


class Idempotency:
    """The ASGI middleware: keyed non-GET requests are fingerprinted, and their replies kept
    with their writes before they are sent."""

    def __init__(self, app: ASGIApp, engine: Hushan, run: Any, reply_timeout: float) -> None:
        self.app = app
        self.engine = engine
        self.run = run  # the engine pool's `run`
        self.reply_timeout = reply_timeout
        self.in_flight: set[tuple[str, str]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            return await self.app(scope, receive, send)
        raw = next((v for k, v in scope["headers"] if k == HEADER.encode()), None)
        if raw is None:
            return await self.app(scope, receive, send)
        try:
            key = parse_key(raw.decode("latin-1"))
        except InvalidIdempotencyKey as bad:
            reply = error_response(422, bad.code, bad.message)
            return await reply(scope, receive, send)
        query = scope.get("query_string", b"").decode("latin-1")
        target = scope["path"] + (f"?{query}" if query else "")
        pending = Pending(key, scope["method"], target, self)
        messages: list[Message] = []

        async def reading() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                pending.read(message.get("body", b""))
            return message

        async def keeping(message: Message) -> None:
            messages.append(message)

        token = _pending.set(pending)
        try:
            try:
                await self.app(scope, reading, keeping)
            except BaseException:
                pending.abandon()
                raise
            messages = await self._settle(pending, messages)
        finally:
            _pending.reset(token)
            pending.release()
            if pending.handoff is not None and not pending.handoff.done():
                pending.handoff.set_result(None)  # a write made after the reply: not kept
        for message in messages:
            await send(message)

    async def _settle(self, pending: Pending, messages: list[Message]) -> list[Message]:
        """Keep the reply (with the held write, or on its own), and say what to send."""
        if pending.kept:
            return messages
        reply = _stored(messages)
        if pending.handoff is not None and pending.committed is not None:
            claim = pending.claim()
            if not pending.handoff.done():
                pending.handoff.set_result(
                    None if reply is None else _with_fingerprint(reply, claim)
                )
            try:
                await pending.committed
            except Replay as first:  # the key's record, found as this write's was written
                return await _as_messages(replayed(first.reply))
            except HushanError as error:
                if reply is None:
                    return messages  # rolled back, as the reply (an error of its own) says
                return await _as_messages(domain_reply(error))
            return messages
        if reply is None or pending.caller is None:
            return messages
        claim = pending.claim()
        try:
            await self.run(self.engine.record_reply, claim, _with_fingerprint(reply, claim))
        except Replay as first:
            return await _as_messages(replayed(first.reply))
        except HushanError as error:
            if isinstance(error, Busy) or status_for(error) >= 500:
                return messages  # not kept: a retry runs it again, which changed nothing
            return await _as_messages(domain_reply(error))
        return messages


def install(app: FastAPI, engine: Hushan, run: Any, reply_timeout: float) -> None:
    @app.exception_handler(Replay)
    async def replay(_: Request, first: Replay) -> Response:
        return replayed(first.reply)

    app.add_middleware(Idempotency, engine=engine, run=run, reply_timeout=reply_timeout)
