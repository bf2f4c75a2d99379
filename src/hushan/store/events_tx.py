"""The part of a transaction (`hushan.store.base.Tx`) that holds events out: the outbox, webhook
endpoints and their deliveries (`hushan.store.webhooks_sql` implements it for every backend)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import datetime

from hushan.domain.events import Event
from hushan.domain.miniprograms import GrantsRevoked, MiniProgram
from hushan.domain.platforms import Platform, UnbindCase
from hushan.domain.webhooks import Alert, Delivery, DeliveryState, Endpoint, Outcome


class EventsTx(ABC):
    # the outbox: written by `flush_audit`, one event per audit entry
    @abstractmethod
    def outbox_after(self, seq: int, limit: int) -> list[Event]: ...

    @abstractmethod
    def prune_outbox(self, before: datetime, limit: int) -> int:
        """Drop up to `limit` relayed events older than `before` that no delivery waits for,
        with their finished deliveries; how many events went."""

    # endpoints and secrets
    @abstractmethod
    def insert_endpoint(self, endpoint: Endpoint, secret: str) -> None:
        """The endpoint gets the events numbered after the newest audit entry now."""

    @abstractmethod
    def get_endpoint(self, endpoint_id: str) -> Endpoint | None: ...

    @abstractmethod
    def list_endpoints(self) -> list[Endpoint]: ...

    @abstractmethod
    def delete_endpoint(self, endpoint_id: str) -> bool: ...

    @abstractmethod
    def set_endpoint_enabled(self, endpoint_id: str, reason: str | None, now: datetime) -> bool:
        """Enable (`reason` None) or disable; False if there is no such endpoint."""

    @abstractmethod
    def rotate_endpoint_secret(
        self, endpoint_id: str, secret: str, now: datetime, until: datetime
    ) -> None: ...

    @abstractmethod
    def next_due(self) -> datetime | None:
        """When the soonest claimable delivery (the oldest pending of its pair, its endpoint
        enabled) is due; None when there is none."""

    @abstractmethod
    def count_disabled_endpoints(self) -> int: ...

    @abstractmethod
    def plain_webhook_secrets(self, prefix: str) -> list[tuple[str, str]]:
        """(endpoint, secret) of each secret stored plain (it starts with `prefix`)."""

    @abstractmethod
    def replace_webhook_secret(self, old: str, new: str) -> None: ...

    @abstractmethod
    def live_secrets(self, endpoint_ids: Sequence[str], now: datetime) -> dict[str, list[str]]:
        """Each endpoint's secrets that sign at `now`, the newest first."""

    # the relay and deliveries
    @abstractmethod
    def relay_events(self, now: datetime, limit: int) -> int:
        """Deliveries for the next `limit` events not yet relayed; how many events."""

    @abstractmethod
    def claim_deliveries(
        self, owner: str, now: datetime, until: datetime, limit: int
    ) -> list[tuple[Delivery, Event | GrantsRevoked, str]]:
        """Lease due deliveries to `owner`: each with its event and its endpoint's URL."""

    @abstractmethod
    def record_attempts(self, owner: str, outcomes: Sequence[Outcome], now: datetime) -> set[int]:
        """Attempts' outcomes, each if `owner` still holds its lease; the ids written."""

    @abstractmethod
    def count_endpoint_outcomes(self, endpoint_id: str, reset: bool, failures: int) -> int:
        """Start the run of failures again or not, add `failures`; the run (0 if disabled)."""

    @abstractmethod
    def get_delivery(self, delivery_id: int) -> Delivery | None: ...

    @abstractmethod
    def list_deliveries(
        self, endpoint_id: str | None, state: DeliveryState | None, before_id: int, limit: int
    ) -> list[Delivery]: ...

    @abstractmethod
    def replay_deliveries(self, ids: Sequence[int], now: datetime) -> int: ...

    @abstractmethod
    def failed_since(self, since: datetime, endpoint_id: str | None) -> list[int]: ...

    # the operator's alerts
    @abstractmethod
    def insert_alert(
        self,
        endpoint_id: str,
        now: datetime,
        reason: str,
        last_status: int | None,
        last_error: str | None,
    ) -> None: ...

    @abstractmethod
    def close_alerts(self, endpoint_id: str, now: datetime) -> int:
        """Close the endpoint's open alerts; how many."""

    @abstractmethod
    def list_alerts(self, open_only: bool, before_id: int, limit: int) -> list[Alert]:
        """The newest first, below `before_id`."""

    @abstractmethod
    def count_open_alerts(self) -> int: ...

    # linked platforms (hushan.domain.platforms)
    @abstractmethod
    def insert_platform(self, platform: Platform) -> None:
        """The platform, its endpoint (already inserted) marked as the platform's."""

    @abstractmethod
    def get_platform(self, platform_id: str) -> Platform | None: ...

    @abstractmethod
    def list_platforms(self) -> list[Platform]: ...

    @abstractmethod
    def set_link(self, user_id: str, platform_id: str, linked: bool, now: datetime) -> bool:
        """Link or unlink; False if it already was so."""

    @abstractmethod
    def linked_platforms(self, user_id: str) -> list[Platform]: ...

    @abstractmethod
    def acknowledge_delivery(self, platform_id: str, delivery_id: int, now: datetime) -> bool:
        """False if the delivery is not the platform's."""

    @abstractmethod
    def unacknowledged_purges(self, user_id: str) -> dict[str, set[str]]:
        """Per pair key, the user's platforms that have not acknowledged a purge there."""

    @abstractmethod
    def list_unbind_cases(
        self,
        platform_id: str | None,
        user_id: str | None,
        open_only: bool,
        before_id: int,
        limit: int,
    ) -> list[UnbindCase]:
        """The newest first, below `before_id`."""

    @abstractmethod
    def close_unbind_case(self, platform_id: str, case_id: int, now: datetime) -> bool | None:
        """The platform is done: True if closed now, False if it was already, None if it is
        not the platform's case. The case's delivery counts as acknowledged too."""

    @abstractmethod
    def acknowledgement_lags(self, platform_id: str, since: datetime) -> tuple[int, list[float]]:
        """Events emitted to the platform since `since`, and each acknowledged one's lag."""

    # mini-programs (hushan.domain.miniprograms)
    @abstractmethod
    def insert_mini_program(self, app: MiniProgram, secret: str) -> None:
        """The app, its key as stored (sealed)."""

    @abstractmethod
    def mini_program(self, app_id: str) -> tuple[MiniProgram, str] | None:
        """The app and its key as stored."""

    @abstractmethod
    def mini_program_secrets(self, app_ids: Iterable[str]) -> dict[str, str]:
        """Each app's key as stored."""

    @abstractmethod
    def set_mini_program_secret(self, app_id: str, secret: str) -> None:
        """A new key (as stored); the app's grants go with the ids it saw."""

    @abstractmethod
    def plain_mini_program_secrets(self, sealed_prefix: str) -> list[tuple[str, str]]:
        """(app, key) of each key an earlier version stored plain."""

    @abstractmethod
    def replace_mini_program_secret(self, app_id: str, old: str, new: str) -> None:
        """The same key in another form: the app's ids and grants stay."""

    @abstractmethod
    def pair_epoch(self, a: str, b: str) -> int: ...

    @abstractmethod
    def insert_grant(
        self, app_id: str, user_id: str, friend_id: str, pid: str, now: datetime
    ) -> None: ...

    @abstractmethod
    def grant_of(self, app_id: str, pid: str) -> tuple[str, str, bool] | None:
        """(user, friend, revoked) of the app's grant under the pair id."""

    @abstractmethod
    def revoke_pair_grants(self, a: str, b: str, now: datetime) -> list[tuple[str, str, str]]:
        """Revoke the pair's grants in every app and move its epoch on; (app, pair id, user)
        of each grant revoked now."""

    @abstractmethod
    def queue_grant_revocations(self, revoked: Iterable[tuple[str, str, str]]) -> None:
        """This transaction's `grant.revoked`, as (app, pair id, OpenID), for the outbox."""

    @abstractmethod
    def revocations(self, app_id: str, since: datetime) -> list[tuple[str, str, datetime]]:
        """The app's grants revoked since: (pair id, user, when)."""
