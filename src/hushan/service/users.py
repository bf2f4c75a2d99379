"""Users, their bearer tokens and their own settings, as engine calls."""

from __future__ import annotations

import hashlib
import secrets

from hushan.domain import notices, rules
from hushan.domain.errors import UserExists, UserNotFound
from hushan.domain.model import User
from hushan.domain.notices import NoticeGrade
from hushan.service.engine import EngineCore
from hushan.store.base import NO_LIMIT


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UsersService(EngineCore):
    """Create users, change settings (tokens: `hushan.service.credentials`)."""

    def create_user(
        self, user_id: str, display_name: str | None = None, verification_required: bool = True
    ) -> tuple[User, str]:
        """Create a user and their first bearer token (returned once; only its hash is kept)."""
        rules.check_user_id(user_id)
        now = self.clock.now()
        user = User(user_id, display_name or user_id, verification_required, now)
        token = secrets.token_urlsafe(32)
        with self.store.write(user_id) as tx:
            if tx.erasure_pending(user_id):
                raise UserExists(f"The account {user_id!r} is still being erased.")
            if not tx.insert_user(user):
                raise UserExists(f"A user with id {user_id!r} already exists.")
            tx.insert_token(hash_token(token), user_id, now, now + self.limits.token_ttl)
        return user, token

    def get_user(self, user_id: str) -> User:
        with self.store.read() as tx:
            user = tx.get_user(user_id)
        if user is None:
            raise UserNotFound()
        return user

    def list_users(self, after: str = "", limit: int = NO_LIMIT) -> list[User]:
        """Every account, by id (an admin's list)."""
        with self.store.read() as tx:
            return tx.list_users(after, limit)

    def update_settings(
        self,
        actor: str,
        verification_required: bool | None = None,
        notice_grade: NoticeGrade | None = None,
        hide_shared_groups: bool | None = None,
        display_name: str | None = None,
    ) -> User:
        """Change any of the actor's own settings and their display name, in one
        transaction; None keeps a value."""
        if notice_grade is not None:
            notices.check_notice_grade(notice_grade, self.limits.notice_minimum)
        with self.store.write(actor) as tx:
            if tx.get_user(actor) is None:
                raise UserNotFound()
            if verification_required is not None:
                tx.set_verification(actor, verification_required)
            if notice_grade is not None:
                tx.set_notice_grade(actor, notice_grade)
            if hide_shared_groups is not None:
                tx.set_hide_shared_groups(actor, hide_shared_groups)
            if display_name is not None:
                tx.set_display_name(actor, display_name)
            user = tx.get_user(actor)
        assert user is not None
        return user
