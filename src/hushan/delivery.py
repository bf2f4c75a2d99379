"""Sending webhooks: the worker's loop that relays the outbox, claims due deliveries, sends
each by the Standard Webhooks specification and records what it got.

Each attempt's outcome is written as soon as its answer comes, not once the whole claim is
done: a worker killed mid-claim leaves at most one attempt per thread sent but not recorded,
which is all a receiver can get twice from it (`webhook_threads`, 1 for at most one).

A request carries `webhook-id` (the event's, the same on every attempt, for the receiver to
drop duplicates), `webhook-timestamp` (when it was sent, by the wall clock: the receiver checks
it against its own) and `webhook-signature`, one `v1,` signature per live secret of the
endpoint, space-separated (two during a rotation's overlap). Attempts are made by one
keep-alive `httpx.Client`, several at once: a claim holds only the oldest pending delivery of
each pair, so sending a claim's deliveries side by side never reorders a pair's events.
"""

from __future__ import annotations

import logging
import math
import secrets
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


def signature_header(keys: Sequence[str], msg_id: str, timestamp: datetime, body: str) -> str:
    """The `webhook-signature` value: a `v1,` signature under each secret, space-separated."""
    return " ".join(Webhook(key).sign(msg_id, timestamp, body) for key in keys)


class Deliverer:
    """One worker's sender. `clock` (the engine's) schedules; `stamp` dates the requests."""

    def __init__(
        self,
        engine: Hushan,
        *,
        timeout: float = 5.0,
        batch: int = 100,
        threads: int = 8,
        client: httpx.Client | None = None,
        stamp: Clock | None = None,
        lease_slack: timedelta = LEASE_SLACK,
    ) -> None:
        self.engine = engine
        self.owner = "w_" + secrets.token_hex(8)
        self.batch = batch
        self.threads = threads
        self.lease = timedelta(seconds=timeout * math.ceil(batch / threads)) + lease_slack
        self.stamp = stamp or SystemClock()
        self.client = client or httpx.Client(
            timeout=timeout,
            limits=httpx.Limits(max_connections=threads, max_keepalive_connections=threads),
            follow_redirects=False,
        )
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
        self.engine.record_attempts(self.owner, [result])
        return result

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
            response = self.client.post(outbound.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            return AttemptResult(outbound.delivery, None, type(error).__name__)
        return AttemptResult(outbound.delivery, response.status_code)

    def close(self) -> None:
        self._pool.shutdown()
        self.client.close()
