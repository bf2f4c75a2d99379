"""Friend requests: send, list, accept, reject, withdraw."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends

from hushan.api import schemas as s
from hushan.api import shapes
from hushan.api.context import Context, reply
from hushan.api.openapi import errors_for
from hushan.api.paging import ROW_ID, Page, pages
from hushan.api.replies import JsonReply, RequestsReply, StatusReply

REQUESTS = "/v1/users/{user_id}/requests"
RequestPage = Annotated[Page[int], Depends(pages("requests", ROW_ID))]


def router(ctx: Context) -> APIRouter:
    engine, run = ctx.engine, ctx.pool.run
    Me = Annotated[str, Depends(ctx.guards.me)]
    api = APIRouter(tags=["requests"])

    @api.post(
        REQUESTS,
        response_model=StatusReply,
        operation_id="requests_send",
        responses=errors_for(404, 409),
    )
    async def send_request(user_id: Me, body: s.SendRequest) -> JsonReply:
        outcome = await run(engine.send_request, user_id, body.to, body.message)
        return reply({"status": outcome.value})

    @api.get(REQUESTS, response_model=RequestsReply, operation_id="requests_list")
    async def list_requests(
        user_id: Me, page: RequestPage, direction: Literal["incoming", "outgoing"] = "incoming"
    ) -> JsonReply:
        incoming = direction == "incoming"
        found = await run(engine.list_requests, user_id, incoming, page.after or 0, page.fetch)
        shown, after = page.cut(found, lambda r: r.id)
        return reply({"requests": [shapes.request_json(r) for r in shown], "next": after})

    @api.post(
        REQUESTS + "/{requester}/accept",
        response_model=StatusReply,
        operation_id="requests_accept",
        responses=errors_for(404, 409),
    )
    async def accept_request(user_id: Me, requester: s.UserIdPath) -> JsonReply:
        return reply({"status": (await run(engine.accept_request, user_id, requester)).value})

    @api.post(
        REQUESTS + "/{requester}/reject",
        response_model=StatusReply,
        operation_id="requests_reject",
        responses=errors_for(404),
    )
    async def reject_request(user_id: Me, requester: s.UserIdPath) -> JsonReply:
        return reply({"status": (await run(engine.reject_request, user_id, requester)).value})

    @api.delete(
        REQUESTS + "/{other}",
        response_model=StatusReply,
        operation_id="requests_withdraw",
        responses=errors_for(404),
    )
    async def withdraw_request(user_id: Me, other: s.UserIdPath) -> JsonReply:
        return reply({"status": (await run(engine.withdraw_request, user_id, other)).value})

    return api
