"""The SQL of linked platforms: the registry, the users' links, which platform may see which
event (by `hushan.domain.platforms`), acknowledgements and the sync rate; shared by every
backend."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hushan.clock import from_micros, to_micros
from hushan.domain.events import Event, EventType
from hushan.domain.notices import NoticeGrade
from hushan.domain.platforms import (
    PURGES,
    AssetPolicy,
    PermissionPolicy,
    Platform,
    Viewer,
    may_see,
)

if TYPE_CHECKING:
    from hushan.store.sql import Connection

_PLATFORM = "id, name, endpoint_id, asset_policy, permission_policy, created_at"
_PURGE_TYPES = ", ".join(f"'{t.value}'" for t in sorted(PURGES))


def _platform(r: Sequence[Any]) -> Platform:
    return Platform(r[0], r[1], r[2], AssetPolicy(r[3]), PermissionPolicy(r[4]), from_micros(r[5]))


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
            linked_at = links.get(user, {}).get(platform_id)
            if linked_at is None or linked_at > at:
                continue
            viewer = Viewer.ACTOR if user == event.actor else Viewer.OTHER
            graded = viewer is Viewer.OTHER and event.type is EventType.CONTACT_REMOVED
            grade = self._grade_of_removal(event.actor, user) if graded else NoticeGrade.SILENT
            if may_see(event.type, viewer, grade):
                return True
        return False

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
