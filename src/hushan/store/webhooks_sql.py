"""The SQL of webhook endpoints, their secrets and deliveries, shared by every backend.

The relay turns outbox events into deliveries, one per subscribed endpoint, under a lock on its
one cursor row (so two workers never relay the same event). A worker claims due deliveries by
writing its lease on them in one statement whose condition it re-checks row by row (so two
workers never hold the same delivery), and only the oldest pending delivery of an endpoint's
pair can be claimed (so a pair's events arrive in order).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hushan.clock import from_micros, to_micros
from hushan.domain.events import Event, EventType, pair_key
from hushan.domain.miniprograms import GrantsRevoked
from hushan.domain.webhooks import Alert, Delivery, DeliveryState, Endpoint, Outcome
from hushan.store.outbox_sql import EVENT_COLUMNS, OutboxSql, event_of
from hushan.store.platforms_sql import PlatformsSql

_ENDPOINT = (
    "id, url, event_types, created_at, failure_run, disabled_at, disabled_reason, platform_id"
)
_DELIVERY = (
    "id, endpoint_id, seq, state, attempts, next_at, last_status, last_error,"
    " last_attempt_at, created_at, done_at"
)
_ALERT = "id, endpoint_id, at, reason, last_status, last_error, closed_at"
ACCEPTED = 202
# The oldest pending delivery of each endpoint's pair: the only one of the pair a worker may
# claim. Grouped over the pending deliveries' own index, not tested row by row against every
# earlier one (NOT EXISTS): a backlog of many events per pair is read once, not once per row.
_HEADS = (
    "(SELECT endpoint_id, pair_key, MIN(seq) AS seq FROM webhook_deliveries"
    " WHERE state = 'pending' GROUP BY endpoint_id, pair_key) AS h"
    " JOIN webhook_deliveries AS d ON d.endpoint_id = h.endpoint_id AND d.seq = h.seq"
    " JOIN webhook_endpoints AS e ON e.id = d.endpoint_id"
)
_DUE = (
    f"SELECT d.id FROM {_HEADS}"
    " WHERE d.next_at <= ?3 AND e.disabled_at IS NULL"
    " AND (d.lease_until IS NULL OR d.lease_until <= ?3)"
    " ORDER BY d.next_at, d.seq LIMIT ?4"
)


def _micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


def _moment(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def _endpoint(r: Sequence[Any]) -> Endpoint:
    return Endpoint(
        id=r[0],
        url=r[1],
        event_types=frozenset(EventType(t) for t in r[2].split()),
        created_at=from_micros(r[3]),
        failure_run=int(r[4]),
        disabled_at=_moment(r[5]),
        disabled_reason=r[6],
        platform_id=r[7],
    )


def _delivery(r: Sequence[Any]) -> Delivery:
    return Delivery(
        id=int(r[0]),
        endpoint_id=r[1],
        seq=int(r[2]),
        state=DeliveryState(r[3]),
        attempts=int(r[4]),
        next_at=from_micros(r[5]),
        last_status=r[6],
        last_error=r[7],
        last_attempt_at=_moment(r[8]),
        created_at=from_micros(r[9]),
        done_at=_moment(r[10]),
    )


def _alert(r: Sequence[Any]) -> Alert:
    return Alert(
        id=int(r[0]),
        endpoint_id=r[1],
        at=from_micros(r[2]),
        reason=r[3],
        last_status=r[4],
        last_error=r[5],
        closed_at=_moment(r[6]),
    )


class WebhooksSql(OutboxSql, PlatformsSql):
    """Mixed into `SqlTx`: the outbox, endpoints, secrets, the relay and deliveries."""

    # ---- endpoints and secrets ---------------------------------------------------------------
    def insert_endpoint(self, endpoint: Endpoint, secret: str) -> None:
        at = to_micros(endpoint.created_at)
        self._c.execute(
            # INSERT ... SELECT, not a subquery in VALUES, which Citus does not plan.
            "INSERT INTO webhook_endpoints (id, url, event_types, created_at, after_seq)"
            " SELECT ?, ?, ?, ?, COALESCE(MAX(seq), 0) FROM audit_log",
            (endpoint.id, endpoint.url, " ".join(sorted(endpoint.event_types)), at),
        )
        self._c.execute(
            "INSERT INTO webhook_secrets (endpoint_id, created_at, secret) VALUES (?, ?, ?)",
            (endpoint.id, at, secret),
        )

    def get_endpoint(self, endpoint_id: str) -> Endpoint | None:
        row = self._c.execute(
            f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE id = ?", (endpoint_id,)
        ).fetchone()
        return None if row is None else _endpoint(row)

    def list_endpoints(self) -> list[Endpoint]:
        rows = self._c.execute(f"SELECT {_ENDPOINT} FROM webhook_endpoints ORDER BY id")
        return [_endpoint(r) for r in rows]

    def delete_endpoint(self, endpoint_id: str) -> bool:
        cur = self._c.execute("DELETE FROM webhook_endpoints WHERE id = ?", (endpoint_id,))
        self._c.execute("DELETE FROM webhook_secrets WHERE endpoint_id = ?", (endpoint_id,))
        self._c.execute("DELETE FROM webhook_deliveries WHERE endpoint_id = ?", (endpoint_id,))
        return int(cur.rowcount) == 1

    def set_endpoint_enabled(self, endpoint_id: str, reason: str | None, now: datetime) -> bool:
        """Enable (`reason` None: its failure run starts again) or disable the endpoint."""
        disabled_at = None if reason is None else to_micros(now)
        cur = self._c.execute(
            "UPDATE webhook_endpoints SET disabled_at = ?, disabled_reason = ?, failure_run = 0"
            " WHERE id = ?",
            (disabled_at, reason, endpoint_id),
        )
        return int(cur.rowcount) == 1

    def rotate_endpoint_secret(
        self, endpoint_id: str, secret: str, now: datetime, until: datetime
    ) -> None:
        """A new secret; every older one still live signs until `until` (the overlap)."""
        self._c.execute(
            "UPDATE webhook_secrets SET expires_at = ?1 WHERE endpoint_id = ?2"
            " AND (expires_at IS NULL OR expires_at > ?1)",
            (to_micros(until), endpoint_id),
        )
        self._c.execute(
            "DELETE FROM webhook_secrets WHERE endpoint_id = ? AND expires_at <= ?",
            (endpoint_id, to_micros(now)),
        )
        self._c.execute(
            "INSERT INTO webhook_secrets (endpoint_id, created_at, secret) VALUES (?, ?, ?)",
            (endpoint_id, to_micros(now), secret),
        )

    def next_due(self) -> datetime | None:
        # Only what could be claimed: a pair's later events wait for its oldest pending one.
        row = self._c.execute(
            f"SELECT MIN(d.next_at) FROM {_HEADS} WHERE e.disabled_at IS NULL"
        ).fetchone()
        return None if row[0] is None else from_micros(row[0])

    def count_disabled_endpoints(self) -> int:
        row = self._c.execute(
            "SELECT COUNT(*) FROM webhook_endpoints WHERE disabled_at IS NOT NULL"
        ).fetchone()
        return int(row[0])

    def plain_webhook_secrets(self, prefix: str) -> list[tuple[str, str]]:
        rows = self._c.execute(
            "SELECT endpoint_id, secret FROM webhook_secrets WHERE secret LIKE ?", (prefix + "%",)
        ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def replace_webhook_secret(self, old: str, new: str) -> None:
        self._c.execute("UPDATE webhook_secrets SET secret = ? WHERE secret = ?", (new, old))

    def live_secrets(self, endpoint_ids: Sequence[str], now: datetime) -> dict[str, list[str]]:
        """Each endpoint's secrets that sign at `now`, the newest first."""
        found: dict[str, list[str]] = {e: [] for e in endpoint_ids}
        if not endpoint_ids:
            return found
        marks = ", ".join("?" * len(endpoint_ids))
        rows = self._c.execute(
            "SELECT endpoint_id, secret FROM webhook_secrets"
            f" WHERE endpoint_id IN ({marks}) AND (expires_at IS NULL OR expires_at > ?)"
            " ORDER BY expires_at IS NULL DESC, created_at DESC",
            (*endpoint_ids, to_micros(now)),
        )
        for endpoint_id, secret in rows:
            found[endpoint_id].append(secret)
        return found

    # ---- the relay -------------------------------------------------------------------------
    def relay_events(self, now: datetime, limit: int) -> int:
        """Deliveries for the next `limit` outbox events past the relay's cursor, one per
        endpoint subscribed to the event's type; returns how many events were relayed."""
        # Locks the cursor row until commit: a second relay waits here, then reads past ours.
        self._c.execute(
            "INSERT INTO webhook_relay (id, relayed_seq) VALUES (1, 0) ON CONFLICT (id) DO NOTHING"
        )
        self._c.execute("UPDATE webhook_relay SET relayed_seq = relayed_seq WHERE id = 1")
        after = int(
            self._c.execute("SELECT relayed_seq FROM webhook_relay WHERE id = 1").fetchone()[0]
        )
        events = self.outbox_after(after, limit)
        if not events:
            return 0
        subscribers = self._c.execute(
            "SELECT id, event_types, after_seq, platform_id, mini_program_id FROM webhook_endpoints"
        ).fetchall()
        # A mini-program's endpoint: `grant.revoked` for each change that revoked its grants.
        revoking = {
            (int(r[0]), r[1])
            for r in self._c.execute(
                "SELECT DISTINCT seq, app_id FROM outbox_grants WHERE seq BETWEEN ? AND ?",
                (events[0].seq, events[-1].seq),
            )
        }
        # A linked platform's endpoint: only its linking users' events, as they may see them.
        links = (
            self._links_of(u for e in events for u in (e.user_a, e.user_b))
            if any(s[3] for s in subscribers)
            else {}
        )
        at = to_micros(now)
        rows = [
            (endpoint_id, e.seq, pair_key(e.user_a, e.user_b), at, at)
            for e in events
            for endpoint_id, types, after_seq, platform_id, app_id in subscribers
            if e.seq > after_seq
            and (
                (e.seq, app_id) in revoking
                if app_id is not None
                else e.type.value in types.split()
                and (platform_id is None or self._platform_sees(e, platform_id, links))
            )
        ]
        self._c.executemany(
            "INSERT INTO webhook_deliveries (endpoint_id, seq, pair_key, state, next_at,"
            " created_at) VALUES (?, ?, ?, 'pending', ?, ?)",
            rows,
        )
        platforms = [(s[3], int(s[2])) for s in subscribers if s[3] is not None]
        if platforms:
            self._open_unbind_cases(events, platforms, links, now)
        self._c.execute("UPDATE webhook_relay SET relayed_seq = ? WHERE id = 1", (events[-1].seq,))
        return len(events)

    # ---- deliveries ------------------------------------------------------------------------
    def claim_deliveries(
        self, owner: str, now: datetime, until: datetime, limit: int
    ) -> list[tuple[Delivery, Event | GrantsRevoked, str]]:
        """Lease up to `limit` due deliveries to `owner` until `until`: each with its event (a
        mini-program's endpoint gets its `grant.revoked` of the change) and its endpoint's URL."""
        claimed = self._c.execute(
            "UPDATE webhook_deliveries SET lease_owner = ?1, lease_until = ?2"
            f" WHERE id IN ({_DUE}) AND (lease_until IS NULL OR lease_until <= ?3)"
            " RETURNING id",
            (owner, to_micros(until), to_micros(now), limit),
        ).fetchall()
        if not claimed:
            return []
        marks = ", ".join("?" * len(claimed))
        rows = self._c.execute(
            f"SELECT {', '.join('d.' + c for c in _DELIVERY.split(', '))}, {EVENT_COLUMNS},"
            " e.url, e.mini_program_id"
            " FROM webhook_deliveries AS d JOIN outbox AS o ON o.seq = d.seq"
            " JOIN webhook_endpoints AS e ON e.id = d.endpoint_id"
            f" WHERE d.id IN ({marks}) ORDER BY d.seq",
            [r[0] for r in claimed],
        ).fetchall()
        found: list[tuple[Delivery, Event | GrantsRevoked, str]] = []
        for r in rows:
            event, app_id = event_of(r[11:19]), r[20]
            sent = event if app_id is None else self._revoked_of(event, app_id)
            found.append((_delivery(r[:11]), sent, r[19]))
        return found

    def _revoked_of(self, event: Event, app_id: str) -> GrantsRevoked:
        grants = self._c.execute(
            "SELECT pair_id, open_id FROM outbox_grants WHERE seq = ? AND app_id = ?"
            " ORDER BY pair_id",
            (event.seq, app_id),
        ).fetchall()
        return GrantsRevoked(event.seq, event.at, app_id, tuple((g[0], g[1]) for g in grants))

    def record_attempts(self, owner: str, outcomes: Sequence[Outcome], now: datetime) -> set[int]:
        """The outcomes of attempts made under `owner`'s lease, in one statement; the ids of
        the deliveries written (one whose lease was lost meanwhile is left as it is)."""
        if not outcomes:
            return set()
        at = to_micros(now)
        rows: list[object] = []
        for o in outcomes:
            done = None if o.state is DeliveryState.PENDING else at
            # A 2xx acknowledges the event, but a 202: the receiver will say when it is done.
            ok = o.state is DeliveryState.DELIVERED and o.status != ACCEPTED
            rows += [o.delivery_id, o.state.value, _micros(o.next_at), o.status, o.error, done]
            rows.append(at if ok else None)
        # Typed in the first row: PostgreSQL takes a VALUES column's type from it.
        typed = (
            "(CAST(? AS BIGINT), CAST(? AS VARCHAR(16)), CAST(? AS BIGINT), CAST(? AS INTEGER),"
            " CAST(? AS VARCHAR(200)), CAST(? AS BIGINT), CAST(? AS BIGINT))"
        )
        values = ", ".join([typed] * len(outcomes))
        kept = self._c.execute(
            "WITH v (id, state, next_at, status, error, done_at, acknowledged_at)"
            f" AS (VALUES {values})"
            " UPDATE webhook_deliveries SET state = v.state, attempts = attempts + 1,"
            " next_at = COALESCE(v.next_at, webhook_deliveries.next_at),"
            " last_status = v.status, last_error = v.error, last_attempt_at = ?,"
            " done_at = v.done_at, lease_owner = NULL, lease_until = NULL,"
            " acknowledged_at = COALESCE(webhook_deliveries.acknowledged_at, v.acknowledged_at)"
            " FROM v WHERE webhook_deliveries.id = v.id AND webhook_deliveries.lease_owner = ?"
            " RETURNING webhook_deliveries.id",
            (*rows, at, owner),
        ).fetchall()
        return {int(r[0]) for r in kept}

    def count_endpoint_outcomes(self, endpoint_id: str, reset: bool, failures: int) -> int:
        """Start the endpoint's run of failures again (`reset`) or not, then add `failures`;
        the run, or 0 for an endpoint already disabled (or gone)."""
        if reset and not failures:  # the usual outcome: the row is written only to end a run
            self._c.execute(
                "UPDATE webhook_endpoints SET failure_run = 0 WHERE id = ? AND failure_run <> 0",
                (endpoint_id,),
            )
            return 0
        # The disabled test is made here, not in RETURNING: SQLite 3.40 returns a CASE over the
        # row's columns wrong there.
        row = self._c.execute(
            "UPDATE webhook_endpoints SET failure_run = CASE WHEN ? THEN 0"
            " ELSE failure_run END + ? WHERE id = ? RETURNING failure_run, disabled_at",
            (reset, failures, endpoint_id),
        ).fetchone()
        return 0 if row is None or row[1] is not None else int(row[0])

    def get_delivery(self, delivery_id: int) -> Delivery | None:
        row = self._c.execute(
            f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE id = ?", (delivery_id,)
        ).fetchone()
        return None if row is None else _delivery(row)

    def list_deliveries(
        self,
        endpoint_id: str | None,
        state: DeliveryState | None,
        before_id: int,
        limit: int,
    ) -> list[Delivery]:
        """The newest first, below `before_id` (a page's cursor)."""
        where, params = ["id < ?"], list[object]([before_id])
        if endpoint_id is not None:
            where.append("endpoint_id = ?")
            params.append(endpoint_id)
        if state is not None:
            where.append("state = ?")
            params.append(state.value)
        rows = self._c.execute(
            f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE {' AND '.join(where)}"
            " ORDER BY id DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [_delivery(r) for r in rows]

    def replay_deliveries(self, ids: Sequence[int], now: datetime) -> int:
        """Send again at once, with a full schedule of attempts; how many."""
        self._c.executemany(
            "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_at = ?,"
            " done_at = NULL, lease_owner = NULL, lease_until = NULL WHERE id = ?",
            [(to_micros(now), i) for i in ids],
        )
        return len(ids)

    def failed_since(self, since: datetime, endpoint_id: str | None) -> list[int]:
        where, params = "state = 'failed' AND done_at >= ?", list[object]([to_micros(since)])
        if endpoint_id is not None:
            where += " AND endpoint_id = ?"
            params.append(endpoint_id)
        rows = self._c.execute(
            f"SELECT id FROM webhook_deliveries WHERE {where} ORDER BY seq", params
        ).fetchall()
        return [int(r[0]) for r in rows]

    # ---- the operator's alerts -------------------------------------------------------------
    def insert_alert(
        self,
        endpoint_id: str,
        now: datetime,
        reason: str,
        last_status: int | None,
        last_error: str | None,
    ) -> None:
        self._c.execute(
            "INSERT INTO webhook_alerts (endpoint_id, at, reason, last_status, last_error)"
            " VALUES (?, ?, ?, ?, ?)",
            (endpoint_id, to_micros(now), reason, last_status, last_error),
        )

    def close_alerts(self, endpoint_id: str, now: datetime) -> int:
        cur = self._c.execute(
            "UPDATE webhook_alerts SET closed_at = ? WHERE endpoint_id = ? AND closed_at IS NULL",
            (to_micros(now), endpoint_id),
        )
        return int(cur.rowcount)

    def list_alerts(self, open_only: bool, before_id: int, limit: int) -> list[Alert]:
        rows = self._c.execute(
            f"SELECT {_ALERT} FROM webhook_alerts WHERE id < ?"
            f"{' AND closed_at IS NULL' if open_only else ''} ORDER BY id DESC LIMIT ?",
            (before_id, limit),
        ).fetchall()
        return [_alert(r) for r in rows]

    def count_open_alerts(self) -> int:
        row = self._c.execute(
            "SELECT COUNT(*) FROM webhook_alerts WHERE closed_at IS NULL"
        ).fetchone()
        return int(row[0])
