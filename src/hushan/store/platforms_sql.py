"""The SQL of linked platforms: the registry, the users' links, which platform may see which
event (by `hushan.domain.platforms`), acknowledgements and the sync rate; shared by every
backend."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hushan.clock import from_micros, to_micros
from hushan.domain.events import Event, EventType, pair_key
from hushan.domain.notices import NoticeGrade
from hushan.domain.platforms import (
    PURGES,
    AssetPolicy,
    PermissionPolicy,
    Platform,
    UnbindCase,
    Viewer,
    may_see,
)

if TYPE_CHECKING:
    from hushan.store.sql import Connection

_PLATFORM = "id, name, endpoint_id, asset_policy, permission_policy, created_at"
_PURGE_TYPES = ", ".join(f"'{t.value}'" for t in sorted(PURGES))
_CASE = "id, user_id, platform_id, seq, pair_key, type, opened_at, done_at"


def _platform(r: Sequence[Any]) -> Platform:
    return Platform(r[0], r[1], r[2], AssetPolicy(r[3]), PermissionPolicy(r[4]), from_micros(r[5]))


def _case(r: Sequence[Any]) -> UnbindCase:
    return UnbindCase(
        id=int(r[0]),
        user_id=r[1],
        platform_id=r[2],
        seq=int(r[3]),
        pair_key=r[4],
        event_type=EventType(r[5]),
        opened_at=from_micros(r[6]),
        done_at=None if r[7] is None else from_micros(r[7]),
    )


def _had_linked(links: dict[str, dict[str, int]], user: str, platform_id: str, at: int) -> bool:
    """Whether the user had linked the platform by `at` (micros), as `_links_of` found."""
    linked_at = links.get(user, {}).get(platform_id)
    return linked_at is not None and linked_at <= at


class PlatformsSql:
    """Mixed into `SqlTx`."""

    _c: Connection

    def insert_platform(self, platform: Platform) -> None:
        self._c.execute(
            f"INSERT INTO platforms ({_PLATFORM}) VALUES (?, ?, ?, ?, ?, ?)",
            (
                platform.id,
                platform.name,
                platform.endpoint_id,
                platform.asset_policy.value,
                platform.permission_policy.value,
                to_micros(platform.created_at),
            ),
        )
        self._c.execute(
            "UPDATE webhook_endpoints SET platform_id = ? WHERE id = ?",
            (platform.id, platform.endpoint_id),
        )

    def get_platform(self, platform_id: str) -> Platform | None:
        row = self._c.execute(
            f"SELECT {_PLATFORM} FROM platforms WHERE id = ?", (platform_id,)
        ).fetchone()
        return None if row is None else _platform(row)

    def list_platforms(self) -> list[Platform]:
        return [
            _platform(r) for r in self._c.execute(f"SELECT {_PLATFORM} FROM platforms ORDER BY id")
        ]

    def set_link(self, user_id: str, platform_id: str, linked: bool, now: datetime) -> bool:
        """Link or unlink; False if it already was so."""
        if linked:
            cur = self._c.execute(
                "INSERT INTO platform_links (user_id, platform_id, linked_at) VALUES (?, ?, ?)"
                " ON CONFLICT (user_id, platform_id) DO NOTHING",
                (user_id, platform_id, to_micros(now)),
            )
        else:
            cur = self._c.execute(
                "DELETE FROM platform_links WHERE user_id = ? AND platform_id = ?",
                (user_id, platform_id),
            )
        return int(cur.rowcount) == 1

    def linked_platforms(self, user_id: str) -> list[Platform]:
        rows = self._c.execute(
            f"SELECT {', '.join('p.' + c for c in _PLATFORM.split(', '))} FROM platforms AS p"
            " JOIN platform_links AS l ON l.platform_id = p.id WHERE l.user_id = ? ORDER BY p.id",
            (user_id,),
        )
        return [_platform(r) for r in rows]

    # ---- the relay's filter ----------------------------------------------------------------
    def _links_of(self, users: Iterable[str]) -> dict[str, dict[str, int]]:
        """The platforms each of the users linked, and when (micros)."""
        wanted = sorted(set(users))
        found: dict[str, dict[str, int]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = self._c.execute(
                "SELECT user_id, platform_id, linked_at FROM platform_links"
                f" WHERE user_id IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            for user_id, platform_id, linked_at in rows:
                found.setdefault(user_id, {})[platform_id] = int(linked_at)
        return found

    def _grade_of_removal(self, remover: str, removed: str) -> NoticeGrade:
        row = self._c.execute(
            "SELECT grade FROM removals WHERE remover_id = ? AND removed_id = ?",
            (remover, removed),
        ).fetchone()
        return NoticeGrade.SILENT if row is None else NoticeGrade(row[0])

    def _platform_sees(
        self, event: Event, platform_id: str, links: dict[str, dict[str, int]]
    ) -> bool:
        """Whether a user who had linked the platform when the event happened may see it."""
        at = to_micros(event.at)
        for user in {event.user_a, event.user_b}:
            if not _had_linked(links, user, platform_id, at):
                continue
            viewer = Viewer.ACTOR if user == event.actor else Viewer.OTHER
            graded = viewer is Viewer.OTHER and event.type is EventType.CONTACT_REMOVED
            grade = self._grade_of_removal(event.actor, user) if graded else NoticeGrade.SILENT
            if may_see(event.type, viewer, grade):
                return True
        return False

    def _open_unbind_cases(
        self,
        events: Sequence[Event],
        platforms: Sequence[tuple[str, int]],
        links: dict[str, dict[str, int]],
        now: datetime,
    ) -> None:
        """With the relay's deliveries: a case for each user of a purging event's pair who had
        linked a `manual_unbind` platform by then (`platforms`: each platform endpoint's
        platform and the last `seq` before it). Every side sees a purging event (`PURGES` are
        all `SEEN_BY_BOTH`), so each linking user's platform got it."""
        manual = {
            r[0]
            for r in self._c.execute(
                "SELECT id FROM platforms WHERE asset_policy = ?",
                (AssetPolicy.MANUAL_UNBIND.value,),
            )
        }
        rows = [
            (user, platform_id, e.seq, pair_key(e.user_a, e.user_b), e.type.value, to_micros(now))
            for e in events
            if e.type in PURGES
            for platform_id, after_seq in platforms
            if platform_id in manual and e.seq > after_seq
            for user in sorted({e.user_a, e.user_b})
            if _had_linked(links, user, platform_id, to_micros(e.at))
        ]
        self._c.executemany(
            "INSERT INTO platform_cases (user_id, platform_id, seq, pair_key, type, opened_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (platform_id, seq, user_id) DO NOTHING",
            rows,
        )

    def list_unbind_cases(
        self,
        platform_id: str | None,
        user_id: str | None,
        open_only: bool,
        before_id: int,
        limit: int,
    ) -> list[UnbindCase]:
        where, params = ["id < ?"], list[object]([before_id])
        if platform_id is not None:
            where.append("platform_id = ?")
            params.append(platform_id)
        if user_id is not None:
            where.append("user_id = ?")
            params.append(user_id)
        if open_only:
            where.append("done_at IS NULL")
        rows = self._c.execute(
            f"SELECT {_CASE} FROM platform_cases WHERE {' AND '.join(where)}"
            " ORDER BY id DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [_case(r) for r in rows]

    def close_unbind_case(self, platform_id: str, case_id: int, now: datetime) -> bool | None:
        row = self._c.execute(
            "SELECT done_at, seq FROM platform_cases WHERE id = ? AND platform_id = ?",
            (case_id, platform_id),
        ).fetchone()
        if row is None:
            return None
        if row[0] is not None:
            return False
        at = to_micros(now)
        self._c.execute("UPDATE platform_cases SET done_at = ? WHERE id = ?", (at, case_id))
        # Done is more than received: the event's delivery is acknowledged with it.
        self._c.execute(
            "UPDATE webhook_deliveries SET acknowledged_at = COALESCE(acknowledged_at, ?)"
            " WHERE seq = ? AND endpoint_id = (SELECT endpoint_id FROM platforms WHERE id = ?)",
            (at, row[1], platform_id),
        )
        return True

    # ---- acknowledgements and the sync rate ---------------------------------------------------
    def acknowledge_delivery(self, platform_id: str, delivery_id: int, now: datetime) -> bool:
        """The platform says it finished with the delivery's event; False if the delivery is
        not the platform's."""
        cur = self._c.execute(
            "UPDATE webhook_deliveries SET acknowledged_at = COALESCE(acknowledged_at, ?)"
            " WHERE id = ? AND endpoint_id = (SELECT endpoint_id FROM platforms WHERE id = ?)",
            (to_micros(now), delivery_id, platform_id),
        )
        return int(cur.rowcount) == 1

    def unacknowledged_purges(self, user_id: str) -> dict[str, set[str]]:
        """Per pair key, the platforms the user linked that have not acknowledged an event
        that purges the pair's data."""
        rows = self._c.execute(
            "SELECT DISTINCT d.pair_key, p.id FROM webhook_deliveries AS d"
            " JOIN platforms AS p ON p.endpoint_id = d.endpoint_id"
            " JOIN platform_links AS l ON l.platform_id = p.id AND l.user_id = ?"
            " JOIN outbox AS o ON o.seq = d.seq"
            f" WHERE d.acknowledged_at IS NULL AND o.type IN ({_PURGE_TYPES})",
            (user_id,),
        )
        found: dict[str, set[str]] = {}
        for key, platform_id in rows:
            found.setdefault(key, set()).add(platform_id)
        return found

    def acknowledgement_lags(self, platform_id: str, since: datetime) -> tuple[int, list[float]]:
        """Events emitted to the platform since `since`, and the seconds from each event to
        its acknowledgement, for those acknowledged."""
        rows = self._c.execute(
            "SELECT d.acknowledged_at, o.at FROM webhook_deliveries AS d"
            " JOIN outbox AS o ON o.seq = d.seq"
            " WHERE d.endpoint_id = (SELECT endpoint_id FROM platforms WHERE id = ?)"
            " AND o.at >= ?",
            (platform_id, to_micros(since)),
        ).fetchall()
        lags = sorted((r[0] - r[1]) / 1e6 for r in rows if r[0] is not None)
        return len(rows), lags
