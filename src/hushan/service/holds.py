"""Legal holds as engine calls: placed, listed and released by an admin, ended by the sweep
when they expire (hushan.domain.holds). Each write takes the locks of the users it names, the
same locks the purge takes for a pair: a hold and a purge of one history never interleave.

Every change of whether a pair's history is held is audited, in the transparency log, with
the system as its actor (the admin acts for the deployment): `legal_hold_placed` when a hold
comes to cover a pair that has a history left, `purge_deferred_legal_hold` when it keeps one
from its purge (hushan.purge), `legal_hold_released` when no live hold covers the pair any
longer. The reason and the case reference stay out of the log and the audit detail.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from hushan.domain import holds
from hushan.domain.errors import HistoryAlreadyPurged, HoldNotFound, UserNotFound
from hushan.domain.holds import HoldEnd, LegalHold
from hushan.domain.model import AuditAction, HistoryState
from hushan.purge import Purger, audit_pair
from hushan.service.engine import EngineCore
from hushan.store.base import FROM_START, NO_LIMIT, Tx

HOLDS_EXPIRED_PER_SWEEP = 64


class HoldsService(EngineCore):
    def place_hold(
        self,
        user: str,
        other: str | None,
        reason: str,
        case_ref: str,
        expires_at: datetime | None = None,
    ) -> LegalHold:
        """A hold on `user`, or on the pair (`user`, `other`). A pair whose history was
        already purged is refused (`history_already_purged`): there is nothing to keep."""
        now = self.clock.now()
        hold_id = holds.HOLD_ID_PREFIX + secrets.token_hex(12)
        hold = holds.new_hold(hold_id, user, other, reason, case_ref, now, expires_at)
        named = [hold.user] if hold.other is None else [hold.user, hold.other]
        # The named users' locks: every change of a pair of theirs takes them too (a user may
        # have thousands of partners, more locks than a PostgreSQL transaction may take).
        with self.store.write(*named) as tx:
            for name in named:
                if tx.get_user(name) is None:
                    raise UserNotFound(f"No such user: {name!r}.")
            if hold.other is None:
                conversations = tx.user_conversations(hold.user)
            else:
                latest = tx.pair_facts(hold.user, hold.other).conversation
                if latest is not None and latest.state is HistoryState.PURGED:
                    raise HistoryAlreadyPurged()
                conversations = tx.pair_conversations(hold.user, hold.other)
            tx.insert_hold(hold)
            pairs = {c.pair for c in conversations if c.state is not HistoryState.PURGED}
            for lo, hi in sorted(pairs):
                if not tx.pair_marked_held(lo, hi):
                    tx.mark_pair_held(lo, hi, True)
                    self._audit_hold(tx, now, AuditAction.LEGAL_HOLD_PLACED, lo, hi, hold)
        return hold

    def get_hold(self, hold_id: str) -> LegalHold:
        with self.store.read() as tx:
            hold = tx.get_hold(hold_id)
        if hold is None:
            raise HoldNotFound()
        return hold

    def list_holds(
        self,
        after: tuple[datetime, str] = FROM_START,
        limit: int = NO_LIMIT,
        live_only: bool = False,
    ) -> list[LegalHold]:
        """Holds in the order they were placed; `live_only` leaves out those ended."""
        with self.store.read() as tx:
            return tx.list_holds(after, limit, live_only)

    def release_hold(self, hold_id: str) -> LegalHold:
        """End the hold; each pair no other live hold covers is logged released, and its
        histories are purged by the next sweep where due."""
        return self._end_hold(self.get_hold(hold_id), HoldEnd.RELEASED)

    def expire_holds(self) -> int:
        """End the live holds whose expiry has passed (the sweep's part, before the purge)."""
        ended = 0
        while True:
            with self.store.read() as tx:
                due = tx.expired_holds(self.clock.now(), HOLDS_EXPIRED_PER_SWEEP)
            for hold in due:
                if self._end_hold(hold, HoldEnd.EXPIRED, quiet=True).ended_how is HoldEnd.EXPIRED:
                    ended += 1
            if len(due) < HOLDS_EXPIRED_PER_SWEEP:
                return ended

    def _end_hold(self, hold: LegalHold, how: HoldEnd, quiet: bool = False) -> LegalHold:
        """Under the locks of the users the hold names only: every change of a pair it covers
        takes them too (or, for an erased account's pair, only the sweep changes it, and it
        finds the history again once this commits). A user may have thousands of partners:
        more locks than one PostgreSQL transaction may take."""
        named = [hold.user] if hold.other is None else [hold.user, hold.other]
        now = self.clock.now()
        with self.store.write(*named) as tx:
            found = tx.get_hold(hold.id)
            if found is None:
                raise HoldNotFound()
            if not found.live and quiet:
                return found  # ended by someone else meanwhile
            holds.check_releasable(found)
            tx.end_hold(found.id, now, how)
            for lo, hi in tx.marked_pairs_of(found):
                if not tx.pair_held(lo, hi):
                    tx.mark_pair_held(lo, hi, False)
                    self._audit_hold(tx, now, AuditAction.LEGAL_HOLD_RELEASED, lo, hi, found)
            # An erased account's id is kept only while the hold needs it.
            gone = {name: "erased:" + secrets.token_hex(16) for name in named}
            for name in named:
                if tx.get_user(name) is not None or tx.erasure_pending(name):
                    del gone[name]
            if gone:
                tx.rename_hold_users(found.id, gone)
            ended = tx.get_hold(found.id)
        assert ended is not None
        return ended

    @staticmethod
    def _audit_hold(
        tx: Tx, now: datetime, action: AuditAction, lo: str, hi: str, hold: LegalHold
    ) -> None:
        audit_pair(tx, now, Purger.SYSTEM_ACTOR, action, lo, hi, f"hold={hold.id}")
