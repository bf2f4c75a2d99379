"""Messages: send, the chat list, a history."""

from typing import Annotated

from fastapi import APIRouter, Depends

from hushan.api import schemas as s
from hushan.api import shapes
from hushan.api.context import Context, reply
from hushan.api.openapi import errors_for
from hushan.api.paging import ROW_ID, TEXT, Page, pages
from hushan.api.replies import ConversationsReply, HistoryReply, JsonReply, MessageReply

ChatPage = Annotated[Page[str], Depends(pages("conversations", TEXT))]
MessagePage = Annotated[Page[int], Depends(pages("messages", ROW_ID))]


def router(ctx: Context) -> APIRouter:
    engine, run = ctx.engine, ctx.pool.run
    Me = Annotated[str, Depends(ctx.guards.me)]
    api = APIRouter(tags=["messages"])

    @api.post(
        "/v1/users/{user_id}/messages",
        status_code=201,
        response_model=MessageReply,
        operation_id="messages_send",
        responses={
            **errors_for(404, 409),
            200: {"model": MessageReply, "description": "Sent before, with this client_msg_id."},
        },
    )
    async def send_message(user_id: Me, body: s.SendMessage) -> JsonReply:
        sent, new = await run(engine.send, user_id, body.to, body.body, body.client_msg_id)
        return reply(shapes.message_json(sent), 201 if new else 200)

    @api.get(
        "/v1/users/{user_id}/conversations",
        response_model=ConversationsReply,
        operation_id="conversations_list",
    )
    async def chat_list(user_id: Me, page: ChatPage) -> JsonReply:
        found = await run(engine.chat_list, user_id, page.after or "", page.fetch)
        shown, after = page.cut(found, lambda c: c.other_id)
        return reply({"conversations": [shapes.chat_json(c) for c in shown], "next": after})

    @api.get(
        "/v1/users/{user_id}/conversations/{other}/messages",
        response_model=HistoryReply,
        operation_id="conversations_history",
        responses=errors_for(404),
    )
    async def history(user_id: Me, other: s.UserIdPath, page: MessagePage) -> JsonReply:
        found = await run(engine.history, user_id, other, page.after or 0, page.fetch)
        shown, after = page.cut(found.messages, lambda m: m.id)
        return reply({**shapes.history_json(found, shown), "next": after})

    return api
