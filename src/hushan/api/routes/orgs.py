"""Organisations: the deployment (the admin key) creates them and binds their administrators
and members; a member sees the directory; an administrator decides enterprise link approvals,
starts handovers and reads their reports; a customer answers a handover."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path

from hushan.api import schemas as s
from hushan.api.context import Context, reply
from hushan.api.openapi import errors_for
from hushan.api.paging import ROW_ID, TEXT, Page, pages
from hushan.api.replies import (
    ApprovalReply,
    ApprovalsReply,
    DirectoryReply,
    HandoverReply,
    HandoversReply,
    JsonReply,
    OrgAdminsReply,
    OrgReply,
    RemovedReply,
    StatusReply,
)
from hushan.api.shapes import approval_json, handover_json, iso, org_json
from hushan.domain.orgs import Decision

ORG = "/v1/users/{user_id}/orgs/{org}"
ADMIN_ORG = "/v1/admin/orgs/{org}"
RowIdPath = Annotated[s.RowId, Path()]
DirectoryPage = Annotated[Page[str], Depends(pages("directory", TEXT))]  # by work id
ApprovalPage = Annotated[Page[int], Depends(pages("approvals", ROW_ID))]
HandoverPage = Annotated[Page[int], Depends(pages("handovers", ROW_ID))]


def router(ctx: Context) -> APIRouter:
    engine, run = ctx.engine, ctx.pool.run
    Me = Annotated[str, Depends(ctx.guards.me)]
    api = APIRouter(tags=["organisations"])
    admin_key = [Depends(ctx.guards.admin)]

    # ---- the deployment ------------------------------------------------------------------
    @api.post(
        "/v1/admin/orgs",
        status_code=201,
        response_model=OrgReply,
        operation_id="admin_orgs_create",
        responses=errors_for(404, 409),
        tags=["admin"],
        dependencies=admin_key,
    )
    async def create_org(body: s.CreateOrg) -> JsonReply:
        created = await run(engine.create_org, body.id, body.name, body.admin)
        return reply(org_json(created), 201)

    @api.put(
        ADMIN_ORG + "/admins/{admin}",
        response_model=StatusReply,
        operation_id="admin_orgs_set_admin",
        responses=errors_for(404),
        tags=["admin"],
        dependencies=admin_key,
    )
    async def set_admin(org: s.UserIdPath, admin: s.UserIdPath, body: s.SetOrgAdmin) -> JsonReply:
        changed = await run(engine.set_org_admin, org, admin, body.role)
        return reply({"status": "bound" if changed else "already_bound"})

    @api.get(
        ADMIN_ORG + "/admins",
        response_model=OrgAdminsReply,
        operation_id="admin_orgs_admins",
        responses=errors_for(404),
        tags=["admin"],
        dependencies=admin_key,
    )
    async def admins(org: s.UserIdPath) -> JsonReply:
        found = await run(engine.org_admins, org)
        shown = [{"id": a.user, "role": a.role.value, "since": iso(a.since)} for a in found]
        return reply({"admins": shown})

    @api.put(
        ADMIN_ORG + "/members/{member}",
        response_model=StatusReply,
        operation_id="admin_orgs_add_member",
        responses=errors_for(404, 409),
        tags=["admin"],
        dependencies=admin_key,
    )
    async def add_member(
        org: s.UserIdPath, member: s.UserIdPath, body: s.AddOrgMember
    ) -> JsonReply:
        added = await run(engine.add_org_member, org, member, body.work_id)
        return reply({"status": "added" if added else "already_member"})

    @api.delete(
        ADMIN_ORG + "/members/{member}",
        response_model=StatusReply,
        operation_id="admin_orgs_remove_member",
        responses=errors_for(404, 409),
        tags=["admin"],
        dependencies=admin_key,
    )
    async def remove_member(org: s.UserIdPath, member: s.UserIdPath) -> JsonReply:
        removed = await run(engine.remove_org_member, org, member)
        return reply({"status": "removed" if removed else "not_member"})

    # ---- members and administrators -----------------------------------------------------
    @api.get(
        ORG + "/directory",
        response_model=DirectoryReply,
        operation_id="orgs_directory",
        responses=errors_for(404),
    )
    async def directory(user_id: Me, org: s.UserIdPath, page: DirectoryPage) -> JsonReply:
        found = await run(engine.directory_view, user_id, org, page.after or "", page.fetch)
        shown, after = page.cut(found, lambda m: m.work_id)
        members = [{"id": m.user, "work_id": m.work_id, "since": iso(m.since)} for m in shown]
        return reply({"members": members, "next": after})

    @api.get(
        ORG + "/approvals",
        response_model=ApprovalsReply,
        operation_id="orgs_approvals",
        responses=errors_for(404, 409),
    )
    async def approvals(
        user_id: Me,
        org: s.UserIdPath,
        page: ApprovalPage,
        state: Literal["open", "all"] = "open",
    ) -> JsonReply:
        open_only, start = state == "open", page.after or 0
        found = await run(engine.org_approvals, user_id, org, open_only, start, page.fetch)
        shown, after = page.cut(found, lambda a: a.id)
        return reply({"approvals": [approval_json(a) for a in shown], "next": after})

    for decision in Decision:

        def decide(decision: Decision = decision) -> None:
            @api.post(
                ORG + f"/approvals/{{approval_id}}/{decision.value}",
                response_model=ApprovalReply,
                operation_id=f"orgs_approvals_{decision.value}",
                responses=errors_for(404, 409),
            )
            async def decide_approval(
                user_id: Me, org: s.UserIdPath, approval_id: RowIdPath
            ) -> JsonReply:
                decided = await run(engine.decide_approval, user_id, org, approval_id, decision)
                return reply(approval_json(decided))

        decide()

    @api.post(
        ORG + "/handovers",
        status_code=201,
        response_model=HandoverReply,
        operation_id="handovers_start",
        responses=errors_for(404, 409),
    )
    async def start_handover(user_id: Me, org: s.UserIdPath, body: s.StartHandover) -> JsonReply:
        started = await run(engine.start_handover, user_id, org, body.member, body.successors)
        return reply(handover_json(started), 201)

    @api.get(
        ORG + "/handovers/{handover_id}",
        response_model=HandoverReply,
        operation_id="handovers_report",
        responses=errors_for(404, 409),
    )
    async def handover_report(user_id: Me, org: s.UserIdPath, handover_id: RowIdPath) -> JsonReply:
        return reply(handover_json(await run(engine.handover_report, user_id, org, handover_id)))

    @api.post(
        ORG + "/members/{member}/remove-work-contacts",
        response_model=RemovedReply,
        operation_id="orgs_remove_work_contacts",
        responses=errors_for(404, 409),
    )
    async def remove_work_contacts(
        user_id: Me, org: s.UserIdPath, member: s.UserIdPath
    ) -> JsonReply:
        removed = await run(engine.remove_work_contacts, user_id, org, member)
        return reply({"removed": removed})

    # ---- customers --------------------------------------------------------------------------
    @api.get(
        "/v1/users/{user_id}/handovers",
        response_model=HandoversReply,
        operation_id="handovers_offered",
    )
    async def my_handovers(user_id: Me, page: HandoverPage) -> JsonReply:
        found = await run(engine.my_handovers, user_id, page.after or 0, page.fetch)
        shown, after = page.cut(found, lambda h: h.id)
        return reply({"handovers": [handover_json(h) for h in shown], "next": after})

    for accept in (True, False):

        def answer(accept: bool = accept) -> None:
            verb = "accept" if accept else "decline"

            @api.post(
                f"/v1/users/{{user_id}}/handovers/{{handover_id}}/{verb}",
                response_model=StatusReply,
                operation_id=f"handovers_{verb}",
                responses=errors_for(404, 409),
            )
            async def answer_handover(user_id: Me, handover_id: RowIdPath) -> JsonReply:
                state = await run(engine.answer_handover, user_id, handover_id, accept)
                return reply({"status": state.value})

        answer()

    return api
