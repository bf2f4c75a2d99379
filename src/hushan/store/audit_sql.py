"""The SQL of the audit log: entries are kept in the transaction and numbered as late as they
can be, right before commit (see `SqlTx`); shared by every backend."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from hushan.acting import current_credential
from hushan.clock import from_micros, to_micros
from hushan.domain.model import AuditAction, AuditEntry, HistoryState, PairRelation

if TYPE_CHECKING:
    from hushan.store.sql import Connection

_AUDIT_READ = (
    "seq, at, actor, action, user_a, user_b, relation, history_state, detail, credential_id"
)


def _audit_entry(r: Sequence[Any]) -> AuditEntry:
    return AuditEntry(
        seq=r[0],
        at=from_micros(r[1]),
        actor=r[2],
        action=AuditAction(r[3]),
        user_a=r[4],
        user_b=r[5],
        relation=PairRelation(r[6]),
        history_state=None if r[7] is None else HistoryState(r[7]),
        detail=r[8],
        credential=r[9],
    )


AUDIT_COLUMNS = "at, actor, action, user_a, user_b, relation, history_state, detail, credential_id"
AUDIT_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"


def nothing() -> None:
    """The `before_sequencing` of a backend that has no lock to take there."""


class AuditSql:
    _c: Connection
    _audit: list[tuple[Any, ...]]
    _before_sequencing: Callable[[], None]

    _emit_events: Callable[[int], None]  # see `OutboxSql`
    _emit_revocations: Callable[[], None]  # see `MiniProgramsSql`

    def _sequence(self) -> None:
        """Called before audit entries are numbered (see `SqlTx`)."""
        self._before_sequencing()
        self._before_sequencing = nothing

    def flush_audit(self) -> None:
        """Number and store the audit entries appended so far; the store calls this just
        before it commits, so an entry's `seq` is taken as late as it can be."""
        if self._audit:
            count = len(self._audit)
            self._insert_audit(self._audit)
            self._audit = []
            self._emit_events(count)  # the same transaction, under the same numbering lock
            self._emit_revocations()

    def _insert_audit(self, rows: list[tuple[Any, ...]]) -> None:
        self._sequence()
        self._c.executemany(f"INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES {AUDIT_ROW}", rows)

    def append_audit(self, entry: AuditEntry) -> None:
        self._audit.append(
            (
                to_micros(entry.at),
                entry.actor,
                entry.action.value,
                entry.user_a,
                entry.user_b,
                entry.relation.value,
                None if entry.history_state is None else entry.history_state.value,
                entry.detail,
                # The one place every entry passes: the credential of the call is read here.
                entry.credential or current_credential(),
            )
        )

    def audit_entries(self, after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]:
        self.flush_audit()  # this transaction's own entries included
        rows = self._c.execute(
            f"SELECT {_AUDIT_READ} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        ).fetchall()
        return [_audit_entry(r) for r in rows]

    def audit_entries_before(self, before_seq: int, limit: int) -> list[AuditEntry]:
        self.flush_audit()
        rows = self._c.execute(
            f"SELECT {_AUDIT_READ} FROM audit_log WHERE seq < ? ORDER BY seq DESC LIMIT ?",
            (before_seq, limit),
        ).fetchall()
        return [_audit_entry(r) for r in rows]

    def audit_entries_of(self, user_id: str) -> list[AuditEntry]:
        self.flush_audit()
        rows = self._c.execute(
            f"SELECT {_AUDIT_READ} FROM audit_log WHERE actor = ?1 OR user_a = ?1 OR user_b = ?1"
            " ORDER BY seq",
            (user_id,),
        ).fetchall()
        return [_audit_entry(r) for r in rows]
