"""The SQL of mini-programs: apps and their secrets, relationship-scoped grants under
pair-scoped ids, and each pair's epoch; shared by every backend."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from hushan.clock import from_micros, to_micros
from hushan.domain.events import pair_key
from hushan.domain.miniprograms import MiniProgram

if TYPE_CHECKING:
    from hushan.store.sql import Connection


class MiniProgramsSql:
    """Mixed into `SqlTx`."""

    _c: Connection
    _revoked: list[tuple[str, str, str]]  # this transaction's: (app, pair id, OpenID)

    def insert_mini_program(self, app: MiniProgram, secret: str) -> None:
        """The app with its key as stored (sealed by the service)."""
        self._c.execute(
            "INSERT INTO mini_programs (id, name, secret, created_at, endpoint_id)"
            " VALUES (?, ?, ?, ?, ?)",
            (app.id, app.name, secret, to_micros(app.created_at), app.endpoint_id),
        )
        if app.endpoint_id is not None:
            self._c.execute(
                "UPDATE webhook_endpoints SET mini_program_id = ? WHERE id = ?",
                (app.id, app.endpoint_id),
            )

    def mini_program(self, app_id: str) -> tuple[MiniProgram, str] | None:
        row = self._c.execute(
            "SELECT id, name, created_at, endpoint_id, secret FROM mini_programs WHERE id = ?",
            (app_id,),
        ).fetchone()
        if row is None:
            return None
        return MiniProgram(row[0], row[1], from_micros(row[2]), row[3]), row[4]

    def mini_program_secrets(self, app_ids: Iterable[str]) -> dict[str, str]:
        """Each app's key as stored."""
        wanted = sorted(set(app_ids))
        if not wanted:
            return {}
        rows = self._c.execute(
            f"SELECT id, secret FROM mini_programs WHERE id IN ({', '.join('?' * len(wanted))})",
            wanted,
        )
        return {r[0]: r[1] for r in rows}

    def set_mini_program_secret(self, app_id: str, secret: str) -> None:
        self._c.execute("UPDATE mini_programs SET secret = ? WHERE id = ?", (secret, app_id))
        # Every id the app saw changes with its secret: its grants are to be made again.
        self._c.execute("DELETE FROM mini_program_grants WHERE app_id = ?", (app_id,))

    def plain_mini_program_secrets(self, sealed_prefix: str) -> list[tuple[str, str]]:
        """(app, key) of each key stored plain (not starting with `sealed_prefix`)."""
        rows = self._c.execute(
            "SELECT id, secret FROM mini_programs WHERE secret NOT LIKE ?", (sealed_prefix + "%",)
        ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def replace_mini_program_secret(self, app_id: str, old: str, new: str) -> None:
        """The same key in another form (sealed): the app's ids and grants stay."""
        self._c.execute(
            "UPDATE mini_programs SET secret = ? WHERE id = ? AND secret = ?", (new, app_id, old)
        )

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
        on; the grants revoked now as (app, pair id, user). The service names them to each
        app (`queue_grant_revocations`): the apps' keys are sealed, and only it opens them."""
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
        return sorted((r[0], r[1], r[2]) for r in rows)

    def queue_grant_revocations(self, revoked: Iterable[tuple[str, str, str]]) -> None:
        """`grant.revoked` of this transaction, as (app, pair id, OpenID): written to the
        outbox with its audit entries (`_emit_revocations`)."""
        self._revoked.extend(revoked)

    def _emit_revocations(self) -> None:
        """The `grant.revoked` rows of this transaction's revocations, under the `seq` of its
        last audit entry (just numbered): a revocation is always part of an audited change."""
        if self._revoked:
            self._c.executemany(
                # INSERT ... SELECT, not a subquery in VALUES, which Citus does not plan.
                "INSERT INTO outbox_grants (seq, app_id, pair_id, open_id)"
                " SELECT MAX(seq), ?, ?, ? FROM outbox",
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
