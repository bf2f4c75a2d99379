"""Consensual mutual delete: propose, list, accept, decline, withdraw."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends

from hushan.api import schemas as s
from hushan.api import shapes
from hushan.api.context import Context, reply
from hushan.api.openapi import errors_for
from hushan.api.paging import ROW_ID, Page, pages
from hushan.api.replies import DeclinedReply, JsonReply, ProposalReply, ProposalsReply, StatusReply

PROPOSALS = "/v1/users/{user_id}/mutual-delete-proposals"
ProposalPage = Annotated[Page[int], Depends(pages("proposals", ROW_ID))]


def router(ctx: Context) -> APIRouter:
    engine, run = ctx.engine, ctx.pool.run
    Me = Annotated[str, Depends(ctx.guards.me)]
    api = APIRouter(tags=["proposals"])

    @api.post(
        PROPOSALS,
        status_code=201,
        response_model=ProposalReply,
        operation_id="proposals_create",
        responses=errors_for(404, 409),
    )
    async def propose_mutual_delete(user_id: Me, body: s.ProposeMutualDelete) -> JsonReply:
        proposal = await run(
            engine.propose_mutual_delete, user_id, body.to, body.message, body.remove_anyway
        )
        return reply(shapes.proposal_json(proposal), 201)

    @api.get(PROPOSALS, response_model=ProposalsReply, operation_id="proposals_list")
    async def list_proposals(
        user_id: Me, page: ProposalPage, direction: Literal["incoming", "outgoing"] = "incoming"
    ) -> JsonReply:
        incoming = direction == "incoming"
        found = await run(engine.list_proposals, user_id, incoming, page.after or 0, page.fetch)
        shown, after = page.cut(found, lambda p: p.id)
        return reply({"proposals": [shapes.proposal_json(p) for p in shown], "next": after})

    @api.post(
        PROPOSALS + "/{proposer}/accept",
        response_model=StatusReply,
        operation_id="proposals_accept",
        responses=errors_for(404, 409),
    )
    async def accept_mutual_delete(user_id: Me, proposer: s.UserIdPath) -> JsonReply:
        outcome = await run(engine.accept_mutual_delete, user_id, proposer)
        return reply({"status": outcome.value})

    @api.post(
        PROPOSALS + "/{proposer}/decline",
        response_model=DeclinedReply,
        operation_id="proposals_decline",
        responses=errors_for(404),
    )
    async def decline_mutual_delete(user_id: Me, proposer: s.UserIdPath) -> JsonReply:
        removed = await run(engine.decline_mutual_delete, user_id, proposer)
        return reply({"status": "declined", "removed_anyway": removed})

    @api.delete(
        PROPOSALS + "/{other}",
        response_model=StatusReply,
        operation_id="proposals_withdraw",
        responses=errors_for(404),
    )
    async def withdraw_mutual_delete(user_id: Me, other: s.UserIdPath) -> JsonReply:
        outcome = await run(engine.withdraw_mutual_delete, user_id, other)
        return reply({"status": outcome.value})

    return api
