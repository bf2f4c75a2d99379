"""The SQL of the health figures (/metrics and /readyz), shared by every backend."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from hushan.clock import from_micros, to_micros
from hushan.store.base import SweepRun

if TYPE_CHECKING:
    from hushan.store.sql import Connection


class HealthSql:
    _c: Connection

    def purge_backlog(self, now: datetime) -> tuple[int, int, datetime | None]:
        (keys, oldest) = self._c.execute(
            "SELECT COUNT(*), MIN(purge_at) FROM conversations"
            " WHERE state = 'buffered' AND purge_at <= ?",
            (to_micros(now),),
        ).fetchone()
        (rows, oldest_rows) = self._c.execute(
            "SELECT COUNT(*), MIN(key_destroyed_at) FROM conversations"
            " WHERE state = 'purged' AND rows_purged_at IS NULL",
        ).fetchone()
        due = [m for m in (oldest, oldest_rows) if m is not None]
        return int(keys), int(rows), from_micros(min(due)) if due else None

    def log_integration_lag(self) -> int:
        (lag,) = self._c.execute(
            "SELECT COUNT(*) FROM audit_log WHERE seq >"
            " COALESCE((SELECT seq FROM log_leaves ORDER BY idx DESC LIMIT 1), 0)"
        ).fetchone()
        return int(lag)

    def schema_revision(self) -> str | None:
        row = self._c.execute("SELECT version_num FROM alembic_version").fetchone()
        return None if row is None else str(row[0])

    def record_sweep(self, run: SweepRun, keep: int) -> None:
        self._c.execute(
            "INSERT INTO sweep_runs (started_at, finished_at, report) VALUES (?, ?, ?)",
            (to_micros(run.started_at), to_micros(run.finished_at), json.dumps(run.report)),
        )
        self._c.execute(
            "DELETE FROM sweep_runs WHERE id <= (SELECT MAX(id) FROM sweep_runs) - ?", (keep,)
        )

    def last_sweeps(self, limit: int) -> list[SweepRun]:
        rows = self._c.execute(
            "SELECT started_at, finished_at, report FROM sweep_runs ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [SweepRun(from_micros(r[0]), from_micros(r[1]), json.loads(r[2])) for r in rows]
