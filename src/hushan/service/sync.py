"""Devices, the sync feed and the data residue report (`hushan.domain.sync`), as engine
calls."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hushan.domain import sync
from hushan.domain.errors import DeviceNotFound, UserNotFound
from hushan.domain.events import pair_key
from hushan.domain.model import HistoryState, Message
from hushan.domain.platforms import UnbindCase
from hushan.domain.sync import Change, ChangeKind, ChangesPage, Device
from hushan.service.engine import NO_ID_ABOVE, EngineCore
from hushan.store.base import FROM_START, NO_LIMIT, StoredChange, Tx


@dataclass(frozen=True, slots=True)
class Residue:
    """Where one of the user's histories is, and when it will be gone (the data residue)."""

    other: str
    conversation_id: int
    state: HistoryState
    purge_at: datetime | None
    key_destroyed_at: datetime | None
    rows_purged_at: datetime | None
    # Devices that may still hold a copy: any device while the history lives; once purged,
    # those that have not yet acknowledged its purge instruction.
    devices_with_copies: list[str]
    # Platforms the user linked that have not acknowledged purging the pair's data.
    platforms_pending: list[str] = field(default_factory=list)
    # Open cases of assets the user must unbind by hand on a `manual_unbind` platform, each
    # until that platform says it is done.
    unbind_cases: list[UnbindCase] = field(default_factory=list)
    # Whether a legal hold keeps the history from its purge (it is not gone, whatever its
    # state says to the two), and, where the deployment discloses them, each hold's reason
    # and case reference.
    legal_hold: bool = False
    hold_reasons: list[HoldReason] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class HoldReason:
    reason: str
    case_ref: str


CHANGES_PRUNED_PER_ROUND = 1000


