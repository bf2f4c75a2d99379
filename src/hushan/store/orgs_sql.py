"""The SQL of organisations (`hushan.domain.orgs`), shared by every backend."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hushan.clock import from_micros, to_micros
from hushan.domain.model import ordered
from hushan.domain.notices import NoticeKind
from hushan.domain.orgs import (
    AdminRole,
    Approval,
    ApprovalState,
    Handover,
    HandoverItem,
    ItemState,
    Member,
    Org,
    OrgAdmin,
)

if TYPE_CHECKING:
    from hushan.store.sql import Connection

ERASED = "erased"  # an erased administrator, where a record keeps that one acted
_APPROVAL = "id, org_id, user_lo, user_hi, state, opened_at, due_at, decided_at, decided_by"
_HANDOVER = "id, org_id, member, started_by, started_at, ends_at, ended_at"
_ITEM = "customer, successor, open_conversation, state, decided_at"


def _micros(value: Any) -> datetime | None:
    return None if value is None else from_micros(value)


def _approval(r: Any) -> Approval:
    return Approval(
        int(r[0]),
        r[1],
        r[2],
        r[3],
        ApprovalState(r[4]),
        from_micros(r[5]),
        from_micros(r[6]),
        _micros(r[7]),
        r[8],
    )


def _handover(r: Any, items: Sequence[Any] = ()) -> Handover:
    return Handover(
        int(r[0]),
        r[1],
        r[2],
        r[3],
        from_micros(r[4]),
        from_micros(r[5]),
        _micros(r[6]),
        tuple(HandoverItem(i[0], i[1], bool(i[2]), ItemState(i[3]), _micros(i[4])) for i in items),
    )


class OrgsSql:
    """Mixed into `SqlTx`: organisations, their directory, approvals and handovers."""

    _c: Connection

    def insert_org(self, org_id: str, name: str, now: datetime) -> bool:
        cur = self._c.execute(
            "INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (org_id, name, to_micros(now)),
        )
        return int(cur.rowcount) == 1

    def get_org(self, org_id: str) -> Org | None:
        row = self._c.execute(
            "SELECT id, name, created_at FROM orgs WHERE id = ?", (org_id,)
        ).fetchone()
        return None if row is None else Org(row[0], row[1], from_micros(row[2]))

    def set_org_admin(self, org_id: str, user_id: str, role: AdminRole, now: datetime) -> bool:
        cur = self._c.execute(
            "INSERT INTO org_admins (org_id, user_id, role, since) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role"
            " WHERE org_admins.role <> excluded.role",
            (org_id, user_id, role.value, to_micros(now)),
        )
        return int(cur.rowcount) == 1

    def remove_org_admin(self, org_id: str, user_id: str) -> bool:
        cur = self._c.execute(
            "DELETE FROM org_admins WHERE org_id = ? AND user_id = ?", (org_id, user_id)
        )
        return int(cur.rowcount) == 1

    def org_admins(self, org_id: str) -> dict[str, AdminRole]:
        rows = self._c.execute(
            "SELECT user_id, role FROM org_admins WHERE org_id = ?", (org_id,)
        ).fetchall()
        return {r[0]: AdminRole(r[1]) for r in rows}

    def list_org_admins(self, org_id: str) -> list[OrgAdmin]:
        rows = self._c.execute(
            "SELECT user_id, role, since FROM org_admins WHERE org_id = ? ORDER BY user_id",
            (org_id,),
        ).fetchall()
        return [OrgAdmin(r[0], AdminRole(r[1]), from_micros(r[2])) for r in rows]

    def add_org_member(self, org_id: str, user_id: str, work_id: str, now: datetime) -> bool:
        cur = self._c.execute(
            "INSERT INTO org_members (org_id, user_id, work_id, since) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (org_id, user_id) DO NOTHING",
            (org_id, user_id, work_id, to_micros(now)),
        )
        return int(cur.rowcount) == 1

    def remove_org_member(self, org_id: str, user_id: str) -> bool:
        cur = self._c.execute(
            "DELETE FROM org_members WHERE org_id = ? AND user_id = ?", (org_id, user_id)
        )
        return int(cur.rowcount) == 1

    def member_by_work_id(self, org_id: str, work_id: str) -> str | None:
        row = self._c.execute(
            "SELECT user_id FROM org_members WHERE org_id = ? AND work_id = ?", (org_id, work_id)
        ).fetchone()
        return None if row is None else str(row[0])

    def org_members(self, org_id: str) -> dict[str, Member]:
        rows = self._c.execute(
            "SELECT user_id, work_id, since FROM org_members WHERE org_id = ? ORDER BY user_id",
            (org_id,),
        ).fetchall()
        return {r[0]: Member(r[0], r[1], from_micros(r[2])) for r in rows}

    def shared_orgs(self, a: str, b: str) -> list[str]:
        rows = self._c.execute(
            "SELECT x.org_id FROM org_members AS x JOIN org_members AS y"
            " ON y.org_id = x.org_id AND y.user_id = ? WHERE x.user_id = ? ORDER BY x.org_id",
            (b, a),
        ).fetchall()
        return [r[0] for r in rows]

    def directory(self, org_id: str, viewer: str, after: str, limit: int) -> list[Member]:
        rows = self._c.execute(
            "SELECT m.user_id, m.work_id, m.since FROM org_members AS m"
            " WHERE m.org_id = ? AND m.user_id <> ? AND NOT EXISTS (SELECT 1 FROM org_hidden AS h"
            "  WHERE h.org_id = m.org_id AND ((h.user_lo = ? AND h.user_hi = m.user_id)"
            "   OR (h.user_hi = ? AND h.user_lo = m.user_id)))"
            " AND m.work_id > ? ORDER BY m.work_id LIMIT ?",
            (org_id, viewer, viewer, viewer, after, limit),
        ).fetchall()
        return [Member(r[0], r[1], from_micros(r[2])) for r in rows]

    def hide_pair(self, org_id: str, a: str, b: str, now: datetime) -> None:
        lo, hi = ordered(a, b)
        self._c.execute(
            "INSERT INTO org_hidden (org_id, user_lo, user_hi, since) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (org_id, user_lo, user_hi) DO NOTHING",
            (org_id, lo, hi, to_micros(now)),
        )

    def leave_orgs(self, user_id: str) -> None:
        for table in ("org_members", "org_admins"):
            self._c.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
        # The pairs the user was one of are gone, with their approvals and hidden rows; the
        # user's handovers (as the member, a customer or a successor) go; where they acted as
        # an administrator, the record keeps that someone did, not who.
        for table in ("org_approvals", "org_hidden"):
            self._c.execute(f"DELETE FROM {table} WHERE user_lo = ?1 OR user_hi = ?1", (user_id,))
        # What the user's handovers told their customers and successors named the user as the
        # departing member: the offers' notices and the requests that acceptances sent.
        self._c.execute(
            "UPDATE notices SET detail = replace(detail, ?2, ?3) WHERE kind = ?4 AND user_id IN"
            " (SELECT i.customer FROM handover_items AS i"
            " JOIN handovers AS h ON h.id = i.handover_id WHERE h.member = ?1)",
            (user_id, f" from={user_id} ", f" from={ERASED} ", NoticeKind.HANDOVER_OFFERED.value),
        )
        self._unname_in_handover_requests(user_id)
        self._c.execute(
            "DELETE FROM handover_items WHERE customer = ?1 OR successor = ?1"
            " OR handover_id IN (SELECT id FROM handovers WHERE member = ?1)",
            (user_id,),
        )
        self._c.execute("DELETE FROM handovers WHERE member = ?", (user_id,))
        self._c.execute(
            "UPDATE org_approvals SET decided_by = ? WHERE decided_by = ?", (ERASED, user_id)
        )
        self._c.execute(
            "UPDATE handovers SET started_by = ? WHERE started_by = ?", (ERASED, user_id)
        )

    def _unname_in_handover_requests(self, user_id: str) -> None:
        """The requests that the user's handovers sent their customers' successors."""
        self._c.execute(
            "UPDATE friend_requests SET message = replace(message, ?2, ?3) WHERE EXISTS"
            " (SELECT 1 FROM handover_items AS i JOIN handovers AS h ON h.id = i.handover_id"
            " WHERE h.member = ?1 AND i.customer = friend_requests.from_id"
            " AND i.successor = friend_requests.to_id)",
            (user_id, f" {user_id} ", f" {ERASED} "),
        )

    def insert_approval(self, org_id: str, a: str, b: str, now: datetime, due_at: datetime) -> int:
        lo, hi = ordered(a, b)
        row = self._c.execute(
            "INSERT INTO org_approvals (org_id, user_lo, user_hi, state, opened_at, due_at)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (org_id, lo, hi, ApprovalState.PENDING.value, to_micros(now), to_micros(due_at)),
        ).fetchone()
        return int(row[0])

    def get_approval(self, approval_id: int) -> Approval | None:
        row = self._c.execute(
            f"SELECT {_APPROVAL} FROM org_approvals WHERE id = ?", (approval_id,)
        ).fetchone()
        return None if row is None else _approval(row)

    def pair_approval(self, org_id: str, a: str, b: str) -> Approval | None:
        lo, hi = ordered(a, b)
        row = self._c.execute(
            f"SELECT {_APPROVAL} FROM org_approvals WHERE user_lo = ? AND user_hi = ?"
            " AND org_id = ? ORDER BY id DESC LIMIT 1",
            (lo, hi, org_id),
        ).fetchone()
        return None if row is None else _approval(row)

    def set_approval(
        self, approval_id: int, state: ApprovalState, now: datetime, by: str | None
    ) -> None:
        self._c.execute(
            "UPDATE org_approvals SET state = ?, decided_at = ?, decided_by = ? WHERE id = ?",
            (state.value, to_micros(now), by, approval_id),
        )

    def approvals(
        self,
        org_id: str,
        states: Sequence[ApprovalState],
        after_id: int,
        limit: int,
    ) -> list[Approval]:
        marks = ", ".join("?" * len(states))
        rows = self._c.execute(
            f"SELECT {_APPROVAL} FROM org_approvals WHERE org_id = ? AND id > ?"
            f" AND state IN ({marks}) ORDER BY id LIMIT ?",
            (org_id, after_id, *(s.value for s in states), limit),
        ).fetchall()
        return [_approval(r) for r in rows]

    def due_approvals(self, now: datetime, limit: int) -> list[Approval]:
        rows = self._c.execute(
            f"SELECT {_APPROVAL} FROM org_approvals WHERE state = ? AND due_at <= ?"
            " ORDER BY due_at, id LIMIT ?",
            (ApprovalState.PENDING.value, to_micros(now), limit),
        ).fetchall()
        return [_approval(r) for r in rows]

    def insert_handover(
        self,
        org_id: str,
        member: str,
        by: str,
        now: datetime,
        ends_at: datetime,
        items: Sequence[tuple[str, str, bool]],
    ) -> int:
        row = self._c.execute(
            "INSERT INTO handovers (org_id, member, started_by, started_at, ends_at)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (org_id, member, by, to_micros(now), to_micros(ends_at)),
        ).fetchone()
        handover_id = int(row[0])
        if items:
            self._c.executemany(
                f"INSERT INTO handover_items (handover_id, {_ITEM}) VALUES (?, ?, ?, ?, ?, NULL)",
                [
                    (handover_id, customer, successor, open_, ItemState.OFFERED.value)
                    for customer, successor, open_ in items
                ],
            )
        return handover_id

    def _items(self, handover_id: int) -> list[Any]:
        return self._c.execute(
            f"SELECT {_ITEM} FROM handover_items WHERE handover_id = ? ORDER BY customer",
            (handover_id,),
        ).fetchall()

    def get_handover(self, handover_id: int) -> Handover | None:
        row = self._c.execute(
            f"SELECT {_HANDOVER} FROM handovers WHERE id = ?", (handover_id,)
        ).fetchone()
        return None if row is None else _handover(row, self._items(handover_id))

    def open_handover(self, org_id: str, member: str) -> Handover | None:
        row = self._c.execute(
            f"SELECT {_HANDOVER} FROM handovers WHERE org_id = ? AND member = ?"
            " AND ended_at IS NULL ORDER BY id DESC LIMIT 1",
            (org_id, member),
        ).fetchone()
        return None if row is None else _handover(row, self._items(int(row[0])))

    def successor_handover(self, org_id: str, successor: str, now: datetime) -> Handover | None:
        row = self._c.execute(
            f"SELECT {', '.join('h.' + c for c in _HANDOVER.split(', '))}"
            " FROM handovers AS h WHERE h.org_id = ? AND h.ended_at IS NULL AND h.ends_at > ?"
            " AND EXISTS"
            " (SELECT 1 FROM handover_items AS i WHERE i.handover_id = h.id"
            "  AND i.successor = ? AND i.state = ?) ORDER BY h.id LIMIT 1",
            (org_id, to_micros(now), successor, ItemState.OFFERED.value),
        ).fetchone()
        return None if row is None else _handover(row, self._items(int(row[0])))

    def set_item(self, handover_id: int, customer: str, state: ItemState, now: datetime) -> None:
        self._c.execute(
            "UPDATE handover_items SET state = ?, decided_at = ?"
            " WHERE handover_id = ? AND customer = ?",
            (state.value, to_micros(now), handover_id, customer),
        )

    def end_handover(self, handover_id: int, now: datetime) -> None:
        self._c.execute(
            "UPDATE handovers SET ended_at = ? WHERE id = ?", (to_micros(now), handover_id)
        )

    def due_handovers(self, now: datetime, limit: int) -> list[Handover]:
        rows = self._c.execute(
            f"SELECT {_HANDOVER} FROM handovers WHERE ended_at IS NULL AND ends_at <= ?"
            " ORDER BY ends_at, id LIMIT ?",
            (to_micros(now), limit),
        ).fetchall()
        return [_handover(r) for r in rows]

    def customer_handovers(self, customer: str, after_id: int, limit: int) -> list[Handover]:
        rows = self._c.execute(
            f"SELECT {', '.join('h.' + c for c in _HANDOVER.split(', '))},"
            f" {', '.join('i.' + c for c in _ITEM.split(', '))}"
            " FROM handover_items AS i JOIN handovers AS h ON h.id = i.handover_id"
            " WHERE i.customer = ? AND i.handover_id > ? ORDER BY i.handover_id LIMIT ?",
            (customer, after_id, limit),
        ).fetchall()
        return [_handover(r[:7], [r[7:]]) for r in rows]
