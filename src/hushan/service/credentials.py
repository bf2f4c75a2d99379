"""Service credentials and the user token lifecycle, as engine calls.

Secrets are shown once, when made; only their hashes are stored. A rotation keeps the
credential (its id, name and scopes) and gives it a new secret; the one before keeps working
for the overlap asked for, so the app can roll the new one out with no downtime.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from hushan.domain import credentials as rules
from hushan.domain.credentials import SECRET_PREFIX, Credential, Scope, TokenInfo
from hushan.domain.errors import (
    CredentialNotFound,
    NoCurrentToken,
    TokenExpired,
    TokenNotFound,
    Unauthenticated,
    Unavailable,
    UserNotFound,
)
from hushan.service.engine import EngineCore
from hushan.service.users import hash_token
from hushan.store.base import FROM_START, NO_LIMIT

TOUCH_EVERY = timedelta(minutes=1)  # a token's last use is written at most this often
MAX_OVERLAP = timedelta(days=30)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class CredentialsService(EngineCore):
    # ---- service credentials ----------------------------------------------------------------
    def create_credential(
        self, name: str, scopes: Iterable[Scope], granter: Iterable[Scope] = rules.EVERY_SCOPE
    ) -> tuple[Credential, str]:
        """A new credential and its secret (returned once). `granter`: the scopes of who asks,
        which bound what they may give."""
        wanted = frozenset(scopes)
        rules.check_name(name)
        rules.check_grantable(granter, wanted)
        credential = Credential("c_" + secrets.token_hex(8), name, wanted, self.clock.now())
        secret = new_secret()
        with self.store.write() as tx:
            tx.insert_credential(credential, hash_token(secret))
        return credential, secret

    def list_credentials(
        self, after: tuple[datetime, str] = FROM_START, limit: int = NO_LIMIT
    ) -> list[Credential]:
        with self.store.read() as tx:
            return tx.credentials(self.clock.now(), after, limit)

    def rotate_credential(
        self,
        credential_id: str,
        overlap: timedelta = timedelta(0),
        granter: Iterable[Scope] = rules.EVERY_SCOPE,
    ) -> tuple[Credential, str]:
        """A new secret for the credential; its older secrets work `overlap` longer."""
        secret = new_secret()
        with self.store.write() as tx:
            now = self.clock.now()
            found = tx.credential(credential_id, now)
            if found is None or found.revoked_at is not None:
                raise CredentialNotFound()
            rules.check_grantable(granter, found.scopes)
            # Each older secret keeps the sooner of its own end and this overlap's: a second
            # rotation never lengthens the first one's overlap.
            tx.rotate_credential(credential_id, hash_token(secret), now, now + overlap)
            rotated = tx.credential(credential_id, now)
        assert rotated is not None
        return rotated, secret

    def revoke_credential(
        self, credential_id: str, granter: Iterable[Scope] = rules.EVERY_SCOPE
    ) -> bool:
        """Revoke it at once, every secret of it; False if it was revoked already."""
        with self.store.write() as tx:
            now = self.clock.now()
            found = tx.credential(credential_id, now)
            if found is None:
                raise CredentialNotFound()
            rules.check_grantable(granter, found.scopes)
            return tx.revoke_credential(credential_id, now)

    def live_credential(self, credential_id: str) -> Credential | None:
        """The credential, unless it is unknown or revoked (an operator's console session made
        with it ends with it)."""
        now = self.clock.now()
        with self.store.read() as tx:
            found = tx.credential(credential_id, now)
        return None if found is None or found.revoked_at is not None else found

    def authenticate_service(self, secret: str, act_for: str | None = None) -> Credential:
        """The live credential of a secret; with `act_for`, that user must exist too (checked
        on the same snapshot)."""
        with self.store.read() as tx:
            credential = tx.credential_for_secret(hash_token(secret), self.clock.now())
            if credential is None:
                raise Unauthenticated()
            acting = Scope.USERS_ACT in credential.scopes
            if act_for is not None and acting and tx.get_user(act_for) is None:
                raise UserNotFound(f"No such user: {act_for!r}.")
        return credential

    # ---- user tokens ------------------------------------------------------------------------
    def mint_token(
        self, user_id: str, ttl: timedelta | None = None, minted_by: str | None = None
    ) -> tuple[str, TokenInfo]:
        """A new token for the user (returned once) that expires after `ttl`, or the
        deployment's default."""
        now = self.clock.now()
        expires_at = rules.token_expiry(now, self.limits.token_ttl, ttl)
        token = secrets.token_urlsafe(32)
        with self.store.write(user_id) as tx:
            if tx.get_user(user_id) is None:
                raise UserNotFound()
            tx.insert_token(hash_token(token), user_id, now, expires_at, minted_by)
            info = tx.token_by_hash(hash_token(token))
        assert info is not None
        return token, info

    def issue_token(self, user_id: str) -> str:
        """A token with the default lifetime."""
        return self.mint_token(user_id)[0]

    def authenticate_token(self, token: str) -> TokenInfo:
        """The token's record; `token_expired` past its expiry. Its last use is written at
        most once per TOUCH_EVERY, so most calls stay reads."""
        hashed = hash_token(token)
        now = self.clock.now()
        with self.store.read() as tx:
            info = tx.token_by_hash(hashed)
        if info is None:
            raise Unauthenticated()
        if rules.expired(info.expires_at, now):
            raise TokenExpired()
        if rules.touch_due(info.last_used_at, now, TOUCH_EVERY):
            self._touch(hashed, now)
        return info

    def _touch(self, hashed: str, now: datetime) -> None:
        try:
            with self.store.write_if_free() as tx:  # a read never waits for a hint
                tx.touch_token(hashed, now, now - TOUCH_EVERY)
        except Unavailable:
            pass  # a last-use time is a hint: never worth refusing the call for

    def authenticate(self, token: str) -> str:
        """The user a token acts for."""
        return self.authenticate_token(token).user_id

    def list_tokens(
        self, user_id: str, after: tuple[datetime, str] = FROM_START, limit: int = NO_LIMIT
    ) -> list[TokenInfo]:
        with self.store.read() as tx:
            if tx.get_user(user_id) is None:
                raise UserNotFound()
            return tx.user_tokens(user_id, after, limit)

    def revoke_token(self, user_id: str, token_id: str) -> None:
        with self.store.write(user_id) as tx:
            if not tx.delete_token(user_id, token_id):
                raise TokenNotFound()

    def revoke_tokens(self, user_id: str, keep: str | None, keep_current: bool = False) -> int:
        """Revoke the user's tokens, all but `keep` (the caller's own) when `keep_current`."""
        if keep_current and keep is None:
            raise NoCurrentToken()
        with self.store.write(user_id) as tx:
            return tx.delete_tokens(user_id, keep if keep_current else None)
