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
claim's deliveries side by side never reorders a pair's events. Each thread has an httpx
transport of its own, its keep-alive connections (one per endpoint host), so threads never wait
on each other's pool lock; the transport is called directly, not through an `httpx.Client`,
whose cookies, redirects and authentication a webhook does not need and which cost as much
again.
"""

from __future__ import annotations

import functools
import logging
import math
import secrets
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

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


@functools.lru_cache(maxsize=1024)
def _url(url: str) -> httpx.URL:
    """An endpoint's URL, parsed once rather than at every attempt."""
    return httpx.URL(url)


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


class Deliverer:
    """One worker's sender. `clock` (the engine's) schedules; `stamp` dates the requests."""

    def __init__(
        self,
        engine: Hushan,
        *,
        timeout: float = 5.0,
        batch: int = 100,
        threads: int = 8,
        transport: httpx.BaseTransport | None = None,
        stamp: Clock | None = None,
        lease_slack: timedelta = LEASE_SLACK,
    ) -> None:
        self.engine = engine
        self.owner = "w_" + secrets.token_hex(8)
        self.batch = batch
        self.threads = threads
        self.lease = timedelta(seconds=timeout * math.ceil(batch / threads)) + lease_slack
        self.stamp = stamp or SystemClock()
        self._shared = transport  # one given (a test's) serves every thread
        self._transports: list[httpx.BaseTransport] = []
        self._local = threading.local()
        self._timeout = httpx.Timeout(timeout).as_dict()
        self._recorder = _Recorder(engine, self.owner)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="hushan-webhook")

    def run_once(self) -> int:
        """Relay new events, then send one claim's deliveries; how many attempts were made."""
        self.engine.relay_events()
        claimed = self.engine.claim_deliveries(self.owner, self.batch, self.lease)
        if not claimed:
            return 0
        return len(list(self._pool.map(self._send, claimed)))

    def _send(self, outbound: Outbound) -> AttemptResult:
        result = self.attempt(outbound)
        self._recorder.record(result)  # committed before this thread sends again
        return result

    @property
    def transport(self) -> httpx.BaseTransport:
        """This thread's: redirects are not followed, the answer is what the endpoint said."""
        found: httpx.BaseTransport | None = self._shared or getattr(self._local, "transport", None)
        if found is None:
            found = self._local.transport = httpx.HTTPTransport()
            self._transports.append(found)
        return found

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
        request = httpx.Request(
            "POST",
            _url(outbound.url),
            content=body,
            headers=headers,
            extensions={"timeout": self._timeout},
        )
        try:
            response = self.transport.handle_request(request)
            try:
                response.read()  # the connection goes back to the pool only once it is read
            finally:
                response.close()
        except httpx.HTTPError as error:
            return AttemptResult(outbound.delivery, None, type(error).__name__)
        return AttemptResult(outbound.delivery, response.status_code)

    def close(self) -> None:
        self._pool.shutdown()
        for transport in [*self._transports, *([self._shared] if self._shared else [])]:
            transport.close()
