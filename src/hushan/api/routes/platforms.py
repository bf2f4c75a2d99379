"""Linked platforms: the registry, acknowledgements and sync rates (admin), and a user's own
links (user). Which events a platform gets: hushan.domain.platforms."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from hushan.api import schemas as s
from hushan.api import shapes
from hushan.api.context import Context, reply
from hushan.api.openapi import errors_for
from hushan.api.paging import ROW_ID, Page, pages
from hushan.api.replies import (
    CreatedPlatformReply,
    JsonReply,
    PlatformsReply,
    StatusReply,
    SyncRateReply,
    UnbindCasesReply,
)
from hushan.service.engine import NO_ID_ABOVE

ADMIN = "/v1/admin/platforms"
LINKS = "/v1/users/{user_id}/platforms"
DAY = 86400
CasePage = Annotated[Page[int], Depends(pages("cases", ROW_ID))]


def router(ctx: Context) -> APIRouter:
    engine, run = ctx.engine, ctx.pool.run
    Me = Annotated[str, Depends(ctx.guards.me)]
    Admin = Depends(ctx.guards.admin)
    api = APIRouter(tags=["platforms"])

    @api.post(
        ADMIN,
        status_code=201,
        response_model=CreatedPlatformReply,
        operation_id="platforms_create",
        dependencies=[Admin],
    )
    async def create(body: s.CreatePlatform) -> JsonReply:
        """A platform and its own webhook endpoint (its `whsec_` secret in this reply)."""
        platform, secret = await run(
            engine.create_platform,
            body.name,
            body.url,
            body.asset_policy,
            body.permission_policy,
        )
        return reply(shapes.platform_json(platform, secret), 201)

    @api.get(
        ADMIN,
        response_model=PlatformsReply,
        operation_id="platforms_list",
        dependencies=[Admin],
    )
    async def listed() -> JsonReply:
        found = await run(engine.list_platforms)
        return reply({"platforms": [shapes.platform_json(p) for p in found]})

    @api.get(
        f"{ADMIN}/{{platform_id}}/sync",
        response_model=SyncRateReply,
        operation_id="platforms_sync_rate",
        responses=errors_for(404),
        dependencies=[Admin],
    )
    async def sync_rate(
        platform_id: s.PlatformId,
        window_seconds: Annotated[int, Query(ge=1, le=365 * DAY)] = DAY,
    ) -> JsonReply:
        """Acknowledged over emitted events whose change is in the window, with lag p50/p99."""
        rate = await run(engine.sync_rate, platform_id, timedelta(seconds=window_seconds))
        return reply(shapes.sync_rate_json(rate, window_seconds))

    @api.post(
        f"{ADMIN}/{{platform_id}}/deliveries/{{delivery_id}}/acknowledge",
        response_model=StatusReply,
        operation_id="platforms_acknowledge",
        responses=errors_for(404),
        dependencies=[Admin],
    )
    async def acknowledge(
        platform_id: s.PlatformId, delivery_id: Annotated[s.RowId, Path()]
    ) -> JsonReply:
        """The platform finished with an event it answered 202 (a purge it does later)."""
        await run(engine.acknowledge_delivery, platform_id, delivery_id)
        return reply({"status": "acknowledged"})

    @api.get(
        f"{ADMIN}/{{platform_id}}/cases",
        response_model=UnbindCasesReply,
        operation_id="platforms_cases_list",
        responses=errors_for(404),
        dependencies=[Admin],
    )
    async def cases(
        platform_id: s.PlatformId,
        page: CasePage,
        open_only: Annotated[bool, Query(alias="open")] = False,
        user_id: Annotated[s.UserId | None, Query()] = None,
    ) -> JsonReply:
        """The platform's cases of assets to unbind by hand, the newest first."""
        before = NO_ID_ABOVE if page.after is None else page.after
        found = await run(
            engine.list_unbind_cases, platform_id, user_id, open_only, before, page.fetch
        )
        shown, after = page.cut(found, lambda c: c.id)
        return reply({"cases": [shapes.unbind_case_json(c) for c in shown], "next": after})

    @api.post(
        f"{ADMIN}/{{platform_id}}/cases/{{case_id}}/done",
        response_model=StatusReply,
        operation_id="platforms_case_done",
        responses=errors_for(404),
        dependencies=[Admin],
    )
    async def case_done(
        platform_id: s.PlatformId, case_id: Annotated[s.RowId, Path()]
    ) -> JsonReply:
        """The user's assets are unbound: the case closes, and its event counts as
        acknowledged."""
        closed = await run(engine.unbind_case_done, platform_id, case_id)
        return reply({"status": "done" if closed else "already_done"})

    @api.get(LINKS, response_model=PlatformsReply, operation_id="platforms_linked")
    async def linked(user_id: Me) -> JsonReply:
        found = await run(engine.platforms_of, user_id)
        return reply({"platforms": [shapes.platform_json(p) for p in found]})

    @api.put(
        f"{LINKS}/{{platform_id}}",
        response_model=StatusReply,
        operation_id="platforms_link",
        responses=errors_for(404),
    )
    async def link(user_id: Me, platform_id: s.PlatformId) -> JsonReply:
        """The platform gets your events from now on, as your contacts' grades allow."""
        done = await run(engine.link_platform, user_id, platform_id, True)
        return reply({"status": "linked" if done else "already_linked"})

    @api.delete(
        f"{LINKS}/{{platform_id}}",
        response_model=StatusReply,
        operation_id="platforms_unlink",
        responses=errors_for(404),
    )
    async def unlink(user_id: Me, platform_id: s.PlatformId) -> JsonReply:
        done = await run(engine.link_platform, user_id, platform_id, False)
        return reply({"status": "unlinked" if done else "not_linked"})

    return api
