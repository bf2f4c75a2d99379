"""Devices, the sync feed (by page, long-poll or Server-Sent Events) and the data residue."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import WithJsonSchema

from hushan.api import events, shapes
from hushan.api import schemas as s
from hushan.api.context import Context, reply
from hushan.api.openapi import errors_for
from hushan.api.paging import TIMED, Page, pages
from hushan.api.replies import (
    ChangesReply,
    DeviceReply,
    DevicesReply,
    JsonReply,
    ResiduesReply,
    StatusReply,
)
from hushan.domain.sync import ChangesPage
from hushan.store.base import FROM_START

DEVICES = "/v1/users/{user_id}/devices"
# Ids are 16 hex digits; other id-like strings are looked up (and not found), the rest refused
# before a query (PostgreSQL cannot even compare a NUL).
DeviceId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.\-]{1,32}$")]
After = Annotated[s.Cursor | None, Query()]
FEED_ERRORS = errors_for(404, 410)
# A header is there or not: never `null`, which the default schema of an optional one allows.
LastEventId = Annotated[s.Cursor | None, Header(), WithJsonSchema(s.CURSOR_SCHEMA)]
DevicePage = Annotated[Page[tuple[datetime, str]], Depends(pages("devices", TIMED))]


def router(ctx: Context) -> APIRouter:
    engine, run, watcher = ctx.engine, ctx.pool.run, ctx.watcher
    Me = Annotated[str, Depends(ctx.guards.me)]
    api = APIRouter(tags=["devices"])

    @api.post(
        DEVICES,
        status_code=201,
        response_model=DeviceReply,
        operation_id="devices_register",
        responses=errors_for(409),
    )
    async def register_device(user_id: Me, body: s.RegisterDevice) -> JsonReply:
        device = await run(engine.register_device, user_id, body.name)
        return reply(shapes.device_json(device), 201)

    @api.get(DEVICES, response_model=DevicesReply, operation_id="devices_list")
    async def list_devices(user_id: Me, page: DevicePage) -> JsonReply:
        found = await run(engine.devices, user_id, page.after or FROM_START, page.fetch)
        shown, after = page.cut(found, lambda d: (d.registered_at, d.id))
        return reply({"devices": [shapes.device_json(d) for d in shown], "next": after})

    @api.delete(
        DEVICES + "/{device}",
        response_model=StatusReply,
        operation_id="devices_remove",
        responses=errors_for(404),
    )
    async def remove_device(user_id: Me, device: DeviceId) -> JsonReply:
        await run(engine.remove_device, user_id, device)
        return reply({"status": "removed"})

    @api.get(
        DEVICES + "/{device}/changes",
        response_model=ChangesReply,
        operation_id="devices_changes",
        responses=FEED_ERRORS,
    )
    async def device_changes(
        user_id: Me,
        device: DeviceId,
        after: After = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        wait: Annotated[float, Query(ge=0, le=60)] = 0,
    ) -> JsonReply:
        """With `wait`, a long-poll: held until a change arrives or `wait` seconds pass."""
        page = await run(engine.device_changes, user_id, device, after, limit)
        if wait and page.next_cursor == page.after:  # nothing yet: wait for it
            start = page.after
            deadline = asyncio.get_running_loop().time() + wait
            async with watcher.waiting(user_id) as woken:
                # Registered now: look again, so that a change just before is not missed.
                page = await run(engine.device_changes, user_id, device, start, limit)
                while page.next_cursor == start:
                    remaining = deadline - asyncio.get_running_loop().time()
                    if remaining <= 0:
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woken.wait(), remaining)
                    woken.clear()
                    page = await run(engine.device_changes, user_id, device, start, limit)
        return reply(shapes.changes_json(page))

    async def first_page(
        user_id: Me,
        device: DeviceId,
        after: After = None,
        # Only ever the `id` of an event this endpoint sent, so anything else is refused
        # (422), not ignored: a client that sends a cursor means to resume from it.
        last_event_id: LastEventId = None,
    ) -> ChangesPage:
        """Read before the stream starts, so that its errors are plain JSON errors."""
        start = after if after is not None else last_event_id
        return await run(engine.device_changes, user_id, device, start, events.PAGE)

    @api.get(
        DEVICES + "/{device}/events",
        response_class=EventSourceResponse,
        operation_id="devices_events",
        responses=FEED_ERRORS,
    )
    async def device_events(
        user_id: Me, device: DeviceId, first: Annotated[ChangesPage, Depends(first_page)]
    ) -> AsyncIterator[ServerSentEvent]:
        """The feed as Server-Sent Events (hushan.api.events); `Last-Event-ID` resumes."""

        def after(cursor: int) -> Awaitable[ChangesPage]:
            return run(engine.device_changes, user_id, device, cursor, events.PAGE)

        async for sent in events.change_events(after, watcher, user_id, first):
            yield sent

    @api.post(
        DEVICES + "/{device}/ack",
        response_model=DeviceReply,
        operation_id="devices_ack",
        responses=FEED_ERRORS,
    )
    async def acknowledge(user_id: Me, device: DeviceId, body: s.Acknowledge) -> JsonReply:
        moved = await run(engine.acknowledge, user_id, device, body.cursor)
        return reply(shapes.device_json(moved))

    @api.get(
        "/v1/users/{user_id}/data-residue",
        response_model=ResiduesReply,
        operation_id="data_residue_get",
    )
    async def data_residue(user_id: Me) -> JsonReply:
        found = await run(engine.data_residue, user_id)
        return reply({"histories": [shapes.residue_json(r) for r in found]})

    return api
