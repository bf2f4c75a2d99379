"""The SQL of official accounts (`hushan.domain.official`), shared by every backend."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from hushan.clock import from_micros, to_micros
from hushan.domain.official import Binding, OfficialAccount
from hushan.store.base import FROM_START, NO_LIMIT

if TYPE_CHECKING:
    from hushan.store.sql import Connection

# The two bindings of a user to an account, each a table of (account, user, since).
FANS = "account_fans"
ADMINS = "account_admins"


class OfficialSql:
    """Mixed into `SqlTx`: official accounts, their fans and their administrators."""

    _c: Connection

    def insert_account(self, account_id: str, name: str, now: datetime) -> bool:
        """False (and nothing written) if the id is taken."""
        cur = self._c.execute(
            "INSERT INTO official_accounts (id, name, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (id) DO NOTHING",
            (account_id, name, to_micros(now)),
        )
        return int(cur.rowcount) == 1

    def get_account(self, account_id: str) -> OfficialAccount | None:
        row = self._c.execute(
            "SELECT a.id, a.name, a.created_at,"
            f" (SELECT count(*) FROM {FANS} f WHERE f.account_id = a.id),"
            f" (SELECT count(*) FROM {ADMINS} d WHERE d.account_id = a.id)"
            " FROM official_accounts a WHERE a.id = ?",
            (account_id,),
        ).fetchone()
        if row is None:
            return None
        return OfficialAccount(row[0], row[1], from_micros(row[2]), int(row[3]), int(row[4]))

    def bind(self, table: str, account_id: str, user_id: str, now: datetime) -> bool:
        """Bind the user to the account as a fan (`FANS`) or an administrator (`ADMINS`);
        False if they already were."""
        cur = self._c.execute(
            f"INSERT INTO {table} (account_id, user_id, since) VALUES (?, ?, ?)"
            " ON CONFLICT (account_id, user_id) DO NOTHING",
            (account_id, user_id, to_micros(now)),
        )
        return int(cur.rowcount) == 1

    def unbind(self, table: str, account_id: str, user_id: str) -> bool:
        cur = self._c.execute(
            f"DELETE FROM {table} WHERE account_id = ? AND user_id = ?", (account_id, user_id)
        )
        return int(cur.rowcount) == 1

    def bindings(
        self,
        table: str,
        account_id: str,
        after: tuple[datetime, str] = FROM_START,
        limit: int = NO_LIMIT,
    ) -> list[Binding]:
        """Oldest first, after the (since, user) key `after` (a keyset page)."""
        rows = self._c.execute(
            f"SELECT user_id, since FROM {table} WHERE account_id = ?"
            " AND (since, user_id) > (?, ?) ORDER BY since, user_id LIMIT ?",
            (account_id, to_micros(after[0]), after[1], limit),
        ).fetchall()
        return [Binding(row[0], from_micros(row[1])) for row in rows]

    def account_admins(self, account_id: str) -> set[str]:
        rows = self._c.execute(
            f"SELECT user_id FROM {ADMINS} WHERE account_id = ?", (account_id,)
        ).fetchall()
        return {row[0] for row in rows}

    def unbind_user_everywhere(self, user_id: str) -> None:
        """An erasure: the user follows and runs nothing any more."""
        for table in (FANS, ADMINS):
            self._c.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
