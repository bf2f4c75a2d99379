"""Liveness. (Readiness and metrics: hushan.api.observe.)"""

from fastapi import APIRouter

from hushan.api.context import reply
from hushan.api.replies import HealthReply, JsonReply


def router() -> APIRouter:
    api = APIRouter(tags=["operations"])

    @api.get("/healthz", response_model=HealthReply, operation_id="health_live")
    async def healthz() -> JsonReply:
        return reply({"status": "ok"})

    return api
