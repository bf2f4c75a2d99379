"""Linked platforms, as engine calls: the registry (each platform has a webhook endpoint of its
own), users linking and unlinking them, acknowledgements, and each platform's sync rate. Which
events a platform gets is decided by the relay (hushan.domain.platforms)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from hushan.domain.errors import (
    InvalidPlatformName,
    PlatformNotFound,
    UnbindCaseNotFound,
    UserNotFound,
)
from hushan.domain.events import EventType
from hushan.domain.platforms import (
    AssetPolicy,
    PermissionPolicy,
    Platform,
    SyncRate,
    UnbindCase,
    percentile,
)
from hushan.domain.rules import is_label
from hushan.domain.webhooks import Endpoint, checked_url
from hushan.service.engine import NO_ID_ABOVE, EngineCore
from hushan.service.webhooks import new_webhook_secret, seal_webhook_secret


class PlatformsService(EngineCore):
    def create_platform(
        self,
        name: str,
        url: str,
        asset_policy: AssetPolicy,
        permission_policy: PermissionPolicy,
    ) -> tuple[Platform, str]:
        """Register a platform with an endpoint of its own (every event type, filtered per
        linking user); returns it and the endpoint's secret."""
        if not is_label(name, 64):
            raise InvalidPlatformName()
        now = self.clock.now()
        endpoint = Endpoint(
            "we_" + secrets.token_hex(8), checked_url(url), frozenset(EventType), now
        )
        platform = Platform(
            "pf_" + secrets.token_hex(8), name, endpoint.id, asset_policy, permission_policy, now
        )
        secret = new_webhook_secret()
        with self.store.write() as tx:
            tx.insert_endpoint(endpoint, seal_webhook_secret(self.sealer, endpoint.id, secret))
            tx.insert_platform(platform)
        return platform, secret

    def list_platforms(self) -> list[Platform]:
        with self.store.read() as tx:
            return tx.list_platforms()

    def link_platform(self, user_id: str, platform_id: str, linked: bool = True) -> bool:
        """The user links (or unlinks) the platform: it gets their events from now on (or no
        more). False if it already was so."""
        with self.store.write(user_id) as tx:
            if tx.get_user(user_id) is None:
                raise UserNotFound()
            if tx.get_platform(platform_id) is None:
                raise PlatformNotFound()
            return tx.set_link(user_id, platform_id, linked, self.clock.now())

    def platforms_of(self, user_id: str) -> list[Platform]:
        with self.store.read() as tx:
            if tx.get_user(user_id) is None:
                raise UserNotFound()
            return tx.linked_platforms(user_id)

    def acknowledge_delivery(self, platform_id: str, delivery_id: int) -> None:
        """The platform finished with a delivery's event (after answering it 202)."""
        with self.store.write() as tx:
            if not tx.acknowledge_delivery(platform_id, delivery_id, self.clock.now()):
                raise PlatformNotFound("No such platform, or that delivery is not its own.")

    def list_unbind_cases(
        self,
        platform_id: str | None = None,
        user_id: str | None = None,
        open_only: bool = False,
        before_id: int = NO_ID_ABOVE,
        limit: int = 100,
    ) -> list[UnbindCase]:
        """Cases of assets to unbind by hand (`manual_unbind` platforms), the newest first: a
        platform's worklist, or a user's."""
        with self.store.read() as tx:
            if platform_id is not None and tx.get_platform(platform_id) is None:
                raise PlatformNotFound()
            return tx.list_unbind_cases(platform_id, user_id, open_only, before_id, limit)

    def unbind_case_done(self, platform_id: str, case_id: int) -> bool:
        """The platform says the user's assets are unbound: the case closes (and its event
        counts as acknowledged). False if it was closed already."""
        with self.store.write() as tx:
            if tx.get_platform(platform_id) is None:
                raise PlatformNotFound()
            closed = tx.close_unbind_case(platform_id, case_id, self.clock.now())
        if closed is None:
            raise UnbindCaseNotFound()
        return closed

    def sync_rates(self, window: timedelta) -> list[SyncRate]:
        """Every platform's sync rate over the window, in one read (for `/metrics`)."""
        since = self.clock.now() - window
        with self.store.read() as tx:
            found = [(p.id, *tx.acknowledgement_lags(p.id, since)) for p in tx.list_platforms()]
        return [
            SyncRate(pid, emitted, len(lags), percentile(lags, 0.5), percentile(lags, 0.99))
            for pid, emitted, lags in found
        ]

    def sync_rate(self, platform_id: str, window: timedelta) -> SyncRate:
        """Of the events emitted to the platform in the window, how many it acknowledged, and
        how long after the change (p50, p99 seconds)."""
        with self.store.read() as tx:
            if tx.get_platform(platform_id) is None:
                raise PlatformNotFound()
            emitted, lags = tx.acknowledgement_lags(platform_id, self.clock.now() - window)
        return SyncRate(
            platform_id, emitted, len(lags), percentile(lags, 0.5), percentile(lags, 0.99)
        )
