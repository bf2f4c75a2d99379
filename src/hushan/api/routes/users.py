"""Accounts: creating users, the public profile, settings, export and erasure (tokens:
hushan.api.routes.tokens)."""

from typing import Annotated

from fastapi import APIRouter, Depends

from hushan.api import schemas as s
from hushan.api import shapes
from hushan.api.context import Context, reply
from hushan.api.erasing import erase
from hushan.api.openapi import errors_for
from hushan.api.replies import (
    CreatedUserReply,
    ExportReply,
    JsonReply,
    SettingsReply,
    StatusReply,
    UserReply,
)


def router(ctx: Context) -> APIRouter:
    engine, run = ctx.engine, ctx.pool.run
    Me = Annotated[str, Depends(ctx.guards.me)]
    Admin = Depends(ctx.guards.admin)
    api = APIRouter(tags=["users"])

    @api.post(
        "/v1/users",
        status_code=201,
        response_model=CreatedUserReply,
        dependencies=[Admin],
        operation_id="users_create",
        responses=errors_for(409),
    )
    async def create_user(body: s.CreateUser) -> JsonReply:
        user, token = await run(
            engine.create_user, body.id, body.display_name, body.verification_required
        )
        created = {
            "user": shapes.user_json(user),
            "verification_required": user.verification_required,
            "token": token,
        }
        return reply(created, 201)

    @api.get(
        "/v1/users/{user_id}",
        response_model=UserReply,
        operation_id="users_get",
        responses=errors_for(404),
    )
    async def get_user(
        user_id: s.UserIdPath, _: Annotated[str, Depends(ctx.guards.caller)]
    ) -> JsonReply:
        return reply(shapes.user_json(await run(engine.get_user, user_id)))

    @api.get("/v1/users/{user_id}/export", response_model=ExportReply, operation_id="users_export")
    async def export_account(user_id: Me) -> JsonReply:
        exported = await run(engine.export_account, user_id)
        return reply(shapes.export_json(exported, engine.limits.notice_minimum))

    @api.delete(
        "/v1/users/{user_id}",
        response_model=StatusReply,
        operation_id="users_erase",
        responses={
            202: {"model": StatusReply, "description": "Erasing: the account is gone already."},
            **errors_for(409),
        },
    )
    async def erase_account(user_id: Me) -> JsonReply:
        """The account goes at once; its data is erased as a job, by `hushan worker` (or on
        the engine pool when no worker runs). Done within a second: 200 `erased`;
        else 202 `erasing` (GET /v1/admin/erasures/{user_id} tells when it is done)."""
        if await erase(ctx, user_id):
            return reply({"status": "erased"})
        return reply({"status": "erasing"}, 202)

    @api.patch(
        "/v1/users/{user_id}/settings",
        response_model=SettingsReply,
        operation_id="users_update_settings",
    )
    async def update_settings(user_id: Me, body: s.Settings) -> JsonReply:
        user = await run(
            engine.update_settings,
            user_id,
            body.verification_required,
            body.notice_grade,
            body.hide_shared_groups,
            body.display_name,
        )
        return reply(shapes.settings_json(user, engine.limits.notice_minimum))

    return api
