"""The engine's parts (store, keys, clock, limits, purger, log) and the lookups every part of
`hushan.service` shares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hushan.clock import Clock
from hushan.crypto import Sealer
from hushan.domain.errors import InvalidTransition, UserNotFound
from hushan.domain.model import Conversation, Message, PairFacts
from hushan.domain.notices import NoticeGrade
from hushan.domain.orgs import DeadlinePolicy
from hushan.domain.webhooks import DEFAULT_SCHEDULE, parse_schedule
from hushan.purge import Purger
from hushan.store.base import Store, StoredMessage, Tx
from hushan.tlog.log import TransparencyLog
from hushan.tlog.note import Signer


@dataclass(frozen=True, slots=True)
class Limits:
    """The contract's bracketed defaults, as one deployment set them."""

    buffer_seconds: float = 30 * 86400
    request_ttl_seconds: float = 7 * 86400
    max_friends: int = 10_000
    max_message_chars: int = 4096
    max_verification_chars: int = 200
    relation_check_max_pairs: int = 1000
    notice_minimum: NoticeGrade = NoticeGrade.SILENT  # the least disclosure of removals
    proposal_ttl_seconds: float = 48 * 3600  # a mutual-delete proposal's window
    max_group_members: int = 500
    max_devices: int = 20
    change_retention_seconds: float = 90 * 86400  # how long the sync feed keeps a change
    idempotency_ttl_seconds: float = 86400  # how long an idempotency key's reply is kept
    token_ttl_seconds: float = 30 * 86400  # a user token's life, and the longest one minted
    erasure_lease_seconds: float = 600  # an erasure's claim, renewed by each of its writes
    # whether the data residue report tells a legal hold's reason and case (else only that
    # one keeps the history: hushan.domain.holds)
    hold_disclose_reason: bool = False
    # webhooks (hushan.domain.webhooks): the delays after each failed attempt, the run of
    # failed attempts that disables an endpoint, and how long events are kept once done
    webhook_schedule: tuple[timedelta, ...] = parse_schedule(DEFAULT_SCHEDULE)
    webhook_disable_after: int = 100
    webhook_retention_seconds: float = 30 * 86400
    # organisations (hushan.domain.orgs): when an enterprise link approval is due, what the
    # deadline does to one still pending, and how long a handover waits for its customers
    enterprise_approval_hours: float = 24
    enterprise_deadline_policy: DeadlinePolicy = DeadlinePolicy.APPLY
    handover_days: float = 7
    # progressive cleanup (hushan.domain.cleanup): contacts per bulk removal or preview, and
    # how long a bulk removal can be undone
    cleanup_max_batch: int = 200
    cleanup_undo_seconds: float = 600

    @property
    def token_ttl(self) -> timedelta:
        return timedelta(seconds=self.token_ttl_seconds)


NO_ID_ABOVE = 2**62  # "before" when a page starts at the newest post


class EngineCore:
    """What every part of the engine builds on: its parts, and the lookups they share. Each
    part (a module of `hushan.service`) is a subclass; `Hushan` is all of them."""

    def __init__(
        self,
        store: Store,
        sealer: Sealer,
        signer: Signer,
        clock: Clock,
        limits: Limits | None = None,
        purge_batch_rows: int = 1000,
        backup_retention: timedelta = timedelta(days=35),
    ) -> None:
        self.store = store
        self.sealer = sealer
        self.clock = clock
        self.limits = limits or Limits()
        self.purger = Purger(store, clock, batch_rows=purge_batch_rows)
        self.log = TransparencyLog(store, signer, clock, backup_retention)

    # ---- shared lookups ---------------------------------------------------------------------
    @staticmethod
    def _facts(tx: Tx, actor: str, other: str) -> PairFacts:
        facts = tx.pair_facts(actor, other)
        if not facts.other_exists:
            raise UserNotFound(f"No such user: {other!r}.")
        return facts

    def _data_key(self, tx: Tx, conversation: Conversation) -> AESGCM:
        wrapped = tx.wrapped_key(conversation.id, conversation.user_lo)
        if wrapped is None:
            raise InvalidTransition("A live conversation without its key (a bug).")
        return self.sealer.unwrap(wrapped, conversation.id)

    def _opened(
        self, key: AESGCM, conversation_id: int, stored: Sequence[StoredMessage]
    ) -> list[Message]:
        return [
            Message(
                m.id,
                conversation_id,
                m.sender_id,
                self.sealer.open(key, conversation_id, m.sealed),
                m.created_at,
                m.client_msg_id,
            )
            for m in stored
        ]
