"""Webhook endpoints and their deliveries, for the admin key or a service credential with
`admin:read` (lists) / `admin:write` (the rest). docs/webhooks.md says what is sent."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from hushan.api import schemas as s
from hushan.api import shapes
from hushan.api.context import Context, reply
from hushan.api.openapi import errors_for
from hushan.api.paging import ROW_ID, Page, pages
from hushan.api.replies import (
    CreatedWebhookEndpointReply,
    JsonReply,
    ReplayedReply,
    StatusReply,
    WebhookAlertsReply,
    WebhookDeliveriesReply,
    WebhookDeliveryReply,
    WebhookEndpointReply,
    WebhookEndpointsReply,
    WebhookSecretReply,
)
from hushan.domain.webhooks import DeliveryState
from hushan.service.engine import NO_ID_ABOVE

PREFIX = "/v1/admin/webhooks"
DeliveryPage = Annotated[Page[int], Depends(pages("deliveries", ROW_ID))]
AlertPage = Annotated[Page[int], Depends(pages("alerts", ROW_ID))]


def router(ctx: Context) -> APIRouter:
    engine, run = ctx.engine, ctx.pool.run
    api = APIRouter(tags=["webhooks"], dependencies=[Depends(ctx.guards.admin)])

    @api.post(
        f"{PREFIX}/endpoints",
        status_code=201,
        response_model=CreatedWebhookEndpointReply,
        operation_id="webhooks_endpoints_create",
    )
    async def create(body: s.CreateWebhookEndpoint) -> JsonReply:
        """A new endpoint with its first `whsec_` secret; it gets the events committed after."""
        endpoint, secret = await run(engine.create_endpoint, body.url, body.event_types)
        return reply(shapes.endpoint_json(endpoint, secret), 201)

    @api.get(
        f"{PREFIX}/endpoints",
        response_model=WebhookEndpointsReply,
        operation_id="webhooks_endpoints_list",
    )
    async def listed() -> JsonReply:
        """Every endpoint, a disabled one with when and why."""
        found = await run(engine.list_endpoints)
        return reply({"endpoints": [shapes.endpoint_json(e) for e in found]})

    @api.delete(
        f"{PREFIX}/endpoints/{{endpoint_id}}",
        response_model=StatusReply,
        operation_id="webhooks_endpoints_delete",
        responses=errors_for(404),
    )
    async def delete(endpoint_id: s.EndpointId) -> JsonReply:
        """The endpoint goes, with its secrets and deliveries."""
        await run(engine.delete_endpoint, endpoint_id)
        return reply({"status": "deleted"})

    @api.post(
        f"{PREFIX}/endpoints/{{endpoint_id}}/enable",
        response_model=WebhookEndpointReply,
        operation_id="webhooks_endpoints_enable",
        responses=errors_for(404),
    )
    async def enable(endpoint_id: s.EndpointId) -> JsonReply:
        """Deliveries resume; its run of failures starts again."""
        return reply(shapes.endpoint_json(await run(engine.enable_endpoint, endpoint_id, True)))

    @api.post(
        f"{PREFIX}/endpoints/{{endpoint_id}}/disable",
        response_model=WebhookEndpointReply,
        operation_id="webhooks_endpoints_disable",
        responses=errors_for(404),
    )
    async def disable(endpoint_id: s.EndpointId) -> JsonReply:
        """Deliveries wait (they are kept) until it is enabled again."""
        return reply(shapes.endpoint_json(await run(engine.enable_endpoint, endpoint_id, False)))

    @api.post(
        f"{PREFIX}/endpoints/{{endpoint_id}}/rotate",
        response_model=WebhookSecretReply,
        operation_id="webhooks_endpoints_rotate",
        responses=errors_for(404),
    )
    async def rotate(
        endpoint_id: s.EndpointId, body: s.RotateWebhookSecret | None = None
    ) -> JsonReply:
        """A new secret; during the overlap each delivery is signed by every live secret."""
        overlap = timedelta(seconds=(body or s.RotateWebhookSecret()).overlap_seconds)
        secret = await run(engine.rotate_endpoint_secret, endpoint_id, overlap)
        return reply({"secret": secret})

    @api.get(
        f"{PREFIX}/deliveries",
        response_model=WebhookDeliveriesReply,
        operation_id="webhooks_deliveries_list",
    )
    async def deliveries(
        page: DeliveryPage,
        endpoint_id: Annotated[
            str | None, Query(pattern=r"^we_[0-9a-f]{16}$", max_length=19)
        ] = None,
        state: Annotated[DeliveryState | None, Query()] = None,
    ) -> JsonReply:
        """The newest first (docs/api.md, "Paging")."""
        before = NO_ID_ABOVE if page.after is None else page.after
        found = await run(engine.list_deliveries, endpoint_id, state, before, page.fetch)
        shown, after = page.cut(found, lambda d: d.id)
        return reply({"deliveries": [shapes.delivery_json(d) for d in shown], "next": after})

    @api.get(
        f"{PREFIX}/alerts",
        response_model=WebhookAlertsReply,
        operation_id="webhooks_alerts_list",
    )
    async def alerts(
        page: AlertPage, open_only: Annotated[bool, Query(alias="open")] = False
    ) -> JsonReply:
        """Endpoints the worker disabled after a run of failures, the newest first; `open=true`
        for those not enabled again since."""
        before = NO_ID_ABOVE if page.after is None else page.after
        found = await run(engine.list_webhook_alerts, open_only, before, page.fetch)
        shown, after = page.cut(found, lambda a: a.id)
        return reply({"alerts": [shapes.alert_json(a) for a in shown], "next": after})

    @api.post(
        f"{PREFIX}/deliveries/{{delivery_id}}/replay",
        response_model=WebhookDeliveryReply,
        operation_id="webhooks_deliveries_replay",
        responses=errors_for(404),
    )
    async def replay(delivery_id: Annotated[s.RowId, Path()]) -> JsonReply:
        """Sent again at once, whatever its state, with a full schedule of attempts."""
        return reply(shapes.delivery_json(await run(engine.replay_delivery, delivery_id)))

    @api.post(
        f"{PREFIX}/replay",
        response_model=ReplayedReply,
        operation_id="webhooks_replay_failures",
        responses=errors_for(404),
    )
    async def replay_failures(body: s.ReplayWebhookFailures) -> JsonReply:
        """Every delivery that failed for good since a time (of one endpoint, or all)."""
        count = await run(engine.replay_failures, body.since, body.endpoint_id)
        return reply({"replayed": count})

    return api
