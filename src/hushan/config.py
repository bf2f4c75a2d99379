"""Deployment settings, read from HUSHAN_* environment variables. Defaults are the contract's."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hushan.domain.notices import NoticeGrade
from hushan.domain.orgs import DeadlinePolicy
from hushan.domain.webhooks import DEFAULT_SCHEDULE
from hushan.store.postgres_pool import SPARE_CONNECTIONS

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")
# A rate limit: QUOTA/SECONDS (a bucket of QUOTA tokens refilled over SECONDS), or off.
RATE = r"^(off|[1-9][0-9]*/[0-9]+(\.[0-9]+)?)$"
# A retry schedule: seconds, comma-separated, one at least.
SCHEDULE = r"^[0-9]+(\.[0-9]+)?(,[0-9]+(\.[0-9]+)?)*$"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUSHAN_", frozen=True)

    database_url: str = Field(
        "sqlite:///hushan.db",
        description="sqlite:///PATH (default ./hushan.db) or postgresql://USER@HOST:PORT/DB.",
    )
    citus: bool = Field(
        False,
        description="The database is a Citus coordinator's: the migrations distribute the schema.",
    )
    key_file: Path | None = Field(
        None, description="Deployment key file; default: the database path + '.key'."
    )
    admin_key_file: Path | None = Field(
        None, description="Admin key file; default: the database path + '.admin-key'."
    )
    admin_key: str | None = Field(
        None, description="Admin key given directly (overrides admin_key_file)."
    )
    buffer_seconds: float = Field(30 * 86400, gt=0, description="Mutual-delete buffer (Rule 4).")
    request_ttl_seconds: float = Field(7 * 86400, gt=0, description="Friend request expiry.")
    sweep_interval_seconds: float = Field(60, gt=0, description="Purge sweep period (Rule 5).")
    purge_batch_rows: int = Field(1000, ge=1, description="Message rows deleted per transaction.")
    max_friends: int = Field(10_000, ge=1, description="Friend limit per user (Rule 1).")
    max_message_chars: int = Field(4096, ge=1, description="Longest message body.")
    max_verification_chars: int = Field(200, ge=0, description="Longest verification message.")
    relation_check_max_pairs: int = Field(1000, ge=1, description="Pairs per relation check.")
    proposal_ttl_seconds: float = Field(
        48 * 3600, gt=0, description="How long a mutual-delete proposal waits for an answer."
    )
    max_group_members: int = Field(500, ge=2, description="Most members of a group.")
    max_devices: int = Field(20, ge=1, description="Most sync devices per user.")
    change_retention_days: float = Field(
        90, gt=0, description="How long the device sync feed keeps a change."
    )
    token_ttl_days: float = Field(
        30, gt=0, description="A user token's lifetime, and the longest a credential mints."
    )
    notice_minimum: NoticeGrade = Field(
        NoticeGrade.SILENT, description="The least a user's removals are disclosed (notices)."
    )
    test_clock: bool = Field(False, description="Let the admin move the clock forward (tests).")
    log_origin: str = Field(
        "hushan.local/log",
        pattern=r"^[^\s+]+$",
        description="The transparency log's origin, also its signing key's name.",
    )
    log_key_file: Path | None = Field(
        None, description="Log signing key (Ed25519); default: the database path + '.log-key'."
    )
    max_body_bytes: int = Field(
        64 * 1024, ge=1, description="Largest request body; larger ones get 413 body_too_large."
    )
    backup_retention_days: float = Field(
        35, gt=0, description="How long backups are kept; stated in deletion certificates."
    )
    # ---- serving: rate limits and observability (hushan.api.limits, hushan.api.observe) ----
    rate_enabled: bool = Field(True, description="Rate limits on (false: every limit off).")
    rate_reads: str = Field(
        "1200/60", pattern=RATE, description="GETs per token: QUOTA/SECONDS or off."
    )
    rate_writes: str = Field(
        "600/60", pattern=RATE, description="Other methods per token (admin key exempt)."
    )
    rate_friend_requests: str = Field(
        "200/86400", pattern=RATE, description="Friend requests per token."
    )
    rate_relation_checks: str = Field(
        "1200/60", pattern=RATE, description="Relation checks per token."
    )
    rate_address_reads: str = Field(
        "60000/60", pattern=RATE, description="GETs per client address."
    )
    rate_address_writes: str = Field(
        "30000/60", pattern=RATE, description="Other methods per address."
    )
    rate_abuse_window_seconds: int = Field(
        3600, ge=60, le=86400, description="The window of the abuse report (refusal ratios)."
    )
    rate_key_prefix: str = Field("hushan:", description="Prefix of hushan's keys in Redis.")
    redis_url: str | None = Field(
        None, description="redis://HOST:PORT/DB: rate limits shared by every API process."
    )
    metrics_token: str | None = Field(
        None, description="A bearer that may read /metrics (the admin key always may)."
    )
    access_log: bool = Field(True, description="One log line per request.")
    log_format: Literal["text", "json"] = Field("text", description="Log lines: text or JSON.")

    idempotency_ttl_seconds: float = Field(
        86400, gt=0, description="How long an Idempotency-Key's first reply is replayed."
    )
    busy_timeout_seconds: float = Field(
        5, gt=0, description="How long a write waits for a lock before answering 503 busy."
    )
    engine_threads: int = Field(8, ge=1, le=256, description="Threads that run engine calls.")
    database_pool_size: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="Most PostgreSQL connections per process; default: engine threads + 2.",
    )
    erasures_in_worker: bool | None = Field(
        None,
        description="Erasure jobs run in `hushan worker` (true) or in the API process (false);"
        " default: in the worker `serve` starts, in the API with `serve --no-sweep`.",
    )
    erasure_lease_seconds: float = Field(
        600, gt=0, description="How long an erasure's claim holds unless renewed by its writes."
    )
    hold_disclose_reason: bool = Field(
        False,
        description="The data residue report gives a legal hold's reason and case reference"
        " (false: only that a hold keeps the history).",
    )
    webhook_retry_schedule: str = Field(
        DEFAULT_SCHEDULE,
        pattern=SCHEDULE,
        description="Seconds before each retry of a failed webhook delivery, comma-separated"
        " (the first attempt is at once); after the last, the delivery is failed.",
    )
    webhook_disable_after_failures: int = Field(
        100, ge=1, description="Failed attempts in a row that disable a webhook endpoint."
    )
    enterprise_approval_hours: float = Field(
        24, gt=0, description="When an enterprise link approval (a directory change) is due."
    )
    enterprise_deadline_policy: DeadlinePolicy = Field(
        DeadlinePolicy.APPLY,
        description="What the deadline does to an approval still pending: apply or escalate.",
    )
    handover_days: float = Field(
        7, gt=0, description="How long a handover waits for its customers' answers."
    )
    cleanup_max_batch: int = Field(
        200, ge=1, le=1000, description="Contacts per bulk removal or its preview (cleanup)."
    )
    cleanup_undo_seconds: float = Field(
        600, gt=0, description="How long a bulk removal can be undone (cleanup)."
    )
    witnesses: str = Field(
        "",
        description="Witnesses the worker asks to cosign each new checkpoint: 'URL KEY' entries"
        " separated by ';' (KEY: the witness's public key, name+id+base64).",
    )
    witness_timeout_seconds: float = Field(
        10, gt=0, le=120, description="How long one cosigning request waits for its witness."
    )
    webhook_timeout_seconds: float = Field(
        5, gt=0, le=60, description="How long one webhook attempt waits for its answer."
    )
    webhook_threads: int = Field(
        8,
        ge=1,
        le=64,
        description="Attempts one worker makes at once; also the most events a receiver can get"
        " twice when the worker is killed.",
    )
    webhook_batch: int = Field(
        100, ge=1, le=1000, description="Deliveries one worker claims at a time."
    )
    webhook_lease_slack_seconds: float = Field(
        30,
        gt=0,
        le=3600,
        description="Added to a claim's longest run for its lease: how long a killed worker's"
        " deliveries wait before another worker may send them.",
    )
    webhook_retention_days: float = Field(
        30, gt=0, description="How long finished deliveries and their events are kept."
    )
    max_pending_calls: int = Field(
        256, ge=1, description="Engine calls that may wait for a thread before 503 busy."
    )

    @field_validator("witnesses")
    @classmethod
    def _witnesses_parse(cls, text: str) -> str:
        from hushan.witnessing import parse_witnesses  # the tlog's modules, only when set

        if text.strip():
            parse_witnesses(text)  # a wrong entry fails the start, naming it
        return text

    @property
    def pool_size(self) -> int:
        """PostgreSQL connections per process: one per engine thread, and the spare ones the
        sweep and health checks take, unless set."""
        return self.database_pool_size or self.engine_threads + SPARE_CONNECTIONS

    @property
    def buffer(self) -> timedelta:
        return timedelta(seconds=self.buffer_seconds)

    @property
    def request_ttl(self) -> timedelta:
        return timedelta(seconds=self.request_ttl_seconds)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(POSTGRES_PREFIXES)

    @property
    def sqlite_path(self) -> Path:
        if not self.database_url.startswith(SQLITE_PREFIX):
            raise ValueError(
                f"Unsupported database URL: {SQLITE_PREFIX}PATH or postgresql://... only."
            )
        return Path(self.database_url[len(SQLITE_PREFIX) :])

    @property
    def database_label(self) -> str:
        """The database, for messages: the file, or the PostgreSQL URL without its password."""
        if not self.is_postgres:
            return str(self.sqlite_path)
        return re.sub(r"://([^:@/]*):[^@/]*@", r"://\1:***@", self.database_url)

    def _beside_database(self, suffix: str) -> Path:
        """Key files live next to an SQLite file; with PostgreSQL, in the working directory."""
        base = Path("hushan") if self.is_postgres else self.sqlite_path
        return base.with_name(base.name + suffix)

    def resolved_key_file(self) -> Path:
        return self.key_file or self._beside_database(".key")

    def resolved_log_key_file(self) -> Path:
        return self.log_key_file or self._beside_database(".log-key")

    def resolved_admin_key_file(self) -> Path:
        return self.admin_key_file or self._beside_database(".admin-key")
