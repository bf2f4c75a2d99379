"""A user's tokens: minting (the admin key or a service credential), listing and revoking
(the user, or a service credential acting for them). Never a secret but at its minting."""

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from hushan.api import schemas as s
from hushan.api import shapes
from hushan.api.context import Context, reply
from hushan.api.openapi import errors_for
from hushan.api.paging import TIMED, Page, pages
from hushan.api.replies import JsonReply, RevokedReply, StatusReply, TokenReply, TokensReply
from hushan.api.security import Caller
from hushan.store.base import FROM_START

TokenPage = Annotated[Page[tuple[datetime, str]], Depends(pages("tokens", TIMED))]


def router(ctx: Context) -> APIRouter:
    engine, run = ctx.engine, ctx.pool.run
    Calling = Annotated[Caller, Depends(ctx.guards.acting)]
    api = APIRouter(tags=["users"])

    @api.post(
        "/v1/users/{user_id}/tokens",
        status_code=201,
        response_model=TokenReply,
        operation_id="users_issue_token",
        responses=errors_for(404),
    )
    async def issue_token(
        user_id: s.UserIdPath,
        minter: Annotated[str | None, Depends(ctx.guards.minter)],
        body: s.MintToken | None = None,
    ) -> JsonReply:
        """A new token for the user, shown once: the deployment's default lifetime, or a
        shorter one (`ttl_seconds`)."""
        ttl = None if body is None or body.ttl_seconds is None else body.ttl_seconds
        token, info = await run(
            engine.mint_token, user_id, None if ttl is None else timedelta(seconds=ttl), minter
        )
        minted = {"token": token, "id": info.id, "expires_at": shapes.iso(info.expires_at)}
        return reply(minted, 201)

    @api.get(
        "/v1/users/{user_id}/tokens",
        response_model=TokensReply,
        operation_id="tokens_list",
        responses=errors_for(404),
    )
    async def list_tokens(caller: Calling, page: TokenPage) -> JsonReply:
        found = await run(engine.list_tokens, caller.user, page.after or FROM_START, page.fetch)
        shown, after = page.cut(found, lambda t: (t.created_at, t.id))
        return reply({"tokens": [shapes.token_json(t, caller.token) for t in shown], "next": after})

    @api.delete(
        "/v1/users/{user_id}/tokens/{token_id}",
        response_model=StatusReply,
        operation_id="tokens_revoke",
        responses=errors_for(404),
    )
    async def revoke_token(caller: Calling, token_id: s.TokenId) -> JsonReply:
        await run(engine.revoke_token, caller.user, token_id)
        return reply({"status": "revoked"})

    @api.delete(
        "/v1/users/{user_id}/tokens",
        response_model=RevokedReply,
        operation_id="tokens_revoke_all",
    )
    async def revoke_tokens(
        caller: Calling,
        keep: Annotated[
            Literal["current"] | None,
            Query(description="`current`: keep the token this call came with."),
        ] = None,
    ) -> JsonReply:
        current = None if caller.token is None else caller.token.id
        revoked = await run(engine.revoke_tokens, caller.user, current, keep == "current")
        return reply({"revoked": revoked})

    return api
