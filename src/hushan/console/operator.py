"""The operator's console under /console/admin/: who may read the admin API (the admin key, or a
service credential with `admin:read`) looks up a pair, reads the audit log and the transparency
log's head. Reads only: every change an operator makes still goes through the API or the CLI.

Signing in takes the admin key or the credential's secret once; the session then holds neither
(hushan.console.session.OperatorSessions).
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hushan.console.session import OPERATOR, OperatorSessions, clear_cookie, set_cookie
from hushan.domain import credentials as scopes
from hushan.domain import errors as e
from hushan.domain.credentials import SECRET_PREFIX
from hushan.domain.model import AuditAction
from hushan.domain.rules import check_user_id
from hushan.domain.webhooks import DeliveryState
from hushan.service.engine import NO_ID_ABOVE
from hushan.store.base import FROM_START

if TYPE_CHECKING:  # pages imports this module
    from hushan.console.pages import Console, UserError

BASE = "/console/admin"
ADMIN = "admin"  # the principal of a session signed in with the admin key
SESSION_SECONDS = 8 * 3600
AUDIT_ROWS = 200  # audit entries read per page, before the filters
BACKLOG_ROWS = 100  # waiting erasures and live legal holds shown
Values = dict[str, Any]
UserQuery = Annotated[str, Query(max_length=64)]


def _labels(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))


class Operator:
    def __init__(self, console: Console, admin_key: str) -> None:
        self.console, self.key = console, admin_key
        self.sessions = OperatorSessions(admin_key)
        self.engine, self.run = console.engine, console.run

    def _now(self) -> int:
        return int(self.engine.clock.now().timestamp())

    async def principal(self, request: Request) -> str | None:
        """Who is signed in: `admin`, a live credential's id, or None."""
        found = self.sessions.read(request.cookies.get(OPERATOR), self._now())
        if found is None or found == ADMIN:
            return found
        credential = await self.run(self.engine.live_credential, found)
        if credential is None or scopes.Scope.ADMIN_READ not in credential.scopes:
            return None
        return found

    async def sign_in(self, request: Request) -> Response:
        def refused(error: e.HushanError) -> Response:
            failed = self.console.failure(error)
            return self.console.render(
                request, "sign_in.html", failed.status, None, failed, operator_form=True
            )

        try:
            secret = (await self.console.form(request)).get("secret", "").strip()
            principal = await self._principal_of(secret)
        except e.HushanError as error:
            return refused(error)
        response = RedirectResponse(f"{BASE}/pair", 303)
        expires = self._now() + SESSION_SECONDS
        set_cookie(request, response, OPERATOR, self.sessions.make(principal, expires))
        return response

    async def _principal_of(self, secret: str) -> str:
        if hmac.compare_digest(secret.encode(), self.key.encode()):
            return ADMIN
        if not secret.startswith(SECRET_PREFIX):
            raise e.Unauthenticated()
        credential = await self.run(self.engine.authenticate_service, secret, None)
        scopes.require(credential.scopes, scopes.Scope.ADMIN_READ)
        return credential.id

    async def sign_out(self, request: Request) -> Response:
        try:
            await self.console.form(request)
        except e.CsrfTokenInvalid as forged:
            return await self.page(request, "pair", {}, self.console.failure(forged))
        response = self.console.render(request, "signed_out.html", message="signed_out")
        clear_cookie(request, response, OPERATOR)
        return response

    async def page(
        self, request: Request, name: str, values: Values, error: UserError | None = None
    ) -> Response:
        principal = await self.principal(request)
        if principal is None:
            return RedirectResponse(f"{BASE}/sign-in", 303)
        status = 200 if error is None else error.status
        return self.console.render(
            request,
            f"operator_{name}.html",
            status,
            None,
            error,
            operator=principal,
            page=name,
            **values,
        )

    async def shown(
        self, request: Request, name: str, load: Callable[[], Awaitable[Values]]
    ) -> Response:
        """A page whose data is read only once the operator is known."""
        if await self.principal(request) is None:
            return RedirectResponse(f"{BASE}/sign-in", 303)
        try:
            values = await load()
        except e.HushanError as failed:
            return await self.page(request, name, {}, self.console.failure(failed))
        return await self.page(request, name, values)

    # ---- the pages --------------------------------------------------------------------------
    async def pair(self, a: str, b: str) -> Values:
        if not a and not b:
            return {"a": a, "b": b, "inspection": None}
        inspection = await self.run(self.engine.inspect_pair, check_user_id(a), check_user_id(b))
        return {"a": a, "b": b, "inspection": inspection}

    async def audit(self, user: str, action: str, before: int | None) -> Values:
        """A page of AUDIT_ROWS entries, the newest first, filtered: the filters read only
        the page, so that no filter makes a request scan the whole log."""
        found = await self.run(self.engine.recent_audit, before, AUDIT_ROWS)
        shown = [
            x
            for x in found
            if (not user or user in (x.user_a, x.user_b, x.actor))
            and (not action or x.action.value == action)
        ]
        older = found[-1].seq if len(found) == AUDIT_ROWS else None
        return {
            "entries": shown,
            "user_filter": user,
            "action": action,
            "actions": [a.value for a in AuditAction],
            "read_from": found[0].seq if found else None,
            "read_to": found[-1].seq if found else None,
            "older": older,
            "paged": before is not None,
        }

    async def backlog(self) -> Values:
        return {
            "backlog": await self.run(self.engine.backlog, BACKLOG_ROWS),
            "holds": await self.run(self.engine.list_holds, FROM_START, BACKLOG_ROWS, True),
        }

    async def webhooks(self, state: str) -> Values:
        chosen = DeliveryState(state) if state else None
        return {
            "endpoints": await self.run(self.engine.list_endpoints),
            "deliveries": await self.run(
                self.engine.list_deliveries, None, chosen, NO_ID_ABOVE, BACKLOG_ROWS
            ),
            "state": state,
            "states": [s.value for s in DeliveryState],
        }

    async def metrics(self, request: Request) -> Values:
        """The counters of `/metrics` (hushan.api.observe), read as Prometheus would; the
        histograms' buckets are left out, their counts and sums kept."""
        scrape: Callable[[], bytes] = request.app.state.scrape
        text = (await asyncio.to_thread(scrape)).decode()
        samples = [
            (sample.name, _labels(sample.labels), sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if not sample.name.endswith(("_bucket", "_created"))
        ]
        return {"samples": samples}

    async def log(self) -> Values:
        size, seq = await self.run(self.engine.log.head)
        latest = await self.run(self.engine.log.latest_checkpoint)
        return {
            "size": size,
            "seq": seq,
            "checkpoint": latest,
            "log_key": str(self.engine.log.signer.verifier),
        }

    # ---- the routes -------------------------------------------------------------------------
    def router(self) -> APIRouter:
        api = APIRouter(include_in_schema=False)

        @api.get(f"{BASE}/sign-in")
        async def sign_in_page(request: Request) -> Response:
            return self.console.render(request, "sign_in.html", operator_form=True)

        api.add_api_route(f"{BASE}/sign-in", self.sign_in, methods=["POST"])
        api.add_api_route(f"{BASE}/sign-out", self.sign_out, methods=["POST"])

        @api.get(f"{BASE}/pair")
        async def pair(request: Request, a: UserQuery = "", b: UserQuery = "") -> Response:
            return await self.shown(request, "pair", lambda: self.pair(a.strip(), b.strip()))

        @api.get(f"{BASE}/audit")
        async def audit(
            request: Request,
            user: UserQuery = "",
            action: Annotated[str, Query(max_length=64)] = "",
            before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
        ) -> Response:
            return await self.shown(
                request, "audit", lambda: self.audit(user.strip(), action, before)
            )

        @api.get(f"{BASE}/backlog")
        async def backlog(request: Request) -> Response:
            return await self.shown(request, "backlog", self.backlog)

        @api.get(f"{BASE}/webhooks")
        async def webhooks(
            request: Request,
            state: Annotated[DeliveryState | None, Query()] = None,
        ) -> Response:
            chosen = "" if state is None else state.value
            return await self.shown(request, "webhooks", lambda: self.webhooks(chosen))

        @api.get(f"{BASE}/metrics")
        async def metrics(request: Request) -> Response:
            return await self.shown(request, "metrics", lambda: self.metrics(request))

        @api.get(f"{BASE}/log")
        async def log(request: Request) -> Response:
            return await self.shown(request, "log", self.log)

        return api
