"""Webhook endpoints and deliveries, as engine calls: the admin's (register, list, rotate a
secret, enable, replay) and the worker's (relay the outbox, claim due deliveries, record what
an attempt got). Sending itself is `hushan.delivery`'s: no call here waits on the network."""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hushan.crypto import Sealer
from hushan.domain.errors import DeliveryNotFound, EndpointNotFound
from hushan.domain.events import Event
from hushan.domain.miniprograms import GrantsRevoked
from hushan.domain.webhooks import (
    SECRET_PREFIX,
    Alert,
    Delivery,
    DeliveryState,
    Endpoint,
    Outcome,
    after_attempt,
    checked_event_types,
    checked_url,
    failure_run_after,
    is_success,
)
from hushan.service.engine import NO_ID_ABOVE, EngineCore

log = logging.getLogger("hushan.webhooks")

MAX_OVERLAP = timedelta(days=30)
RELAY_BATCH = 1000  # events turned into deliveries per transaction
PRUNE_BATCH = 1000


SEALED_PREFIX = "sealed:"


def new_webhook_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def seal_webhook_secret(sealer: Sealer, endpoint_id: str, secret: str) -> str:
    """A `whsec_` secret as it is stored: sealed under the deployment key, bound to its
    endpoint (a database dump alone cannot sign for any endpoint)."""
    raw = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    return SEALED_PREFIX + base64.b64encode(sealer.seal_secret(raw, endpoint_id)).decode()


def open_webhook_secret(sealer: Sealer, endpoint_id: str, stored: str) -> str:
    if stored.startswith(SECRET_PREFIX):  # stored plain before 0017, until sealed at start
        return stored
    raw = sealer.open_secret(base64.b64decode(stored.removeprefix(SEALED_PREFIX)), endpoint_id)
    return SECRET_PREFIX + base64.b64encode(raw).decode()


@dataclass(frozen=True, slots=True)
class Outbound:
    """A claimed delivery, ready to send: its event, where to, and every secret that signs."""

    delivery: Delivery
    event: Event | GrantsRevoked
    url: str
    secrets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AttemptResult:
    delivery: Delivery
    status: int | None  # the HTTP status, None when no answer came
    error: str | None = None


