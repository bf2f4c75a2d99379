"""The SQL of who may call: user tokens' lifecycle and service credentials, shared by every
backend (see `hushan.store.sql`). Only hashes of secrets are stored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hushan.clock import from_micros, to_micros
from hushan.domain.credentials import Credential, Scope, TokenInfo
from hushan.store.base import FROM_START, NO_LIMIT
from hushan.store.conversations_sql import maybe_micros, maybe_time

if TYPE_CHECKING:
    from hushan.store.sql import Connection

_TOKEN = "id, user_id, created_at, expires_at, last_used_at, minted_by"
_CREDENTIAL = (
    "c.id, c.name, c.scopes, c.created_at, c.revoked_at,"
    " (SELECT MAX(s.expires_at) FROM credential_secrets s WHERE s.credential_id = c.id)"
)


def token_id(token_hash: str) -> str:
    """A token's public id: the start of its hash (the secret stays unknowable from it)."""
    return token_hash[:16]


def _token(r: Sequence[Any]) -> TokenInfo:
    return TokenInfo(r[0], r[1], from_micros(r[2]), maybe_time(r[3]), maybe_time(r[4]), r[5])


def _credential(r: Sequence[Any], now: datetime | None = None) -> Credential:
    scopes = frozenset(Scope(s) for s in str(r[2]).split())
    previous = maybe_time(r[5])
    if previous is not None and now is not None and previous <= now:
        previous = None  # the overlap is over
    return Credential(r[0], r[1], scopes, from_micros(r[3]), maybe_time(r[4]), previous)


class AuthSql:
    _c: Connection

    # ---- user tokens ------------------------------------------------------------------------
    def insert_token(
        self,
        token_hash: str,
        user_id: str,
        now: datetime,
        expires_at: datetime | None = None,
        minted_by: str | None = None,
    ) -> str:
        found = token_id(token_hash)
        self._c.execute(
            "INSERT INTO tokens (token_hash, id, user_id, created_at, expires_at, minted_by)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (token_hash, found, user_id, to_micros(now), maybe_micros(expires_at), minted_by),
        )
        return found

    def user_for_token(self, token_hash: str) -> str | None:
        row = self._c.execute(
            "SELECT user_id FROM tokens WHERE token_hash = ?", (token_hash,)
        ).fetchone()
        return None if row is None else str(row[0])

    def token_by_hash(self, token_hash: str) -> TokenInfo | None:
        row = self._c.execute(
            f"SELECT {_TOKEN} FROM tokens WHERE token_hash = ?", (token_hash,)
        ).fetchone()
        return None if row is None else _token(row)

    def touch_token(self, token_hash: str, now: datetime, unless_since: datetime) -> None:
        self._c.execute(
            "UPDATE tokens SET last_used_at = ? WHERE token_hash = ?"
            " AND (last_used_at IS NULL OR last_used_at <= ?)",
            (to_micros(now), token_hash, to_micros(unless_since)),
        )

    def user_tokens(
        self,
        user_id: str,
        after: tuple[datetime, str] = FROM_START,
        limit: int = NO_LIMIT,
    ) -> list[TokenInfo]:
        rows = self._c.execute(
            f"SELECT {_TOKEN} FROM tokens WHERE user_id = ?"
            " AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?",
            (user_id, to_micros(after[0]), after[1], limit),
        ).fetchall()
        return [_token(r) for r in rows]

    def delete_token(self, user_id: str, token: str) -> bool:
        cur = self._c.execute("DELETE FROM tokens WHERE user_id = ? AND id = ?", (user_id, token))
        return cur.rowcount == 1

    def delete_tokens(self, user_id: str, keep: str | None) -> int:
        cur = self._c.execute(
            "DELETE FROM tokens WHERE user_id = ? AND id <> ?", (user_id, keep or "")
        )
        return cur.rowcount

    # ---- service credentials ----------------------------------------------------------------
    def insert_credential(self, credential: Credential, secret_hash: str) -> None:
        self._c.execute(
            "INSERT INTO credentials (id, name, scopes, created_at) VALUES (?, ?, ?, ?)",
            (
                credential.id,
                credential.name,
                " ".join(sorted(credential.scopes)),
                to_micros(credential.created_at),
            ),
        )
        self._add_secret(credential.id, secret_hash, credential.created_at)

    def _add_secret(self, credential_id: str, secret_hash: str, now: datetime) -> None:
        self._c.execute(
            "INSERT INTO credential_secrets (secret_hash, credential_id, created_at)"
            " VALUES (?, ?, ?)",
            (secret_hash, credential_id, to_micros(now)),
        )

    def credential(self, credential_id: str, now: datetime) -> Credential | None:
        row = self._c.execute(
            f"SELECT {_CREDENTIAL} FROM credentials c WHERE c.id = ?", (credential_id,)
        ).fetchone()
        return None if row is None else _credential(row, now)

    def credentials(
        self,
        now: datetime,
        after: tuple[datetime, str] = FROM_START,
        limit: int = NO_LIMIT,
    ) -> list[Credential]:
        rows = self._c.execute(
            f"SELECT {_CREDENTIAL} FROM credentials c WHERE (c.created_at, c.id) > (?, ?)"
            " ORDER BY c.created_at, c.id LIMIT ?",
            (to_micros(after[0]), after[1], limit),
        ).fetchall()
        return [_credential(r, now) for r in rows]

    def credential_for_secret(self, secret_hash: str, now: datetime) -> Credential | None:
        """The live credential a secret belongs to: not revoked, the secret not rotated out."""
        row = self._c.execute(
            f"SELECT {_CREDENTIAL} FROM credentials c JOIN credential_secrets k"
            " ON k.credential_id = c.id WHERE k.secret_hash = ? AND c.revoked_at IS NULL"
            " AND (k.expires_at IS NULL OR k.expires_at > ?)",
            (secret_hash, to_micros(now)),
        ).fetchone()
        return None if row is None else _credential(row, now)

    def rotate_credential(
        self, credential_id: str, secret_hash: str, now: datetime, old_until: datetime
    ) -> None:
        """Add the new secret; every older one works until `old_until` at the latest."""
        until = to_micros(old_until)
        self._c.execute(
            "UPDATE credential_secrets SET expires_at = ? WHERE credential_id = ?"
            " AND (expires_at IS NULL OR expires_at > ?)",
            (until, credential_id, until),
        )
        # Secrets past their overlap are dead weight: dropped, so they cannot come back.
        self._c.execute(
            "DELETE FROM credential_secrets WHERE credential_id = ? AND expires_at <= ?",
            (credential_id, to_micros(now)),
        )
        self._add_secret(credential_id, secret_hash, now)

    def revoke_credential(self, credential_id: str, now: datetime) -> bool:
        cur = self._c.execute(
            "UPDATE credentials SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (to_micros(now), credential_id),
        )
        self._c.execute("DELETE FROM credential_secrets WHERE credential_id = ?", (credential_id,))
        return cur.rowcount == 1
