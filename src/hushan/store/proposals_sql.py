"""The SQL of consensual mutual delete (`hushan.domain.proposals`), shared by every backend."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from hushan.clock import from_micros, to_micros
from hushan.domain.proposals import Proposal, ProposalStatus
from hushan.store.base import NO_LIMIT

if TYPE_CHECKING:
    from hushan.store.sql import Connection

_COLUMNS = (
    "id, proposer_id, other_id, message, remove_anyway, status, created_at, expires_at,"
    " swallowed, spent"
)


def _proposal(row: Any) -> Proposal:
    return Proposal(
        id=int(row[0]),
        proposer=row[1],
        other=row[2],
        message=row[3],
        remove_anyway=bool(row[4]),
        status=ProposalStatus(row[5]),
        created_at=from_micros(row[6]),
        expires_at=from_micros(row[7]),
        swallowed=bool(row[8]),
        spent=bool(row[9]),
    )


class ProposalsSql:
    """Mixed into `SqlTx`: mutual-delete proposals."""

    _c: Connection

    def insert_proposal(
        self,
        proposer: str,
        other: str,
        message: str,
        remove_anyway: bool,
        now: datetime,
        expires_at: datetime,
        swallowed: bool,
    ) -> int:
        flags = (remove_anyway, swallowed)
        row = self._c.execute(
            "INSERT INTO proposals (proposer_id, other_id, message, remove_anyway, swallowed,"
            " status, created_at, expires_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)"
            " RETURNING id",
            (proposer, other, message, *flags, to_micros(now), to_micros(expires_at)),
        ).fetchone()
        return int(row[0])

    def pending_proposal(self, proposer: str, other: str) -> Proposal | None:
        row = self._c.execute(
            f"SELECT {_COLUMNS} FROM proposals"
            " WHERE proposer_id = ? AND other_id = ? AND status = 'pending'",
            (proposer, other),
        ).fetchone()
        return None if row is None else _proposal(row)

    def mark_proposal_spent(self, proposer: str, other: str) -> None:
        self._c.execute(
            "UPDATE proposals SET spent = TRUE"
            " WHERE proposer_id = ? AND other_id = ? AND status = 'pending'",
            (proposer, other),
        )

    def decide_proposal(self, proposal_id: int, status: ProposalStatus, now: datetime) -> None:
        self._c.execute(
            "UPDATE proposals SET status = ?, decided_at = ? WHERE id = ? AND status = 'pending'",
            (status.value, to_micros(now), proposal_id),
        )

    def live_proposals(
        self,
        user_id: str,
        incoming: bool,
        now: datetime,
        after_id: int = 0,
        limit: int = NO_LIMIT,
    ) -> list[Proposal]:
        side = "other_id = ? AND NOT swallowed" if incoming else "proposer_id = ?"
        rows = self._c.execute(
            f"SELECT {_COLUMNS} FROM proposals WHERE {side} AND status = 'pending'"
            " AND expires_at > ? AND id > ? ORDER BY id LIMIT ?",
            (user_id, to_micros(now), after_id, limit),
        ).fetchall()
        return [_proposal(r) for r in rows]

    def due_proposals(self, now: datetime, limit: int) -> list[Proposal]:
        rows = self._c.execute(
            f"SELECT {_COLUMNS} FROM proposals WHERE status = 'pending' AND expires_at <= ?"
            " ORDER BY id LIMIT ?",
            (to_micros(now), limit),
        ).fetchall()
        return [_proposal(r) for r in rows]
