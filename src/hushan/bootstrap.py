"""The composition root: the API, the CLI and the tests all build the engine here.

Nothing opens a connection or reads a key at import time; `build` does it when asked.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from hushan.clock import Clock, SystemClock
from hushan.config import Settings
from hushan.crypto import KeyFileError, Sealer, load_or_create_deployment_key, private_file
from hushan.domain.webhooks import parse_schedule
from hushan.service import Hushan, Limits
from hushan.store import migrate
from hushan.store.base import Store
from hushan.store.postgres import PostgresStore
from hushan.store.sqlite import SqliteStore
from hushan.tlog.note import NoteError, Signer


def limits_from(settings: Settings) -> Limits:
    return Limits(
        buffer_seconds=settings.buffer_seconds,
        request_ttl_seconds=settings.request_ttl_seconds,
        max_friends=settings.max_friends,
        max_message_chars=settings.max_message_chars,
        max_verification_chars=settings.max_verification_chars,
        relation_check_max_pairs=settings.relation_check_max_pairs,
        notice_minimum=settings.notice_minimum,
        proposal_ttl_seconds=settings.proposal_ttl_seconds,
        max_group_members=settings.max_group_members,
        max_devices=settings.max_devices,
        change_retention_seconds=settings.change_retention_days * 86400,
        idempotency_ttl_seconds=settings.idempotency_ttl_seconds,
        token_ttl_seconds=settings.token_ttl_days * 86400,
        erasure_lease_seconds=settings.erasure_lease_seconds,
        hold_disclose_reason=settings.hold_disclose_reason,
        webhook_schedule=parse_schedule(settings.webhook_retry_schedule),
        webhook_disable_after=settings.webhook_disable_after_failures,
        webhook_retention_seconds=settings.webhook_retention_days * 86400,
        enterprise_approval_hours=settings.enterprise_approval_hours,
        enterprise_deadline_policy=settings.enterprise_deadline_policy,
        handover_days=settings.handover_days,
        cleanup_max_batch=settings.cleanup_max_batch,
        cleanup_undo_seconds=settings.cleanup_undo_seconds,
    )


def build(settings: Settings, clock: Clock | None = None) -> Hushan:
    """Migrate the database to the latest schema, load (or create) the deployment key, and
    return the engine."""
    store: Store
    if settings.is_postgres:
        store = PostgresStore(
            settings.database_url, settings.busy_timeout_seconds, settings.pool_size
        )
    else:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        store = SqliteStore(settings.sqlite_path, settings.busy_timeout_seconds)
    migrate.upgrade(settings.database_url, settings.citus)
    sealer = Sealer(load_or_create_deployment_key(settings.resolved_key_file()))
    engine = Hushan(
        store,
        sealer,
        log_signer(settings),
        clock or SystemClock(),
        limits_from(settings),
        purge_batch_rows=settings.purge_batch_rows,
        backup_retention=timedelta(days=settings.backup_retention_days),
    )
    engine.seal_plain_webhook_secrets()  # those of a database made before they were sealed
    engine.seal_plain_mini_program_keys()  # likewise, before 0019
    return engine


def log_signer(settings: Settings) -> Signer:
    """The log's Ed25519 signing key, read from (or created in) its 0600 file."""
    path = settings.resolved_log_key_file()
    text = private_file(path, lambda: str(Signer.generate(settings.log_origin)).encode())
    try:
        signer = Signer.parse(text.decode())
    except (NoteError, UnicodeDecodeError):
        raise KeyFileError(f"The log key file {path.name} does not hold a signer key.") from None
    if signer.name != settings.log_origin:
        raise KeyFileError(
            f"The log key file {path.name} signs for {signer.name!r}, but the configured"
            f" origin is {settings.log_origin!r}."
        )
    return signer


def admin_key(settings: Settings) -> str:
    """The admin key: given in the settings, or read from (or created in) its 0600 file."""
    if settings.admin_key:
        return settings.admin_key
    path = settings.resolved_admin_key_file()
    key = private_file(path, lambda: secrets.token_urlsafe(32).encode()).decode().strip()
    if not key:
        raise KeyFileError(f"The admin key file {path.name} is empty.")
    return key
