"""Service credentials and user tokens: the scope rules, without I/O.

A service credential is an app backend's key: a name, a set of scopes, and one or more live
secrets (two while a rotation overlaps). The deployment's admin key holds every scope. A user
token acts for its own user only, until it expires.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from hushan.domain.errors import (
    ActAsMismatch,
    ActAsRequired,
    InvalidCredentialName,
    InvalidTokenTtl,
    ScopeNotGrantable,
    ScopeRequired,
)
from hushan.domain.rules import is_label


class Scope(StrEnum):
    USERS_ACT = "users:act"  # act for any user, named in Hushan-Act-As; mint their tokens
    ADMIN_READ = "admin:read"  # GET /v1/admin/...
    ADMIN_WRITE = "admin:write"  # every other admin call, creating users and credentials
    TOKENS_MINT = "tokens:mint"  # mint user tokens, and nothing else


EVERY_SCOPE = frozenset(Scope)
MINTING = frozenset({Scope.TOKENS_MINT, Scope.USERS_ACT})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECRET_PREFIX = "hsk_"  # tells a service credential's secret from a user token at a glance


@dataclass(frozen=True, slots=True)
class Credential:
    id: str
    name: str
    scopes: frozenset[Scope]
    created_at: datetime
    revoked_at: datetime | None = None
    # While a rotation overlaps: when the secret before the newest stops working.
    previous_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A user token as listed: never its secret."""

    id: str
    user_id: str
    created_at: datetime
    expires_at: datetime | None  # None: a token that never expires (none is made so today)
    last_used_at: datetime | None
    minted_by: str | None  # the service credential that minted it, if one did


def check_name(name: str) -> str:
    """1-64 characters, no control characters, no padding: a name people read in a list."""
    if not is_label(name, 64):
        raise InvalidCredentialName()
    return name


def admin_scope(method: str) -> Scope:
    """The scope an admin call needs: reading, or anything else."""
    return Scope.ADMIN_READ if method.upper() in READ_METHODS else Scope.ADMIN_WRITE


def require(held: Iterable[Scope], *needed: Scope) -> None:
    """Any one of `needed` will do."""
    if not set(needed) & set(held):
        listed = " or ".join(sorted(s.value for s in needed))
        raise ScopeRequired(f"This call needs a credential with the scope {listed}.")


def check_grantable(held: Iterable[Scope], granted: Iterable[Scope]) -> None:
    """A credential can give another credential only scopes it holds itself."""
    missing = set(granted) - set(held)
    if missing:
        listed = ", ".join(sorted(s.value for s in missing))
        raise ScopeNotGrantable(f"You cannot grant scopes you do not hold: {listed}.")


def acted_user(path_user: str, act_as: str | None) -> str:
    """The user a service credential acts for: named in Hushan-Act-As, and the path's user."""
    if act_as is None:
        raise ActAsRequired()
    if act_as != path_user:
        raise ActAsMismatch()
    return path_user


MIN_TOKEN_TTL = timedelta(minutes=1)


def token_expiry(now: datetime, default: timedelta, ttl: timedelta | None) -> datetime:
    """When a new token expires: after `ttl` if one is asked for (a minute at least, at most
    the default), else after the default."""
    if ttl is None:
        return now + default
    if ttl < MIN_TOKEN_TTL or ttl > default:
        raise InvalidTokenTtl(
            f"A token's ttl is {int(MIN_TOKEN_TTL.total_seconds())} to"
            f" {int(default.total_seconds())} seconds on this deployment."
        )
    return now + ttl


def expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and now >= expires_at


def touch_due(last_used_at: datetime | None, now: datetime, every: timedelta) -> bool:
    """Whether a token's last use is worth a write: at most once per `every`."""
    return last_used_at is None or now - last_used_at >= every
