"""Mini-programs: the app's side (register, resolve a pair-scoped id, rotate its secret) for
the admin key or a service credential with the admin scopes, as an app backend holds; and a
user's side (authorise an app, grant it a contact). What the ids are: hushan.domain.miniprograms."""

from typing import Annotated

from fastapi import APIRouter, Depends

from hushan.api import schemas as s
from hushan.api import shapes
from hushan.api.context import Context, reply
from hushan.api.openapi import errors_for
from hushan.api.replies import (
    CreatedMiniProgramReply,
    JsonReply,
    OpenIdReply,
    PairIdReply,
    StatusReply,
)

ADMIN = "/v1/admin/mini-programs"
USER = "/v1/users/{user_id}/mini-programs"


def router(ctx: Context) -> APIRouter:
    engine, run = ctx.engine, ctx.pool.run
    Me = Annotated[str, Depends(ctx.guards.me)]
    Admin = Depends(ctx.guards.admin)
    api = APIRouter(tags=["miniprograms"])

    @api.post(
        ADMIN,
        status_code=201,
        response_model=CreatedMiniProgramReply,
        operation_id="miniprograms_create",
        dependencies=[Admin],
    )
    async def create(body: s.CreateMiniProgram) -> JsonReply:
        """An app with a key of its own for its ids, and a webhook endpoint for its
        `grant.revoked` events (its `whsec_` secret in this reply)."""
        app, secret = await run(engine.create_mini_program, body.name, body.url)
        assert secret is not None  # a URL was given
        return reply(shapes.mini_program_json(app, secret), 201)

    @api.post(
        f"{ADMIN}/{{app_id}}/rotate-key",
        response_model=StatusReply,
        operation_id="miniprograms_rotate_key",
        responses=errors_for(404),
        dependencies=[Admin],
    )
    async def rotate(app_id: s.MiniProgramId) -> JsonReply:
        """A new key for the app's ids: every id it saw changes, and its grants are dropped."""
        await run(engine.rotate_mini_program_secret, app_id)
        return reply({"status": "rotated"})

    @api.get(
        f"{ADMIN}/{{app_id}}/pair-ids/{{pair_id}}",
        response_model=OpenIdReply,
        operation_id="miniprograms_resolve",
        responses=errors_for(403, 404),
        dependencies=[Admin],
    )
    async def resolve(app_id: s.MiniProgramId, pair_id: s.PairIdPath) -> JsonReply:
        """The OpenID of the user who granted `pair_id`, while the grant holds; a revoked or
        unknown one answers `authorization_required`."""
        found = await run(engine.resolve_pair_id, app_id, pair_id)
        return reply({"app_id": app_id, "open_id": found})

    @api.put(
        f"{USER}/{{app_id}}",
        response_model=OpenIdReply,
        operation_id="miniprograms_authorise",
        responses=errors_for(404),
    )
    async def authorise(user_id: Me, app_id: s.MiniProgramId) -> JsonReply:
        """Authorise the app: the OpenID it sees you by (the same each time, and unrelated to
        your id in any other app)."""
        found = await run(engine.open_id, app_id, user_id)
        return reply({"app_id": app_id, "open_id": found})

    @api.post(
        f"{USER}/{{app_id}}/grants",
        status_code=201,
        response_model=PairIdReply,
        operation_id="miniprograms_grant",
        responses=errors_for(404, 409),
    )
    async def grant(user_id: Me, app_id: s.MiniProgramId, body: s.GrantFriend) -> JsonReply:
        """Let the app see a contact of yours (as in "friends who use this app"), by a
        pair-scoped id that a mutual delete or block-then-delete revokes."""
        found = await run(engine.grant_friend, app_id, user_id, body.friend_id)
        return reply({"app_id": app_id, "pair_id": found}, 201)

    return api
