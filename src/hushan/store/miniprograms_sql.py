"""The SQL of mini-programs: apps and their secrets, relationship-scoped grants under
pair-scoped ids, and each pair's epoch; shared by every backend."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from hushan.clock import from_micros, to_micros
from hushan.domain.events import pair_key
from hushan.domain.miniprograms import MiniProgram, open_id

if TYPE_CHECKING:
    from hushan.store.sql import Connection


class MiniProgramsSql:
    """Mixed into `SqlTx`."""

    _c: Connection
    _revoked: list[tuple[str, str, str]]  # this transaction's: (app, pair id, OpenID)

    def insert_mini_program(self, app: MiniProgram, secret: bytes) -> None:
        self._c.execute(
            "INSERT INTO mini_programs (id, name, secret, created_at, endpoint_id)"
            " VALUES (?, ?, ?, ?, ?)",
            (app.id, app.name, secret.hex(), to_micros(app.created_at), app.endpoint_id),
        )
        if app.endpoint_id is not None:
            self._c.execute(
                "UPDATE webhook_endpoints SET mini_program_id = ? WHERE id = ?",
                (app.id, app.endpoint_id),
            )

    def mini_program(self, app_id: str) -> tuple[MiniProgram, bytes] | None:
        row = self._c.execute(
            "SELECT id, name, created_at, endpoint_id, secret FROM mini_programs WHERE id = ?",
            (app_id,),
        ).fetchone()
        if row is None:
            return None
        return MiniProgram(row[0], row[1], from_micros(row[2]), row[3]), bytes.fromhex(row[4])

    def set_mini_program_secret(self, app_id: str, secret: bytes) -> None:
        self._c.execute("UPDATE mini_programs SET secret = ? WHERE id = ?", (secret.hex(), app_id))
        # Every id the app saw changes with its secret: its grants are to be made again.
        self._c.execute("DELETE FROM mini_program_grants WHERE app_id = ?", (app_id,))

    def pair_epoch(self, a: str, b: str) -> int:
        row = self._c.execute(
            "SELECT epoch FROM pair_epochs WHERE pair_key = ?", (pair_key(a, b),)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def insert_grant(
        self, app_id: str, user_id: str, friend_id: str, pid: str, now: datetime
    ) -> None:
        """A grant under `pid`; granting again in the same epoch keeps the one there."""
        self._c.execute(
            "INSERT INTO mini_program_grants (pair_id, app_id, user_id, friend_id, granted_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (pair_id) DO UPDATE SET revoked_at = NULL",
            (pid, app_id, user_id, friend_id, to_micros(now)),
        )

    def grant_of(self, app_id: str, pid: str) -> tuple[str, str, bool] | None:
        """(user, friend, revoked) of the app's grant under `pid`."""
        row = self._c.execute(
            "SELECT user_id, friend_id, revoked_at FROM mini_program_grants"
            " WHERE pair_id = ? AND app_id = ?",
            (pid, app_id),
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2] is not None)

    def revoke_pair_grants(self, a: str, b: str, now: datetime) -> list[tuple[str, str, str]]:
        """Revoke every app's grants between the two, either way, and move the pair's epoch
        on; the grants revoked now as (app, pair id, user)."""
        rows = self._c.execute(
            "UPDATE mini_program_grants SET revoked_at = ?1"
            " WHERE revoked_at IS NULL AND ((user_id = ?2 AND friend_id = ?3)"
            " OR (user_id = ?3 AND friend_id = ?2)) RETURNING app_id, pair_id, user_id",
            (to_micros(now), a, b),
        ).fetchall()
        self._c.execute(
            "INSERT INTO pair_epochs (pair_key, epoch) VALUES (?, 1)"
            " ON CONFLICT (pair_key) DO UPDATE SET epoch = pair_epochs.epoch + 1",
            (pair_key(a, b),),
        )
        revoked = sorted((r[0], r[1], r[2]) for r in rows)
        keys = {app: self.mini_program(app) for app in {r[0] for r in revoked}}
        for app, pid, user in revoked:
            found = keys[app]
            assert found is not None  # its grant was just read
            self._revoked.append((app, pid, open_id(found[1], user)))
        return revoked

    def _emit_revocations(self) -> None:
        """The `grant.revoked` rows of this transaction's revocations, under the `seq` of its
        last audit entry (just numbered): a revocation is always part of an audited change."""
        if self._revoked:
            self._c.executemany(
                "INSERT INTO outbox_grants (seq, app_id, pair_id, open_id)"
                " VALUES ((SELECT MAX(seq) FROM outbox), ?, ?, ?)",
                self._revoked,
            )
            self._revoked = []

    def revocations(self, app_id: str, since: datetime) -> list[tuple[str, str, datetime]]:
        """The app's grants revoked at or after `since`: (pair id, user, when)."""
        rows = self._c.execute(
            "SELECT pair_id, user_id, revoked_at FROM mini_program_grants"
            " WHERE app_id = ? AND revoked_at >= ? ORDER BY revoked_at, pair_id",
            (app_id, to_micros(since)),
        ).fetchall()
        return [(r[0], r[1], from_micros(r[2])) for r in rows]
