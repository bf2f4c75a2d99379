"""Official accounts: create one, follow and unfollow, and (for its administrators) its fans
and administrators. The deployment binds an administrator to any account (the admin key)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from hushan.api import schemas as s
from hushan.api.context import Context, reply
from hushan.api.openapi import errors_for
from hushan.api.paging import TIMED, Page, pages
from hushan.api.replies import (
    AccountReply,
    AdminsReply,
    FansReply,
    JsonReply,
    StatusReply,
)
from hushan.api.shapes import account_json, bindings_json
from hushan.store.base import FROM_START

ACCOUNTS = "/v1/users/{user_id}/official-accounts"
ACCOUNT = ACCOUNTS + "/{account}"
FOLLOWS = "/v1/users/{user_id}/follows/{account}"
BindingPage = Annotated[Page[tuple[datetime, str]], Depends(pages("fans", TIMED))]
AdminPage = Annotated[Page[tuple[datetime, str]], Depends(pages("admins", TIMED))]


def router(ctx: Context) -> APIRouter:
    engine, run = ctx.engine, ctx.pool.run
    Me = Annotated[str, Depends(ctx.guards.me)]
    api = APIRouter(tags=["official accounts"])

    @api.post(
        ACCOUNTS,
        status_code=201,
        response_model=AccountReply,
        operation_id="accounts_create",
        responses=errors_for(404, 409),
    )
    async def create_account(user_id: Me, body: s.CreateAccount) -> JsonReply:
        created = await run(engine.create_account, user_id, body.id, body.name)
        return reply(account_json(created), 201)

    @api.get(
        ACCOUNT, response_model=AccountReply, operation_id="accounts_get", responses=errors_for(404)
    )
    async def get_account(user_id: Me, account: s.UserIdPath) -> JsonReply:
        return reply(account_json(await run(engine.get_account, account)))

    @api.put(
        FOLLOWS, response_model=StatusReply, operation_id="follows_add", responses=errors_for(404)
    )
    async def follow(user_id: Me, account: s.UserIdPath) -> JsonReply:
        return reply({"status": (await run(engine.follow, user_id, account)).value})

    @api.delete(
        FOLLOWS,
        response_model=StatusReply,
        operation_id="follows_remove",
        responses=errors_for(404),
    )
    async def unfollow(user_id: Me, account: s.UserIdPath) -> JsonReply:
        return reply({"status": (await run(engine.unfollow, user_id, account)).value})

    @api.get(
        ACCOUNT + "/fans",
        response_model=FansReply,
        operation_id="accounts_fans",
        responses=errors_for(404, 409),
    )
    async def fans(user_id: Me, account: s.UserIdPath, page: BindingPage) -> JsonReply:
        start = page.after or FROM_START
        found = await run(engine.account_bindings, user_id, account, False, start, page.fetch)
        shown, after = page.cut(found, lambda b: (b.since, b.user))
        return reply({"fans": bindings_json(shown), "next": after})

    @api.delete(
        ACCOUNT + "/fans/{fan}",
        response_model=StatusReply,
        operation_id="accounts_remove_fan",
        responses=errors_for(404, 409),
    )
    async def remove_fan(user_id: Me, account: s.UserIdPath, fan: s.UserIdPath) -> JsonReply:
        return reply({"status": (await run(engine.remove_fan, user_id, account, fan)).value})

    @api.get(
        ACCOUNT + "/admins",
        response_model=AdminsReply,
        operation_id="accounts_admins",
        responses=errors_for(404, 409),
    )
    async def admins(user_id: Me, account: s.UserIdPath, page: AdminPage) -> JsonReply:
        start = page.after or FROM_START
        found = await run(engine.account_bindings, user_id, account, True, start, page.fetch)
        shown, after = page.cut(found, lambda b: (b.since, b.user))
        return reply({"admins": bindings_json(shown), "next": after})

    @api.put(
        ACCOUNT + "/admins/{admin}",
        response_model=StatusReply,
        operation_id="accounts_bind_admin",
        responses=errors_for(404, 409),
    )
    async def bind_admin(user_id: Me, account: s.UserIdPath, admin: s.UserIdPath) -> JsonReply:
        return reply({"status": (await run(engine.bind_admin, user_id, account, admin)).value})

    @api.delete(
        ACCOUNT + "/admins/{admin}",
        response_model=StatusReply,
        operation_id="accounts_unbind_admin",
        responses=errors_for(404, 409),
    )
    async def unbind_admin(user_id: Me, account: s.UserIdPath, admin: s.UserIdPath) -> JsonReply:
        return reply({"status": (await run(engine.unbind_admin, user_id, account, admin)).value})

    @api.put(
        "/v1/admin/official-accounts/{account}/admins/{admin}",
        response_model=StatusReply,
        operation_id="admin_accounts_bind_admin",
        tags=["admin"],
        dependencies=[Depends(ctx.guards.admin)],
        responses=errors_for(404),
    )
    async def deployment_binds_admin(account: s.UserIdPath, admin: s.UserIdPath) -> JsonReply:
        return reply({"status": (await run(engine.bind_admin, None, account, admin)).value})

    return api
