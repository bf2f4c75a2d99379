"""The SQL of the transactional outbox, shared by every backend.

Each audit entry becomes an outbox row in the entry's own transaction, right after the entries
are numbered (`AuditSql.flush_audit`): a rolled-back change leaves neither, and the outbox
takes the entry's `seq` as its key. Entries are numbered under the lock that orders commits
(SQLite's one writer, PostgreSQL's sequence lock), so this transaction's entries are the
newest rows of the audit log when the outbox copies them, and outbox rows become visible in
`seq` order: a relay reading past its last `seq` never skips one committed late.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hushan.clock import from_micros, to_micros
from hushan.domain.events import EVENT_OF_ACTION, Event, EventType, pair_key

if TYPE_CHECKING:
    from hushan.store.sql import Connection

_TYPE_OF_ACTION = (
    "CASE action "
    + " ".join(f"WHEN '{a.value}' THEN '{t.value}'" for a, t in EVENT_OF_ACTION.items())
    + " END"
)
_EMIT = (
    "INSERT INTO outbox (seq, type, at, actor, user_a, user_b, relation, history_state)"
    f" SELECT seq, {_TYPE_OF_ACTION}, at, actor, user_a, user_b, relation, history_state"
    " FROM audit_log ORDER BY seq DESC LIMIT ?"
)
EVENT_COLUMNS = "o.seq, o.type, o.at, o.actor, o.user_a, o.user_b, o.relation, o.history_state"


def event_of(r: Sequence[Any]) -> Event:
    return Event(
        seq=int(r[0]),
        type=EventType(r[1]),
        at=from_micros(r[2]),
        actor=r[3],
        user_a=r[4],
        user_b=r[5],
        relation=r[6],
        history_state=r[7],
    )


class OutboxSql:
    """Mixed into `SqlTx`: the outbox's rows."""

    _c: Connection

    def _emit_events(self, count: int) -> None:
        """The outbox rows of the `count` audit entries this transaction just numbered."""
        self._c.execute(_EMIT, (count,))

    def outbox_after(self, seq: int, limit: int) -> list[Event]:
        rows = self._c.execute(
            f"SELECT {EVENT_COLUMNS} FROM outbox AS o WHERE o.seq > ? ORDER BY o.seq LIMIT ?",
            (seq, limit),
        ).fetchall()
        return [event_of(r) for r in rows]

    def prune_outbox(self, before: datetime, limit: int) -> int:
        """Drop up to `limit` events older than `before` that were relayed and that no
        delivery still waits for, with their finished deliveries; how many events went."""
        rows = self._c.execute(
            "SELECT o.seq FROM outbox AS o WHERE o.at < ?1"
            " AND o.seq <= (SELECT relayed_seq FROM webhook_relay WHERE id = 1)"
            " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries AS d"
            " WHERE d.seq = o.seq AND d.state = 'pending')"
            " ORDER BY o.seq LIMIT ?2",
            (to_micros(before), limit),
        ).fetchall()
        seqs = [(r[0],) for r in rows]
        self._c.executemany("DELETE FROM webhook_deliveries WHERE seq = ?", seqs)
        self._c.executemany("DELETE FROM outbox_grants WHERE seq = ?", seqs)
        self._c.executemany("DELETE FROM outbox WHERE seq = ?", seqs)
        return len(seqs)

    def _rewrite_outbox(self, updates: Sequence[tuple[str, str, str, int]]) -> None:
        """An erasure's new names (actor, user_a, user_b) for the events of the given seqs,
        and their deliveries' pair keys to match."""
        self._c.executemany(
            "UPDATE outbox SET actor = ?, user_a = ?, user_b = ? WHERE seq = ?", updates
        )
        keys = [(pair_key(a, b), seq) for _, a, b, seq in updates]
        self._c.executemany("UPDATE webhook_deliveries SET pair_key = ? WHERE seq = ?", keys)
        self._c.executemany("UPDATE platform_cases SET pair_key = ? WHERE seq = ?", keys)
