"""Who may call what: the bearer schemes the OpenAPI document declares, and the guards that
check them (FastAPI dependencies).

Every credential is a bearer token in `Authorization`; FastAPI's `HTTPBearer` parses it and
declares the scheme. Each scheme is its own `HTTPBearer`, so an operation that takes either of
two credentials lists both, as alternatives, in its `security`: another kind of credential is
one more scheme here and one more dependency in the guard that accepts it. With
`auto_error=False` a missing or non-bearer header reaches the guard as `None`, which answers
hushan's own `401 unauthenticated` (with `WWW-Authenticate: Bearer`, hushan.api.errors), not
FastAPI's `403 {"detail"}`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hushan.api import idempotency
from hushan.api.schemas import UserIdPath
from hushan.domain.errors import ActingAsOtherUser, AdminRequired, Unauthenticated

USER_TOKEN = "userToken"
ADMIN_KEY = "adminKey"
METRICS_TOKEN = "metricsToken"

user_token = HTTPBearer(
    scheme_name=USER_TOKEN,
    description="A user's token, from `POST /v1/users` or `POST /v1/users/{user_id}/tokens`."
    " It acts only as its user: another user's path is `403 acting_as_other_user`.",
    auto_error=False,
)
admin_key = HTTPBearer(
    scheme_name=ADMIN_KEY,
    description="The deployment's admin key (`HUSHAN_ADMIN_KEY` or its key file): admin"
    " endpoints, creating users and issuing tokens.",
    auto_error=False,
)
metrics_token = HTTPBearer(
    scheme_name=METRICS_TOKEN,
    description="`HUSHAN_METRICS_TOKEN`: may read `/metrics` and nothing else.",
    auto_error=False,
)
Bearer = HTTPAuthorizationCredentials | None
UserBearer = Annotated[Bearer, Depends(user_token)]
AdminBearer = Annotated[Bearer, Depends(admin_key)]
MetricsBearer = Annotated[Bearer, Depends(metrics_token)]


def token_of(credentials: Bearer) -> str:
    if credentials is None:
        raise Unauthenticated()
    return credentials.credentials


def is_key(credentials: Bearer, *keys: str) -> bool:
    """Whether the bearer is one of `keys` (401 without one); compared in constant time."""
    given = token_of(credentials).encode()
    return any(hmac.compare_digest(given, key.encode()) for key in keys)


class Guards:
    """The dependencies of one app: its engine authenticates users, its key admins.
    They are `async` so that FastAPI runs them on the loop, not through its own thread pool."""

    def __init__(self, authenticate: Callable[[str], Awaitable[str]], key: str) -> None:
        self._authenticate = authenticate
        self._key = key

    async def caller(self, credentials: UserBearer) -> str:
        """Any user: the token's."""
        return await self._authenticate(token_of(credentials))

    async def me(self, user_id: UserIdPath, credentials: UserBearer) -> str:
        """The path's user, who must be the token's user: nobody acts as someone else."""
        if await self.caller(credentials) != user_id:
            raise ActingAsOtherUser()
        idempotency.identify(f"user:{user_id}")  # the caller whose keys a request's key is
        return user_id

    async def admin(self, credentials: AdminBearer) -> None:
        if not is_key(credentials, self._key):
            raise AdminRequired()
        idempotency.identify("admin")
