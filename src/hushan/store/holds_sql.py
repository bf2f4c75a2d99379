"""The SQL of legal holds (`hushan.store.holds_tx`), shared by every backend."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hushan.clock import from_micros, to_micros
from hushan.domain.holds import HoldEnd, LegalHold
from hushan.domain.model import Conversation

if TYPE_CHECKING:
    from hushan.store.sql import Connection

_HOLD_COLUMNS = "id, user_lo, user_hi, reason, case_ref, placed_at, expires_at, ended_at, ended_how"
# The live holds `h` that name the conversation `c`, each way an equality on an index: a hold
# on its first user, on its second, or on the pair (a hold's user is in `user_lo`).
_NAMING = (
    "h.user_lo = c.user_lo AND h.user_hi IS NULL",
    "h.user_lo = c.user_hi AND h.user_hi IS NULL",
    "h.user_lo = c.user_lo AND h.user_hi = c.user_hi",
)
# Whether a live hold covers the conversation `c` (by its users, or pinned to it).
HELD = (
    "("
    + " OR ".join(
        f"EXISTS (SELECT 1 FROM legal_holds AS h WHERE {way} AND h.ended_at IS NULL)"
        for way in _NAMING
    )
    + " OR EXISTS (SELECT 1 FROM legal_hold_pins AS p JOIN legal_holds AS h ON h.id = p.hold_id"
    " WHERE p.conversation_id = c.id AND h.ended_at IS NULL))"
)


def _time(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def _hold(r: Sequence[Any]) -> LegalHold:
    return LegalHold(
        id=r[0],
        user=r[1],
        other=r[2],
        reason=r[3],
        case_ref=r[4],
        placed_at=from_micros(r[5]),
        expires_at=_time(r[6]),
        ended_at=_time(r[7]),
        ended_how=None if r[8] is None else HoldEnd(r[8]),
    )


class HoldsSql:
    _c: Connection

    def insert_hold(self, hold: LegalHold) -> None:
        self._c.execute(
            f"INSERT INTO legal_holds ({_HOLD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
            (
                hold.id,
                hold.user,
                hold.other,
                hold.reason,
                hold.case_ref,
                to_micros(hold.placed_at),
                None if hold.expires_at is None else to_micros(hold.expires_at),
            ),
        )

    def get_hold(self, hold_id: str) -> LegalHold | None:
        row = self._c.execute(
            f"SELECT {_HOLD_COLUMNS} FROM legal_holds WHERE id = ?", (hold_id,)
        ).fetchone()
        return None if row is None else _hold(row)

    def list_holds(
        self, after: tuple[datetime, str], limit: int, live_only: bool = False
    ) -> list[LegalHold]:
        live = " AND ended_at IS NULL" if live_only else ""
        rows = self._c.execute(
            f"SELECT {_HOLD_COLUMNS} FROM legal_holds"
            f" WHERE (placed_at > ?1 OR (placed_at = ?1 AND id > ?2)){live}"
            " ORDER BY placed_at, id LIMIT ?3",
            (to_micros(after[0]), after[1], limit),
        ).fetchall()
        return [_hold(r) for r in rows]

    def end_hold(self, hold_id: str, now: datetime, how: HoldEnd) -> bool:
        cur = self._c.execute(
            "UPDATE legal_holds SET ended_at = ?, ended_how = ? WHERE id = ? AND ended_at IS NULL",
            (to_micros(now), how.value, hold_id),
        )
        return int(cur.rowcount) == 1

    def rename_hold_users(self, hold_id: str, names: dict[str, str]) -> None:
        for old, new in names.items():
            for column in ("user_lo", "user_hi"):
                self._c.execute(
                    f"UPDATE legal_holds SET {column} = ? WHERE id = ? AND {column} = ?",
                    (new, hold_id, old),
                )

    def expired_holds(self, now: datetime, limit: int) -> list[LegalHold]:
        rows = self._c.execute(
            f"SELECT {_HOLD_COLUMNS} FROM legal_holds"
            " WHERE ended_at IS NULL AND expires_at <= ? ORDER BY expires_at, id LIMIT ?",
            (to_micros(now), limit),
        ).fetchall()
        return [_hold(r) for r in rows]

    def holds_covering(self, conversations: Sequence[Conversation]) -> dict[int, list[str]]:
        if not conversations:
            return {}
        ids = [c.id for c in conversations]
        marks = ", ".join("?" * len(ids))
        named = " UNION ".join(
            "SELECT c.id, h.id FROM conversations AS c JOIN legal_holds AS h"
            f" ON {way} AND h.ended_at IS NULL WHERE c.id IN ({marks})"
            for way in _NAMING
        )
        rows = self._c.execute(
            f"{named} UNION SELECT p.conversation_id, p.hold_id FROM legal_hold_pins AS p"
            " JOIN legal_holds AS h ON h.id = p.hold_id"
            f" WHERE h.ended_at IS NULL AND p.conversation_id IN ({marks})"
            " ORDER BY 1, 2",
            (*ids * (len(_NAMING) + 1),),
        ).fetchall()
        found: dict[int, list[str]] = {}
        for conversation_id, hold_id in rows:
            found.setdefault(int(conversation_id), []).append(hold_id)
        return found

    def pair_held(self, lo: str, hi: str) -> bool:
        row = self._c.execute(
            "SELECT 1 FROM legal_holds AS h WHERE h.ended_at IS NULL"
            " AND ((h.user_hi IS NULL AND h.user_lo IN (?1, ?2))"
            " OR (h.user_lo = ?1 AND h.user_hi = ?2))"
            " UNION ALL SELECT 1 FROM conversations AS c"
            " JOIN legal_hold_pins AS p ON p.conversation_id = c.id"
            " JOIN legal_holds AS h ON h.id = p.hold_id"
            " WHERE c.user_lo = ?1 AND c.user_hi = ?2 AND h.ended_at IS NULL LIMIT 1",
            (lo, hi),
        ).fetchone()
        return row is not None

    def pin_holds(self, conversation_id: int, hold_ids: Sequence[str]) -> None:
        for hold_id in hold_ids:
            self._c.execute(
                "INSERT INTO legal_hold_pins (conversation_id, hold_id) VALUES (?, ?)"
                " ON CONFLICT DO NOTHING",
                (conversation_id, hold_id),
            )

    def defer_purge(self, conversation_id: int, now: datetime) -> None:
        self._c.execute(
            "UPDATE conversations SET hold_deferred_at = ? WHERE id = ?",
            (to_micros(now), conversation_id),
        )

    def seal_conversation(self, conversation_id: int, now: datetime) -> None:
        self._c.execute(
            "UPDATE conversations SET state = 'buffered', purge_at = ?1, block_deleted = TRUE,"
            " hold_deferred_at = ?1 WHERE id = ?2",
            (to_micros(now), conversation_id),
        )

    def pair_marked_held(self, lo: str, hi: str) -> bool:
        row = self._c.execute(
            "SELECT 1 FROM legal_hold_pairs WHERE user_lo = ? AND user_hi = ?", (lo, hi)
        ).fetchone()
        return row is not None

    def mark_pair_held(self, lo: str, hi: str, held: bool) -> None:
        if held:
            self._c.execute(
                "INSERT INTO legal_hold_pairs (user_lo, user_hi) VALUES (?, ?)"
                " ON CONFLICT DO NOTHING",
                (lo, hi),
            )
        else:
            self._c.execute(
                "DELETE FROM legal_hold_pairs WHERE user_lo = ? AND user_hi = ?", (lo, hi)
            )

    def marked_pairs_of(self, hold: LegalHold) -> list[tuple[str, str]]:
        if hold.other is None:
            named = (
                "SELECT user_lo, user_hi FROM legal_hold_pairs WHERE user_lo = ?1 OR user_hi = ?1"
            )
            params: tuple[Any, ...] = (hold.user, hold.id)
        else:
            named = (
                "SELECT user_lo, user_hi FROM legal_hold_pairs WHERE user_lo = ?1 AND user_hi = ?3"
            )
            params = (hold.user, hold.id, hold.other)
        rows = self._c.execute(
            f"{named} UNION SELECT m.user_lo, m.user_hi FROM legal_hold_pairs AS m"
            " JOIN conversations AS c ON c.user_lo = m.user_lo AND c.user_hi = m.user_hi"
            " JOIN legal_hold_pins AS p ON p.conversation_id = c.id WHERE p.hold_id = ?2"
            " ORDER BY 1, 2",
            params,
        ).fetchall()
        return [(r[0], r[1]) for r in rows]
