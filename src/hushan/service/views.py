"""Server-side views (Rule 8): relation checks, a pair's whole record, the audit log, and the
work the sweep has yet to do."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from hushan.domain import rules
from hushan.domain.errors import UserNotFound
from hushan.domain.model import AuditEntry, Conversation, PairStatus
from hushan.purge import SweepReport
from hushan.service.engine import EngineCore
from hushan.store.base import SweepRun

# Sweep runs kept for the operator console: at the default minute's interval, over an hour.
SWEEP_RUNS_KEPT = 100
NEWEST = 2**63 - 1  # above every audit seq: a backwards read from the newest


@dataclass(frozen=True, slots=True)
class PairInspection:
    status: PairStatus
    conversation: Conversation | None
    key_present: bool


@dataclass(frozen=True, slots=True)
class Backlog:
    """What is due and not yet done: the operator's console reads it (/metrics counts it too)."""

    keys_due: int  # buffered histories past their purge date, keys not yet destroyed
    rows_left: int  # histories whose key is destroyed and whose rows are not yet deleted
    oldest_due: datetime | None  # the earliest of those dates
    log_lag: int  # audit entries not yet in the transparency log
    erasures_waiting: list[str]  # erasures no worker holds a claim on, oldest first
    sweeps: list[SweepRun]  # the sweep's last runs, newest first


class ViewsService(EngineCore):
    """What the server side (an operator, the app's backend) may see of pairs."""

    def relation_check(self, pairs: list[tuple[str, str]]) -> list[PairStatus]:
        rules.check_pair_batch(len(pairs), self.limits.relation_check_max_pairs)
        with self.store.read() as tx:
            return tx.pair_statuses(pairs)

    def inspect_pair(self, a: str, b: str) -> PairInspection:
        with self.store.read() as tx:
            for user_id in (a, b):
                if tx.get_user(user_id) is None:
                    raise UserNotFound(f"No such user: {user_id!r}.")
            (status,) = tx.pair_statuses([(a, b)])
            conversation = tx.pair_facts(a, b).conversation
            key_present = (
                conversation is not None
                and tx.wrapped_key(conversation.id, conversation.user_lo) is not None
            )
        return PairInspection(status, conversation, key_present)

    def backlog(self, erasures: int = 100, sweeps_shown: int = 20) -> Backlog:
        """The purge backlog, the log's integration lag, up to `erasures` waiting erasures and
        the sweep's last `sweeps_shown` runs, in one read."""
        now = self.clock.now()
        with self.store.read() as tx:
            keys, rows, oldest = tx.purge_backlog(now)
            lag = tx.log_integration_lag()
            waiting = tx.pending_erasures(now, erasures)
            sweeps = tx.last_sweeps(sweeps_shown)
        return Backlog(keys, rows, oldest, lag, waiting, sweeps)

    def record_sweep(self, started: datetime, report: SweepReport) -> None:
        """Keep a finished sweep's run (its report's counts), and the newest SWEEP_RUNS_KEPT."""
        run = SweepRun(started, self.clock.now(), dataclasses.asdict(report))
        with self.store.write() as tx:
            tx.record_sweep(run, SWEEP_RUNS_KEPT)

    def audit_log(self, after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]:
        with self.store.read() as tx:
            return tx.audit_entries(after_seq, limit)

    def recent_audit(self, before_seq: int | None, limit: int) -> list[AuditEntry]:
        """The audit log read backwards, for an operator's eyes: up to `limit` entries
        before `before_seq` (None: the newest), the newest first."""
        with self.store.read() as tx:
            return tx.audit_entries_before(NEWEST if before_seq is None else before_seq, limit)
