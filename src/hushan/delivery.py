"""Sending webhooks: the worker's loop that relays the outbox, claims due deliveries, sends
each by the Standard Webhooks specification and records what it got.

Each attempt's outcome is written as soon as its answer comes, not once the whole claim is
done, and a thread sends its next attempt only once the outcome of its last is committed: a
worker killed mid-claim leaves at most one attempt per thread sent but not recorded, which is
all a receiver can get twice from it (`webhook_threads`, 1 for at most one). The outcomes that
come while one is being written wait for it and are then written together, in one transaction
(a group commit, as a database does with its log): no attempt waits for an outcome that is not
yet in, and under load a transaction carries about one outcome per thread.

A request carries `webhook-id` (the event's, the same on every attempt, for the receiver to
drop duplicates), `webhook-timestamp` (when it was sent, by the wall clock: the receiver checks
it against its own) and `webhook-signature`, one `v1,` signature per live secret of the
endpoint, space-separated (two during a rotation's overlap). Attempts are made by several
threads at once: a claim holds only the oldest pending delivery of each pair, so sending a
claim's deliveries side by side never reorders a pair's events. Each thread keeps its own
keep-alive connections (one per endpoint origin), so threads never wait on each other's pool.
They are plain sockets with httptools' parser reading the answers (`_Connections`): an attempt
costs a fraction of what it costs through httpx (its request and response models, its pool and
h11 state machine) or `http.client` (which parses each answer's head into an email message),
and the sender's CPU is what limits how fast a worker drains.
"""

from __future__ import annotations

import functools
import logging
import math
import secrets
import select
import socket
import ssl
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httptools
import httpx
from standardwebhooks import Webhook

from hushan.clock import Clock, SystemClock
from hushan.service import Hushan
from hushan.service.webhooks import AttemptResult, Outbound

log = logging.getLogger("hushan.delivery")

LEASE_SLACK = timedelta(seconds=30)  # beyond the longest a claim's attempts can take


@functools.lru_cache(maxsize=1024)
def _signer(key: str) -> Webhook:
    return Webhook(key)


class _Failed(Exception):
    """An attempt that got no answer, named as httpx names the error (the `last_error` kept)."""


@dataclass(frozen=True, slots=True)
class _Target:
    """Where an endpoint's requests go: the connection's origin (`host` header form too), and
    the request's target."""

    https: bool
    host: str
    port: int
    path: str
    origin: str


@functools.lru_cache(maxsize=1024)
def _target(url: str) -> _Target:
    """An endpoint's URL, parsed once rather than at every attempt (a fragment is not sent)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # stored before the pattern refused them: a bad IPv6 host, a port
        raise _Failed("ConnectError") from None  # past 65535
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not (path.isascii() and path.isprintable()) or " " in path:
        raise _Failed("ConnectError")  # not a request target: stored before the pattern
    https = parts.scheme == "https"
    host = parts.hostname or ""
    default = 443 if https else 80
    named = f"[{host}]" if ":" in host else host
    origin = named if port in (None, default) else f"{named}:{port}"
    return _Target(https, host, port or default, path, origin)


def signature_header(keys: Sequence[str], msg_id: str, timestamp: datetime, body: str) -> str:
    """The `webhook-signature` value: a `v1,` signature under each secret, space-separated."""
    return " ".join(_signer(key).sign(msg_id, timestamp, body) for key in keys)


class _Recorder:
    """Attempt outcomes written by group commit. A sending thread hands its outcome in and
    returns once it is committed; whoever finds no transaction under way writes every outcome
    handed in so far, its own and those that came while the last one was written."""

    def __init__(self, engine: Hushan, owner: str) -> None:
        self._engine, self._owner = engine, owner
        self._mutex = threading.Lock()  # the list of outcomes handed in, and their count
        self._writing = threading.Lock()  # one transaction at a time
        self._pending: list[AttemptResult] = []
        self._handed_in = 0
        self._written = 0  # of the outcomes handed in, how many the transactions took

    def record(self, result: AttemptResult) -> None:
        with self._mutex:
            self._pending.append(result)
            self._handed_in += 1
            mine = self._handed_in
        with self._writing:
            if self._written >= mine:
                return  # written with another thread's
            with self._mutex:
                batch, self._pending = self._pending, []
                upto = self._handed_in
            try:
                self._engine.record_attempts(self._owner, batch)
            finally:
                # Taken even if the write failed: an outcome not written leaves its delivery
                # leased, and it is sent again once the lease lapses (at least once).
                self._written = upto


def _error_name(step: str, error: Exception) -> str:
    if isinstance(error, TimeoutError):
        return f"{step}Timeout"
    if step == "Connect":
        return "ConnectError"
    if isinstance(error, (httptools.HttpParserError, _CutOff)):
        return "RemoteProtocolError"  # no status line, a bad one, or a cut-off answer
    return f"{step}Error"


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether an idle connection has something to read: the end of its stream (the endpoint
    closed it) or bytes it should not have sent; either way it is not fit to send on."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


@functools.cache
def _tls() -> ssl.SSLContext:
    """Made once, on the first https endpoint: httpx's trust store and settings."""
    return httpx.create_ssl_context()


class _CutOff(Exception):
    """The connection ended before the whole answer came."""


