"""Service credentials, managed with the admin key or a credential with `admin:read` (list) /
`admin:write` (the rest). A credential gives no scope it does not hold itself."""

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends

from hushan.api import schemas as s
from hushan.api import shapes
from hushan.api.context import Context, reply
from hushan.api.openapi import errors_for
from hushan.api.paging import TIMED, Page, pages
from hushan.api.replies import (
    CreatedCredentialReply,
    CredentialsReply,
    JsonReply,
    StatusReply,
)
from hushan.domain.credentials import Scope
from hushan.store.base import FROM_START

CredentialPage = Annotated[Page[tuple[datetime, str]], Depends(pages("credentials", TIMED))]


def router(ctx: Context) -> APIRouter:
    engine, run = ctx.engine, ctx.pool.run
    Held = Annotated[frozenset[Scope], Depends(ctx.guards.admin)]
    api = APIRouter(tags=["admin"])

    @api.post(
        "/v1/admin/credentials",
        status_code=201,
        response_model=CreatedCredentialReply,
        operation_id="admin_credentials_create",
    )
    async def create(body: s.CreateCredential, held: Held) -> JsonReply:
        """A new credential; its secret is in this reply and nowhere else, ever."""
        credential, secret = await run(engine.create_credential, body.name, body.scopes, held)
        return reply(shapes.credential_json(credential, secret), 201)

    @api.get(
        "/v1/admin/credentials",
        response_model=CredentialsReply,
        operation_id="admin_credentials_list",
    )
    async def listed(_: Held, page: CredentialPage) -> JsonReply:
        found = await run(engine.list_credentials, page.after or FROM_START, page.fetch)
        shown, after = page.cut(found, lambda c: (c.created_at, c.id))
        return reply({"credentials": [shapes.credential_json(c) for c in shown], "next": after})

    @api.post(
        "/v1/admin/credentials/{credential_id}/rotate",
        response_model=CreatedCredentialReply,
        operation_id="admin_credentials_rotate",
        responses=errors_for(404),
    )
    async def rotate(
        credential_id: s.CredentialId, held: Held, body: s.RotateCredential | None = None
    ) -> JsonReply:
        """A new secret; the one before works `overlap_seconds` longer."""
        overlap = timedelta(seconds=0 if body is None else body.overlap_seconds)
        credential, secret = await run(engine.rotate_credential, credential_id, overlap, held)
        return reply(shapes.credential_json(credential, secret))

    @api.delete(
        "/v1/admin/credentials/{credential_id}",
        response_model=StatusReply,
        operation_id="admin_credentials_revoke",
        responses=errors_for(404),
    )
    async def revoke(credential_id: s.CredentialId, held: Held) -> JsonReply:
        """Revoked at once, every secret of it: `revoked`, or `already_revoked`."""
        revoked = await run(engine.revoke_credential, credential_id, held)
        return reply({"status": "revoked" if revoked else "already_revoked"})

    return api
