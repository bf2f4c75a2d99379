"""Groups: create, invite, join or decline, leave or remove, and the shared-group view."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from hushan.api import schemas as s
from hushan.api import shapes
from hushan.api.context import Context, reply
from hushan.api.openapi import errors_for
from hushan.api.paging import ROW_ID, TIMED, Page, pages
from hushan.api.replies import (
    GroupInvitationsReply,
    GroupReply,
    GroupsReply,
    JsonReply,
    MembersReply,
    SharedGroupsReply,
    StatusReply,
)
from hushan.store.base import FROM_START

GROUPS = "/v1/users/{user_id}/groups"
INVITATIONS = "/v1/users/{user_id}/group-invitations"
GroupId = Annotated[s.RowId, Path()]
GroupPage = Annotated[Page[int], Depends(pages("groups", ROW_ID))]
MemberPage = Annotated[Page[tuple[datetime, str]], Depends(pages("members", TIMED))]
InvitationPage = Annotated[Page[int], Depends(pages("invitations", ROW_ID))]


def router(ctx: Context) -> APIRouter:
    engine, run = ctx.engine, ctx.pool.run
    Me = Annotated[str, Depends(ctx.guards.me)]
    api = APIRouter(tags=["groups"])

    @api.post(GROUPS, status_code=201, response_model=GroupReply, operation_id="groups_create")
    async def create_group(user_id: Me, body: s.CreateGroup) -> JsonReply:
        return reply(shapes.group_json(await run(engine.create_group, user_id, body.name)), 201)

    @api.get(GROUPS, response_model=GroupsReply, operation_id="groups_list")
    async def list_groups(user_id: Me, page: GroupPage) -> JsonReply:
        found = await run(engine.list_groups, user_id, page.after or 0, page.fetch)
        shown, after = page.cut(found, lambda g: g.id)
        return reply({"groups": [shapes.group_json(g) for g in shown], "next": after})

    @api.get(
        GROUPS + "/{group_id}/members",
        response_model=MembersReply,
        operation_id="groups_members",
        responses=errors_for(404),
    )
    async def group_members(user_id: Me, group_id: GroupId, page: MemberPage) -> JsonReply:
        start = page.after or FROM_START
        found = await run(engine.group_members, user_id, group_id, start, page.fetch)
        shown, after = page.cut(found, lambda m: (m.joined_at, m.user_id))
        listed = [{"id": m.user_id, "joined_at": shapes.iso(m.joined_at)} for m in shown]
        return reply({"members": listed, "next": after})

    @api.post(
        GROUPS + "/{group_id}/invitations",
        response_model=StatusReply,
        operation_id="groups_invite",
        responses=errors_for(404, 409),
    )
    async def invite_to_group(user_id: Me, group_id: GroupId, body: s.InviteToGroup) -> JsonReply:
        outcome = await run(engine.invite_to_group, user_id, group_id, body.user)
        return reply({"status": outcome.value})

    @api.delete(
        GROUPS + "/{group_id}/members/{member}",
        response_model=StatusReply,
        operation_id="groups_remove_member",
        responses=errors_for(404, 409),
    )
    async def remove_group_member(
        user_id: Me, group_id: GroupId, member: s.UserIdPath
    ) -> JsonReply:
        if member == user_id:
            return reply({"status": (await run(engine.leave_group, user_id, group_id)).value})
        outcome = await run(engine.remove_group_member, user_id, group_id, member)
        return reply({"status": outcome.value})

    @api.get(
        INVITATIONS, response_model=GroupInvitationsReply, operation_id="group_invitations_list"
    )
    async def group_invitations(user_id: Me, page: InvitationPage) -> JsonReply:
        found = await run(engine.group_invitations, user_id, page.after or 0, page.fetch)
        shown, after = page.cut(found, lambda i: i.group_id)
        invitations = [shapes.group_invitation_json(i) for i in shown]
        return reply({"invitations": invitations, "next": after})

    @api.post(
        INVITATIONS + "/{group_id}/join",
        response_model=GroupReply,
        operation_id="group_invitations_join",
        responses=errors_for(404, 409),
    )
    async def join_group(user_id: Me, group_id: GroupId) -> JsonReply:
        return reply(shapes.group_json(await run(engine.join_group, user_id, group_id)))

    @api.post(
        INVITATIONS + "/{group_id}/decline",
        response_model=StatusReply,
        operation_id="group_invitations_decline",
        responses=errors_for(404),
    )
    async def decline_group_invitation(user_id: Me, group_id: GroupId) -> JsonReply:
        await run(engine.decline_group_invitation, user_id, group_id)
        return reply({"status": "declined"})

    @api.get(
        "/v1/users/{user_id}/shared-groups/{other}",
        response_model=SharedGroupsReply,
        operation_id="groups_shared",
        responses=errors_for(404),
    )
    async def shared_groups(user_id: Me, other: s.UserIdPath) -> JsonReply:
        view = await run(engine.shared_groups, user_id, other)
        shared = {
            "other": view.other,
            "groups": [shapes.group_json(g) for g in view.groups],
            "removed_you_at": shapes.iso(view.removed_you_at),
        }
        return reply(shared)

    return api