class _Answer:
    """httptools' callbacks for one answer: its head read, the length of its body known (from
    `content-length` or chunks; else the body runs to the end of the stream), and its end.
    An interim answer (1xx) is followed by the real one on the same connection."""

    __slots__ = ("parser", "head", "framed", "done", "again")

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.head = self.framed = self.done = self.again = False

    def on_header(self, name: bytes, _: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.head = True

    def on_message_complete(self) -> None:
        if self.parser.get_status_code() >= 200:
            # Read here: the parser forgets it once the message is over.
            self.done, self.again = True, self.parser.should_keep_alive()
        else:
            self.head = self.framed = False


def _request(target: _Target, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {target.path} HTTP/1.1", f"host: {target.origin}"]
    lines += [f"content-length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body


class _Connections:
    """One sending thread's keep-alive connections, one per origin. An answer is read by
    httptools' parser (llhttp, the one uvicorn serves with): `http.client` parsed each answer's
    head into an email message, which was a third of an attempt's time."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._open: dict[tuple[bool, str, int], socket.socket] = {}

    def post(self, target: _Target, body: bytes, headers: dict[str, str]) -> int:
        """The status the endpoint answered; `_Failed` if none came."""
        key = (target.https, target.host, target.port)
        sock = self._open.get(key)
        if sock is not None and _closed_by_peer(sock):
            self._drop(key)  # reconnected below rather than failing the attempt, as httpcore does
            sock = None
        step = "Connect"
        try:
            if sock is None:
                sock = self._open[key] = self._connect(target)
            step = "Write"
            sock.sendall(_request(target, body, headers))
            step = "Read"
            status, again = self._answer(sock)
        except (OSError, httptools.HttpParserError, _CutOff) as error:
            self._drop(key)
            raise _Failed(_error_name(step, error)) from error
        if not again:
            self._drop(key)
        return status

    def _connect(self, target: _Target) -> socket.socket:
        sock = socket.create_connection((target.host, target.port), timeout=self._timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if target.https:
            return _tls().wrap_socket(sock, server_hostname=target.host)
        return sock

    @staticmethod
    def _answer(sock: socket.socket) -> tuple[int, bool]:
        """The answer's status, read whole (the connection is then ready for the next
        request), and whether the connection may be used again."""
        answer = _Answer()
        while not answer.done:
            data = sock.recv(65536)
            if not data:
                if answer.head and not answer.framed:  # a body that ends with the stream
                    return answer.parser.get_status_code(), False
                raise _CutOff()
            answer.parser.feed_data(data)
        return answer.parser.get_status_code(), answer.again

    def _drop(self, key: tuple[bool, str, int]) -> None:
        sock = self._open.pop(key, None)
        if sock is not None:
            sock.close()

    def close(self) -> None:
        for sock in self._open.values():
            sock.close()
        self._open.clear()


class Deliverer:
    """One worker's sender. `clock` (the engine's) schedules; `stamp` dates the requests."""

    def __init__(
        self,
        engine: Hushan,
        *,
        timeout: float = 5.0,
        batch: int = 100,
        threads: int = 8,
        stamp: Clock | None = None,
        lease_slack: timedelta = LEASE_SLACK,
    ) -> None:
        self.engine = engine
        self.owner = "w_" + secrets.token_hex(8)
        self.batch = batch
        self.threads = threads
        self.lease = timedelta(seconds=timeout * math.ceil(batch / threads)) + lease_slack
        self.stamp = stamp or SystemClock()
        self._timeout = timeout
        self._local = threading.local()
        self._connections: list[_Connections] = []
        self._recorder = _Recorder(engine, self.owner)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="hushan-webhook")

    def run_once(self) -> int:
        """Relay new events, then send one claim's deliveries; how many attempts were made."""
        self.engine.relay_events()
        claimed = self.engine.claim_deliveries(self.owner, self.batch, self.lease)
        left = deque(claimed)
        lanes = [self._pool.submit(self._send, left) for _ in range(min(self.threads, len(left)))]
        wait(lanes)  # all of them, even when one failed: none is still sending after a return
        for lane in lanes:
            lane.result()
        return len(claimed)

    def _send(self, left: deque[Outbound]) -> None:
        """Send the claim's deliveries left, one at a time, until none is (the claim holds one
        per pair: the threads taking them side by side never reorder a pair's events)."""
        while True:
            try:
                outbound = left.popleft()  # a deque's pops are thread-safe
            except IndexError:
                return
            self._recorder.record(self.attempt(outbound))  # committed before the next send

    def attempt(self, outbound: Outbound) -> AttemptResult:
        event = outbound.event
        body = event.payload()
        sent_at = self.stamp.now()
        headers = {
            "content-type": "application/json",
            "webhook-id": event.webhook_id,
            "webhook-timestamp": str(math.floor(sent_at.timestamp())),
            "webhook-signature": signature_header(
                outbound.secrets, event.webhook_id, sent_at, body.decode()
            ),
        }
        try:
            status = self._own_connections().post(_target(outbound.url), body, headers)
        except _Failed as failure:
            return AttemptResult(outbound.delivery, None, str(failure))
        return AttemptResult(outbound.delivery, status)

    def _own_connections(self) -> _Connections:
        found: _Connections | None = getattr(self._local, "connections", None)
        if found is None:
            found = self._local.connections = _Connections(self._timeout)
            self._connections.append(found)
        return found

    def close(self) -> None:
        self._pool.shutdown()
        for connections in self._connections:
            connections.close()
