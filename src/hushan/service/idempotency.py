"""Idempotency keys, as engine calls: the record of a key is written in the transaction of the
write it answers for (hushan.store.held), so that a write is committed if and only if its key
is; hushan.api.idempotency is the HTTP side."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hushan.domain.errors import Busy, IdempotencyKeyReused
from hushan.service.engine import EngineCore
from hushan.store.base import StoredReply, Tx
from hushan.store.held import Hold

KEYS_PRUNED_PER_ROUND = 1000


@dataclass(frozen=True, slots=True)
class Claim:
    """A caller's key and the fingerprint of the request that carries it."""

    caller: str
    key: str
    fingerprint: bytes


class Replay(Exception):  # noqa: N818 - not an error: the reply to send again
    """The key was used before with the same request: its first reply."""

    def __init__(self, reply: StoredReply) -> None:
        super().__init__("replay")
        self.reply = reply


class IdempotencyService(EngineCore):
    def keep_reply(self, hold: Hold, claim: Claim, reply: StoredReply | None) -> None:
        """Commit the held write (`hold`: a plain `Hold()`) with its reply; roll it back when
        there is none to keep. The key is looked up only here, as its record is written, not
        before the write: a retry is rare, and a lookup first costs every keyed write one more
        trip to the database. A live record of the key (a retry of a request that was done, or
        one kept meanwhile by another process) rolls the write back too, and ends the call as
        `_known` says: `Replay` of the first reply, or `idempotency_key_reused`. A hold that
        wrote nothing has its reply kept as `record_reply` keeps it."""
        if reply is None:
            hold.finish(None)
            return
        if not hold.holding:
            self.record_reply(claim, reply)
            return
        now = self.clock.now()

        def last(tx: Tx) -> None:
            if tx.put_idempotent_reply(claim.caller, claim.key, reply, now, now + self._ttl):
                return
            # Raised here, the write is rolled back. The row the insert met is seen: SQLite's
            # writes go one at a time, and PostgreSQL's statements see what is committed.
            self._known(tx, claim, now)
            # Pruned meanwhile by a clock ahead: nothing was done, and a 503 is never kept.
            raise Busy()

        hold.finish(last)

    def record_reply(self, claim: Claim, reply: StoredReply) -> None:
        """Keep the reply of a request that wrote nothing (a refusal, a read): `Replay` of the
        reply kept first instead, when another request with the key got there before."""
        now = self.clock.now()
        with self.store.write() as tx:
            self._known(tx, claim, now)
            tx.put_idempotent_reply(claim.caller, claim.key, reply, now, now + self._ttl)

    def prune_idempotency(self) -> int:
        """Drop expired keys, in batches (the sweep)."""
        pruned = 0
        while True:
            with self.store.write() as tx:
                gone = tx.prune_idempotency(self.clock.now(), KEYS_PRUNED_PER_ROUND)
            pruned += gone
            if gone < KEYS_PRUNED_PER_ROUND:
                return pruned

    @property
    def _ttl(self) -> timedelta:
        return timedelta(seconds=self.limits.idempotency_ttl_seconds)

    def _known(self, tx: Tx, claim: Claim, now: datetime) -> None:
        found = tx.idempotent_reply(claim.caller, claim.key, now)
        if found is None:
            return
        if found.fingerprint != claim.fingerprint:
            raise IdempotencyKeyReused()
        raise Replay(found)
