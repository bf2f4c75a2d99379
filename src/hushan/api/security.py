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
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hushan.acting import set_credential
from hushan.api import idempotency
from hushan.api.schemas import UserId, UserIdPath
from hushan.api.tokens_seen import TokensSeen
from hushan.domain import credentials as scopes
from hushan.domain.credentials import SECRET_PREFIX, Credential, Scope, TokenInfo
from hushan.domain.errors import ActingAsOtherUser, AdminRequired, Unauthenticated

USER_TOKEN = "userToken"
ADMIN_KEY = "adminKey"
SERVICE_CREDENTIAL = "serviceCredential"
METRICS_TOKEN = "metricsToken"
ACT_AS = "Hushan-Act-As"

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
service_credential = HTTPBearer(
    scheme_name=SERVICE_CREDENTIAL,
    description="A service credential's secret (`hsk_...`, from `POST /v1/admin/credentials`"
    " or `hushan credentials create`): admin endpoints with its `admin:read` / `admin:write`"
    " scope; user endpoints with `users:act`, naming the user in `Hushan-Act-As`; minting"
    " user tokens with `tokens:mint` or `users:act`.",
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
ServiceBearer = Annotated[Bearer, Depends(service_credential)]
ActAs = Annotated[
    UserId | None,
    Header(
        alias=ACT_AS,
        description="With a service credential (`users:act`): the user it acts for, who must"
        " be the path's user.",
    ),
]
MetricsBearer = Annotated[Bearer, Depends(metrics_token)]


def token_of(credentials: Bearer) -> str:
    if credentials is None:
        raise Unauthenticated()
    return credentials.credentials


def is_key(credentials: Bearer, *keys: str) -> bool:
    """Whether the bearer is one of `keys` (401 without one); compared in constant time."""
    given = token_of(credentials).encode()
    return any(hmac.compare_digest(given, key.encode()) for key in keys)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a user path's call is from: the user, and the token used (None when a service
    credential acts for them)."""

    user: str
    token: TokenInfo | None


Authenticate = Callable[[str], Awaitable[TokenInfo]]
AuthenticateService = Callable[[str, str | None], Awaitable[Credential]]


class Guards:
    """The dependencies of one app: its engine authenticates users and service credentials,
    its key admins. They are `async` so that FastAPI runs them on the loop, not through its
    own thread pool; and so that the credential they record (hushan.acting) stays in the
    request's context, which the engine pool runs each call in."""

    def __init__(
        self,
        authenticate: Authenticate,
        key: str,
        authenticate_service: AuthenticateService,
        tokens: TokensSeen,
    ) -> None:
        self._authenticate = authenticate
        self._service = authenticate_service
        self._key = key
        self._tokens = tokens

    async def _token(self, bearer: str, user_id: str | None = None) -> TokenInfo:
        """The user token's record. One seen before (and not expired since) is taken from the
        cache and looked up again in the request's own trip to the engine pool; any other,
        and one whose user is not the path's (an error to tell right), in a trip of its own."""
        seen = self._tokens.get(bearer)
        if seen is not None and user_id in (None, seen.user_id):
            self._tokens.look_again_first(bearer, seen)
            return seen
        token = await self._authenticate(bearer)
        self._tokens.put(bearer, token)
        return token

    async def _credential(self, bearer: str, act_for: str | None = None) -> Credential:
        credential = await self._service(bearer, act_for)
        set_credential(credential.id)
        return credential

    async def caller(self, credentials: UserBearer, _: ServiceBearer) -> str:
        """Any user (the token's), or a service credential that may act for users."""
        bearer = token_of(credentials)
        if bearer.startswith(SECRET_PREFIX):
            credential = await self._credential(bearer)
            scopes.require(credential.scopes, Scope.USERS_ACT)
            idempotency.identify(f"credential:{credential.id}")
            return credential.id
        user = (await self._token(bearer)).user_id
        idempotency.identify(f"user:{user}")
        return user

    async def acting(
        self, user_id: UserIdPath, credentials: UserBearer, _: ServiceBearer, act_as: ActAs = None
    ) -> Caller:
        """The path's user, who must be the token's user: nobody acts as someone else. A
        service credential with `users:act` acts for the user it names in Hushan-Act-As."""
        bearer = token_of(credentials)
        if bearer.startswith(SECRET_PREFIX):
            # The user must exist, checked with the credential; a mismatch is told first.
            credential = await self._credential(bearer, act_as if act_as == user_id else None)
            scopes.require(credential.scopes, Scope.USERS_ACT)
            acted = scopes.acted_user(user_id, act_as)
            # A credential's keys are its own, apart from those of the user's own clients.
            idempotency.identify(f"credential:{credential.id}:user:{acted}")
            return Caller(acted, None)
        token = await self._token(bearer, user_id)
        if token.user_id != user_id or act_as not in (None, user_id):
            raise ActingAsOtherUser()
        idempotency.identify(f"user:{user_id}")  # the caller whose keys a request's key is
        return Caller(user_id, token)

    async def me(
        self,
        user_id: UserIdPath,
        credentials: UserBearer,
        service: ServiceBearer,
        act_as: ActAs = None,
    ) -> str:
        return (await self.acting(user_id, credentials, service, act_as)).user

    async def admin(
        self, request: Request, credentials: AdminBearer, _: ServiceBearer
    ) -> frozenset[Scope]:
        """The admin key (every scope), or a service credential with the scope the call's
        method needs (`admin:read` to read, `admin:write` for the rest); the scopes held."""
        if is_key(credentials, self._key):
            idempotency.identify("admin")
            return scopes.EVERY_SCOPE
        credential = await self._service_or_refuse(credentials)
        scopes.require(credential.scopes, scopes.admin_scope(request.method))
        idempotency.identify(f"credential:{credential.id}")
        return credential.scopes

    async def minter(self, credentials: AdminBearer, _: ServiceBearer) -> str | None:
        """Who may mint a user's tokens: the admin key (None), or the id of a service
        credential with `tokens:mint` or `users:act`."""
        if is_key(credentials, self._key):
            idempotency.identify("admin")
            return None
        credential = await self._service_or_refuse(credentials)
        scopes.require(credential.scopes, *scopes.MINTING)
        idempotency.identify(f"credential:{credential.id}")
        return credential.id

    async def _service_or_refuse(self, credentials: Bearer) -> Credential:
        """A bearer that is not a service credential's secret is refused as before the
        credentials existed (`admin_required`); one that is must be live (401 if not)."""
        if not token_of(credentials).startswith(SECRET_PREFIX):
            raise AdminRequired()
        return await self._credential(token_of(credentials))