class WebhooksService(EngineCore):
    # ---- endpoints -------------------------------------------------------------------------
    def create_endpoint(self, url: str, event_types: Iterable[str]) -> tuple[Endpoint, str]:
        """A new endpoint and its first secret (also shown later, to the admin only). It gets
        the events committed after it."""
        endpoint = Endpoint(
            "we_" + secrets.token_hex(8),
            checked_url(url),
            checked_event_types(event_types),
            self.clock.now(),
        )
        secret = new_webhook_secret()
        with self.store.write() as tx:
            tx.insert_endpoint(endpoint, seal_webhook_secret(self.sealer, endpoint.id, secret))
        return endpoint, secret

    def list_endpoints(self) -> list[Endpoint]:
        with self.store.read() as tx:
            return tx.list_endpoints()

    def endpoint_secrets(self, endpoint_id: str) -> list[str]:
        """The endpoint's secrets that sign now, the newest first."""
        with self.store.read() as tx:
            if tx.get_endpoint(endpoint_id) is None:
                raise EndpointNotFound()
            stored = tx.live_secrets([endpoint_id], self.clock.now())[endpoint_id]
        return [open_webhook_secret(self.sealer, endpoint_id, k) for k in stored]

    def seal_plain_webhook_secrets(self) -> int:
        """Seal the secrets an older version stored plain (run at every start); how many."""
        with self.store.write() as tx:
            found = tx.plain_webhook_secrets(SECRET_PREFIX)
            for endpoint_id, plain in found:
                sealed = seal_webhook_secret(self.sealer, endpoint_id, plain)
                tx.replace_webhook_secret(plain, sealed)
        return len(found)

    def delete_endpoint(self, endpoint_id: str) -> None:
        with self.store.write() as tx:
            if not tx.delete_endpoint(endpoint_id):
                raise EndpointNotFound()
            tx.close_alerts(endpoint_id, self.clock.now())

    def enable_endpoint(self, endpoint_id: str, enabled: bool = True) -> Endpoint:
        """Enable (its run of failures starts again) or disable an endpoint; its pending
        deliveries wait while it is disabled."""
        now = self.clock.now()
        with self.store.write() as tx:
            reason = None if enabled else "disabled by the operator"
            if not tx.set_endpoint_enabled(endpoint_id, reason, now):
                raise EndpointNotFound()
            if enabled:  # the operator has seen to it
                tx.close_alerts(endpoint_id, now)
            found = tx.get_endpoint(endpoint_id)
        assert found is not None
        return found

    def rotate_endpoint_secret(self, endpoint_id: str, overlap: timedelta) -> str:
        """A new secret; those before it still sign for `overlap` (so a receiver can switch
        with no failed verification), each delivery carrying one signature per secret."""
        now = self.clock.now()
        secret = new_webhook_secret()
        with self.store.write() as tx:
            if tx.get_endpoint(endpoint_id) is None:
                raise EndpointNotFound()
            sealed = seal_webhook_secret(self.sealer, endpoint_id, secret)
            tx.rotate_endpoint_secret(endpoint_id, sealed, now, now + min(overlap, MAX_OVERLAP))
        return secret

    # ---- the worker's side -------------------------------------------------------------------
    def relay_events(self) -> int:
        """Turn every outbox event not yet relayed into deliveries; how many events."""
        relayed = 0
        while True:
            with self.store.write() as tx:
                done = tx.relay_events(self.clock.now(), RELAY_BATCH)
            relayed += done
            if done < RELAY_BATCH:
                return relayed

    def claim_deliveries(self, owner: str, limit: int, lease: timedelta) -> list[Outbound]:
        """Lease due deliveries to `owner` (none another worker holds, and only the oldest
        pending of each endpoint's pair), with what it takes to send them."""
        now = self.clock.now()
        with self.store.write() as tx:
            claimed = tx.claim_deliveries(owner, now, now + lease, limit)
            keys = tx.live_secrets(sorted({d.endpoint_id for d, _, _ in claimed}), now)
        opened = {
            endpoint_id: tuple(open_webhook_secret(self.sealer, endpoint_id, k) for k in stored)
            for endpoint_id, stored in keys.items()
        }
        return [Outbound(d, e, url, opened[d.endpoint_id]) for d, e, url in claimed]

    def record_attempts(self, owner: str, results: Sequence[AttemptResult]) -> list[str]:
        """What each attempt got, in one transaction; an endpoint whose run of failures reaches
        the limit is disabled and the operator told: an alert (`list_webhook_alerts`, open until
        the endpoint is enabled) in the same transaction, and a warning in the log. Returns the
        endpoints disabled now."""
        now = self.clock.now()
        schedule, limit = self.limits.webhook_schedule, self.limits.webhook_disable_after
        disabled: list[str] = []
        outcomes: dict[str, list[bool]] = {}  # per endpoint, in the order attempted
        last: dict[str, AttemptResult] = {}  # per endpoint, its last attempt recorded
        written: list[tuple[AttemptResult, Outcome]] = []
        for result in results:
            ok = is_success(result.status)
            after = after_attempt(result.delivery.attempts + 1, ok, now, schedule)
            outcome = Outcome(
                result.delivery.id, after.state, after.next_at, result.status, result.error
            )
            written.append((result, outcome))
        # A worker killed after the commit loses nothing: the database has it. Only a crash
        # of the database itself could, and the attempt is then simply made again.
        with self.store.write_unsynced() as tx:
            kept = tx.record_attempts(owner, [o for _, o in written], now)
            for result, _ in written:
                # One not kept: the lease lapsed, and another worker owns the delivery now.
                if result.delivery.id in kept:
                    ok = is_success(result.status)
                    outcomes.setdefault(result.delivery.endpoint_id, []).append(ok)
                    last[result.delivery.endpoint_id] = result
            for endpoint_id, oks in outcomes.items():
                run = tx.count_endpoint_outcomes(endpoint_id, *failure_run_after(oks))
                if run >= limit:
                    reason = f"{run} failed attempts in a row"
                    tx.set_endpoint_enabled(endpoint_id, reason, now)
                    final = last[endpoint_id]
                    tx.insert_alert(endpoint_id, now, reason, final.status, final.error)
                    disabled.append(endpoint_id)
        for endpoint_id in disabled:
            log.warning("webhook endpoint %s disabled after %d failed attempts", endpoint_id, limit)
        return disabled

    def next_delivery_due(self) -> datetime | None:
        """When the soonest delivery a worker could claim is due; None if there is none."""
        with self.store.read() as tx:
            return tx.next_due()

    def prune_webhooks(self) -> int:
        """Drop events and finished deliveries past their retention, in batches."""
        before = self.clock.now() - timedelta(seconds=self.limits.webhook_retention_seconds)
        pruned = 0
        while True:
            with self.store.write() as tx:
                gone = tx.prune_outbox(before, PRUNE_BATCH)
            pruned += gone
            if gone < PRUNE_BATCH:
                return pruned

    # ---- deliveries, for the admin --------------------------------------------------------
    def list_deliveries(
        self,
        endpoint_id: str | None = None,
        state: DeliveryState | None = None,
        before_id: int = NO_ID_ABOVE,
        limit: int = 100,
    ) -> list[Delivery]:
        """The newest first; the next page is below the last one's id."""
        with self.store.read() as tx:
            return tx.list_deliveries(endpoint_id, state, before_id, limit)

    def list_webhook_alerts(
        self, open_only: bool = False, before_id: int = NO_ID_ABOVE, limit: int = 100
    ) -> list[Alert]:
        """Endpoints the worker disabled, the newest first: when, why, the last status or
        error, and whether the operator has enabled the endpoint since (`closed_at`)."""
        with self.store.read() as tx:
            return tx.list_alerts(open_only, before_id, limit)

    def replay_delivery(self, delivery_id: int) -> Delivery:
        """Send one delivery again at once, whatever its state, with a full schedule."""
        now = self.clock.now()
        with self.store.write() as tx:
            if tx.get_delivery(delivery_id) is None:
                raise DeliveryNotFound()
            tx.replay_deliveries([delivery_id], now)
            found = tx.get_delivery(delivery_id)
        assert found is not None
        return found

    def replay_failures(self, since: datetime, endpoint_id: str | None = None) -> int:
        """Send again every delivery that failed for good at or after `since`; how many."""
        with self.store.write() as tx:
            if endpoint_id is not None and tx.get_endpoint(endpoint_id) is None:
                raise EndpointNotFound()
            return tx.replay_deliveries(tx.failed_since(since, endpoint_id), self.clock.now())