class SyncService(EngineCore):
    """Devices, their feed of changes and cursors, and where a user's histories still are."""

    def register_device(self, actor: str, name: str) -> Device:
        """A new device; its cursor starts at the feed's head (it fetches the current state,
        contacts and conversations, by the usual calls, then follows the feed)."""
        sync.check_device_name(name)
        now = self.clock.now()
        with self.store.write(actor) as tx:
            if tx.get_user(actor) is None:
                raise UserNotFound()
            sync.check_device_room(len(tx.devices(actor)), self.limits.max_devices)
            head, _ = tx.change_bounds(actor)
            device = Device(secrets.token_hex(8), actor, name, head, now)
            tx.insert_device(device)
        return device

    def devices(
        self, actor: str, after: tuple[datetime, str] = FROM_START, limit: int = NO_LIMIT
    ) -> list[Device]:
        with self.store.read() as tx:
            return tx.devices(actor, after, limit)

    def remove_device(self, actor: str, device_id: str) -> None:
        with self.store.write(actor) as tx:
            if not tx.delete_device(actor, device_id):
                raise DeviceNotFound()

    def device_changes(
        self, actor: str, device_id: str, after: int | None = None, limit: int = 100
    ) -> ChangesPage:
        """The changes after `after` (default: the device's acknowledged cursor), in order.
        A message of a conversation purged since is skipped: its content went with its key."""
        with self.store.read() as tx:
            device = self._device(tx, actor, device_id)
            start = device.cursor if after is None else after
            head, oldest = tx.change_bounds(actor)
            sync.check_cursor(start, head, oldest)
            stored = tx.changes_after(actor, start, limit)
            keys: dict[int, AESGCM | None] = {}
            changes: list[Change] = []
            for found in stored:
                message = None
                if found.kind is ChangeKind.MESSAGE:
                    message = self._readable(tx, keys, found)
                    if message is None:
                        continue  # purged since: nothing of it is served
                elif found.kind is ChangeKind.GONE:
                    continue
                changes.append(
                    Change(
                        found.seq,
                        found.kind,
                        found.at,
                        found.other,
                        found.conversation_id,
                        message,
                        found.detail,
                    )
                )
        next_cursor = stored[-1].seq if stored else start
        return ChangesPage(start, changes, next_cursor, more=next_cursor < head)

    def _readable(
        self, tx: Tx, keys: dict[int, AESGCM | None], found: StoredChange
    ) -> Message | None:
        """A message change's message, opened with its conversation's key (looked up once per
        page); None once the message or the key is gone with a purge."""
        stored, conversation_id, lo = found.message, found.conversation_id, found.lo
        if stored is None or conversation_id is None or lo is None:
            return None
        if conversation_id not in keys:
            wrapped = tx.wrapped_key(conversation_id, lo)
            keys[conversation_id] = (
                None if wrapped is None else self.sealer.unwrap(wrapped, conversation_id)
            )
        key = keys[conversation_id]
        if key is None:
            return None
        body = self.sealer.open(key, conversation_id, stored.sealed)
        return Message(
            stored.id, conversation_id, stored.sender_id, body, found.at, stored.client_msg_id
        )

    def acknowledge(self, actor: str, device_id: str, cursor: int) -> Device:
        """The device has applied every change up to `cursor`; its cursor never moves back."""
        with self.store.write(actor) as tx:
            self._device(tx, actor, device_id)
            head, _ = tx.change_bounds(actor)
            sync.check_cursor(cursor, head, oldest=None)  # an old cursor may still be acked
            tx.acknowledge(actor, device_id, cursor, self.clock.now())
            return self._device(tx, actor, device_id)

    def feed_head(self, actor: str) -> int:
        with self.store.read() as tx:
            return tx.change_bounds(actor)[0]

    def data_residue(self, actor: str) -> list[Residue]:
        """For each history the actor has had with someone: its state, when it goes, and which
        of their devices may still hold a copy."""
        with self.store.read() as tx:
            if tx.get_user(actor) is None:
                raise UserNotFound()
            conversations = tx.user_conversations(actor)
            devices = tx.devices(actor)
            purge_seqs = tx.purge_seqs(actor)
            _, oldest = tx.change_bounds(actor)
            unacknowledged = tx.unacknowledged_purges(actor)
            held = tx.holds_covering(
                [c for c in conversations if c.state is not HistoryState.PURGED]
            )
            disclosed: dict[str, HoldReason] = {}
            if self.limits.hold_disclose_reason:
                for hold_id in sorted({h for ids in held.values() for h in ids}):
                    hold = tx.get_hold(hold_id)
                    if hold is not None:
                        disclosed[hold_id] = HoldReason(hold.reason, hold.case_ref)
            cases: dict[str, list[UnbindCase]] = {}
            for case in tx.list_unbind_cases(None, actor, True, NO_ID_ABOVE, NO_LIMIT):
                cases.setdefault(case.pair_key, []).append(case)
        found = []
        for conversation in conversations:
            if conversation.state is HistoryState.PURGED:
                # Without its instruction (dropped with age) only an expired device is left.
                seq = purge_seqs.get(conversation.id, (oldest or 1) - 1)
                holding = [d.id for d in devices if d.cursor < seq]
            else:
                holding = [d.id for d in devices]
            other = conversation.user_hi if conversation.user_lo == actor else conversation.user_lo
            found.append(
                Residue(
                    other,
                    conversation.id,
                    conversation.state,
                    conversation.purge_at,
                    conversation.key_destroyed_at,
                    conversation.rows_purged_at,
                    holding,
                    sorted(unacknowledged.get(pair_key(actor, other), ())),
                    sorted(cases.get(pair_key(actor, other), []), key=lambda c: c.id),
                    conversation.id in held,
                    [disclosed[h] for h in held.get(conversation.id, ()) if h in disclosed],
                )
            )
        return found

    def prune_changes(self) -> int:
        """Drop feed changes past their retention (never a user's newest), in batches."""
        before = self.clock.now() - timedelta(seconds=self.limits.change_retention_seconds)
        pruned = 0
        while True:
            # No user's lock: pruning never touches the newest change a writer numbers from.
            with self.store.write() as tx:
                gone = tx.prune_changes(before, CHANGES_PRUNED_PER_ROUND)
            pruned += gone
            if gone < CHANGES_PRUNED_PER_ROUND:
                return pruned

    @staticmethod
    def _device(tx: Tx, actor: str, device_id: str) -> Device:
        device = tx.device(actor, device_id)
        if device is None:
            raise DeviceNotFound()
        return device
