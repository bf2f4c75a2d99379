"""Official accounts (`hushan.domain.official`), as engine calls.

Every change to an account's administrators, and every removal of a fan, takes the account's
lock: the check that someone would still run the account (or that a fan is no administrator)
and the change it allows are one step, even when two administrators act at once.
"""

from __future__ import annotations

from datetime import datetime

from hushan.domain import official
from hushan.domain.errors import AccountExists, AccountNotFound, UserNotFound
from hushan.domain.official import (
    AdminBinding,
    AdminUnbinding,
    Binding,
    FanRemoval,
    FollowOutcome,
    OfficialAccount,
    UnfollowOutcome,
)
from hushan.domain.rules import check_user_id
from hushan.service.engine import EngineCore
from hushan.store.base import FROM_START, NO_LIMIT, Tx
from hushan.store.official_sql import ADMINS, FANS


def account_lock(account_id: str) -> str:
    # Named among the users a write locks; no user id contains ':', so it is nobody's lock.
    return f"account:{account_id}"


class OfficialService(EngineCore):
    def create_account(self, actor: str, account_id: str, name: str) -> OfficialAccount:
        """A new official account, run by its creator."""
        check_user_id(account_id)
        official.check_account_name(name)
        now = self.clock.now()
        with self.store.write(actor, account_lock(account_id)) as tx:
            if tx.get_user(actor) is None:
                raise UserNotFound()
            if not tx.insert_account(account_id, name, now):
                raise AccountExists()
            tx.bind(ADMINS, account_id, actor, now)
        return OfficialAccount(account_id, name, now, fans=0, admins=1)

    def get_account(self, account_id: str) -> OfficialAccount:
        with self.store.read() as tx:
            return _account(tx, account_id)

    def follow(self, actor: str, account_id: str) -> FollowOutcome:
        with self.store.write(actor) as tx:
            if tx.get_user(actor) is None:
                raise UserNotFound()
            _account(tx, account_id)
            if tx.bind(FANS, account_id, actor, self.clock.now()):
                return FollowOutcome.FOLLOWING
            return FollowOutcome.ALREADY_FOLLOWING

    def unfollow(self, actor: str, account_id: str) -> UnfollowOutcome:
        """The fan's own choice: never refused, administrator or not."""
        with self.store.write(actor) as tx:
            _account(tx, account_id)
            if tx.unbind(FANS, account_id, actor):
                return UnfollowOutcome.UNFOLLOWED
            return UnfollowOutcome.NOT_FOLLOWING

    def remove_fan(self, actor: str, account_id: str, fan: str) -> FanRemoval:
        with self.store.write(actor, fan, account_lock(account_id)) as tx:
            _account(tx, account_id)
            official.check_can_remove_fan(account_id, actor, fan, tx.account_admins(account_id))
            return FanRemoval.REMOVED if tx.unbind(FANS, account_id, fan) else FanRemoval.NOT_A_FAN

    def bind_admin(self, actor: str | None, account_id: str, user_id: str) -> AdminBinding:
        """An administrator binds another; `actor` None is the deployment (the admin key),
        which may bind one to any account, one left with none by an erasure included."""
        with self.store.write(user_id, account_lock(account_id)) as tx:
            _account(tx, account_id)
            if actor is not None:
                official.check_is_admin(actor, tx.account_admins(account_id))
            if tx.get_user(user_id) is None:
                raise UserNotFound()
            if tx.bind(ADMINS, account_id, user_id, self.clock.now()):
                return AdminBinding.BOUND
            return AdminBinding.ALREADY_BOUND

    def unbind_admin(self, actor: str, account_id: str, admin: str) -> AdminUnbinding:
        """Any administrator unbinds one (themselves included), never the last."""
        with self.store.write(admin, account_lock(account_id)) as tx:
            _account(tx, account_id)
            admins = tx.account_admins(account_id)
            if admin not in admins:
                official.check_is_admin(actor, admins)
                return AdminUnbinding.NOT_BOUND
            official.check_can_unbind(account_id, actor, admin, admins)
            tx.unbind(ADMINS, account_id, admin)
            return AdminUnbinding.UNBOUND

    def account_bindings(
        self,
        actor: str,
        account_id: str,
        admins: bool,
        after: tuple[datetime, str] = FROM_START,
        limit: int = NO_LIMIT,
    ) -> list[Binding]:
        """The account's administrators, or its fans, oldest first: for its administrators
        only."""
        with self.store.read() as tx:
            _account(tx, account_id)
            official.check_is_admin(actor, tx.account_admins(account_id))
            return tx.bindings(ADMINS if admins else FANS, account_id, after, limit)


def _account(tx: Tx, account_id: str) -> OfficialAccount:
    found = tx.get_account(account_id)
    if found is None:
        raise AccountNotFound()
    return found
