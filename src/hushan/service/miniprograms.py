"""Mini-programs, as engine calls: register an app (its own secret), the OpenID it sees a user
by, relationship-scoped grants under pair-scoped ids, resolving such an id, and the app's
`grant.revoked` list. A mutual delete or block-then-delete revokes the pair's grants in the same
transaction (hushan.service.contacts), and the outbox carries `grant.revoked` to each app's
endpoint from that transaction."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from hushan.crypto import Sealer
from hushan.domain.errors import (
    AuthorizationRequired,
    InvalidPlatformName,
    MiniProgramNotFound,
    NotInYourContacts,
    UserNotFound,
)
from hushan.domain.miniprograms import MiniProgram, Revocation, open_id, pair_id
from hushan.domain.rules import check_not_self, is_label
from hushan.domain.webhooks import Endpoint, checked_url
from hushan.service.engine import EngineCore
from hushan.service.webhooks import SEALED_PREFIX, new_webhook_secret, seal_webhook_secret
from hushan.store.base import Tx


def seal_app_key(sealer: Sealer, app_id: str, key: bytes) -> str:
    """An app's key as stored: sealed under the deployment key and bound to the app, like a
    webhook secret (a database dump alone computes no one's ids)."""
    return SEALED_PREFIX + base64.b64encode(sealer.seal_secret(key, app_id)).decode()


def open_app_key(sealer: Sealer, app_id: str, stored: str) -> bytes:
    if not stored.startswith(SEALED_PREFIX):  # stored plain before 0019, until sealed at start
        return bytes.fromhex(stored)
    return sealer.open_secret(base64.b64decode(stored.removeprefix(SEALED_PREFIX)), app_id)


def revoke_pair_grants(tx: Tx, sealer: Sealer, a: str, b: str, now: datetime) -> None:
    """Revoke every app's grants between the two (and move the pair's epoch on), in `tx`: each
    app's `grant.revoked` goes to the outbox with the transaction's audit entries, naming the
    granting users by the OpenIDs that app sees."""
    revoked = tx.revoke_pair_grants(a, b, now)
    if not revoked:
        return
    stored = tx.mini_program_secrets(app for app, _, _ in revoked)
    keys = {app: open_app_key(sealer, app, value) for app, value in stored.items()}
    tx.queue_grant_revocations((app, pid, open_id(keys[app], user)) for app, pid, user in revoked)


class MiniProgramsService(EngineCore):
    def _app(self, tx: Tx, app_id: str) -> tuple[MiniProgram, bytes]:
        """The app and its key, opened."""
        found = tx.mini_program(app_id)
        if found is None:
            raise MiniProgramNotFound()
        app, stored = found
        return app, open_app_key(self.sealer, app_id, stored)

    def create_mini_program(
        self, name: str, url: str | None = None
    ) -> tuple[MiniProgram, str | None]:
        """Register an app; with a `url`, a webhook endpoint of its own that gets its
        `grant.revoked` events. Returns the app and that endpoint's `whsec_` secret."""
        if not is_label(name, 64):
            raise InvalidPlatformName("A mini-program name is 1-64 characters, unpadded.")
        now = self.clock.now()
        endpoint = (
            None
            if url is None
            else Endpoint("we_" + secrets.token_hex(8), checked_url(url), frozenset(), now)
        )
        app = MiniProgram(
            "mp_" + secrets.token_hex(8), name, now, None if endpoint is None else endpoint.id
        )
        secret = None if endpoint is None else new_webhook_secret()
        with self.store.write() as tx:
            if endpoint is not None and secret is not None:
                tx.insert_endpoint(endpoint, seal_webhook_secret(self.sealer, endpoint.id, secret))
            tx.insert_mini_program(app, seal_app_key(self.sealer, app.id, secrets.token_bytes(32)))
        return app, secret

    def rotate_mini_program_secret(self, app_id: str) -> None:
        """Every id the app sees changes; its grants are to be made again."""
        with self.store.write() as tx:
            self._app(tx, app_id)
            key = seal_app_key(self.sealer, app_id, secrets.token_bytes(32))
            tx.set_mini_program_secret(app_id, key)

    def seal_plain_mini_program_keys(self) -> int:
        """Seal the keys an older version stored plain (run at every start); how many."""
        with self.store.write() as tx:
            found = tx.plain_mini_program_secrets(SEALED_PREFIX)
            for app_id, plain in found:
                sealed = seal_app_key(self.sealer, app_id, bytes.fromhex(plain))
                tx.replace_mini_program_secret(app_id, plain, sealed)
        return len(found)

    def open_id(self, app_id: str, user_id: str) -> str:
        with self.store.read() as tx:
            _, secret = self._app(tx, app_id)
            if tx.get_user(user_id) is None:
                raise UserNotFound()
        return open_id(secret, user_id)

    def grant_friend(self, app_id: str, user_id: str, friend_id: str) -> str:
        """The user lets the app see a contact of theirs; the pair-scoped id it sees them by."""
        check_not_self(user_id, friend_id)
        with self.store.write(user_id, friend_id) as tx:
            _, secret = self._app(tx, app_id)
            facts = self._facts(tx, user_id, friend_id)
            if not facts.actor_has_other:
                raise NotInYourContacts()
            pid = pair_id(secret, user_id, friend_id, tx.pair_epoch(user_id, friend_id))
            tx.insert_grant(app_id, user_id, friend_id, pid, self.clock.now())
        return pid

    def resolve_pair_id(self, app_id: str, pid: str) -> str:
        """The OpenID of the user whose grant `pid` is, while the grant holds."""
        with self.store.read() as tx:
            _, secret = self._app(tx, app_id)
            grant = tx.grant_of(app_id, pid)
        if grant is None or grant[2]:
            raise AuthorizationRequired()
        return open_id(secret, grant[0])

    def revocations(self, app_id: str, since: datetime) -> list[Revocation]:
        """`grant.revoked` for each of the app's grants revoked since a time."""
        with self.store.read() as tx:
            _, secret = self._app(tx, app_id)
            found = tx.revocations(app_id, since)
        return [Revocation(app_id, pid, open_id(secret, user), at) for pid, user, at in found]
