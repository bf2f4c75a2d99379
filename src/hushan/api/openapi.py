"""The OpenAPI document: FastAPI's, completed with what hushan answers around the handlers, and
the Swagger UI page that browses it, served from the package (no CDN).

FastAPI documents what each route declares. What every route shares is added here, in one
place, from the same facts the server acts on: 401 and 403 where a credential is required
(hushan.api.security), the error body for 422 in place of FastAPI's `{"detail"}` (which hushan
never sends, hushan.api.errors), 400 and 413 where there is a body (hushan.api.body_limit),
429 where the rate limits apply (hushan.api.limits), 503 where an engine call may find the
pool full or the database busy; and the deployment's own limits (the longest message, the
most pairs per check, the least notice grade). Each error status lists its codes.
"""

from __future__ import annotations

from collections import defaultdict
from importlib.resources import files
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from hushan.api import errors, idempotency, limits
from hushan.api.replies import ErrorReply
from hushan.api.security import ACT_AS
from hushan.domain.credentials import MIN_TOKEN_TTL
from hushan.domain.errors import all_error_classes
from hushan.domain.notices import NoticeGrade
from hushan.service import Limits

ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorReply"}
SUMMARIES = {
    400: "The body is not JSON.",
    401: "No bearer token, or an unknown one (`WWW-Authenticate: Bearer`).",
    403: "The credential may not do this.",
    404: "Not found.",
    409: "Refused in the current state; nothing was changed.",
    410: "Gone.",
    413: "The body is over the deployment's limit.",
    422: "The request is not valid.",
    429: "Over a rate limit: retry after `Retry-After` seconds.",
    503: "Busy or unavailable; nothing was changed: retry after `Retry-After` seconds.",
}
# Operations that call no engine: never `503 busy` (a /readyz 503 is its own, declared there).
NO_ENGINE = frozenset({"health_live", "health_ready", "log_key", "metrics_get", "docs"})
ASSETS = "/static/docs"
TAGS = [
    {"name": "users", "description": "Accounts, tokens, settings, export and erasure."},
    {"name": "requests", "description": "Friend requests."},
    {"name": "contacts", "description": "Contacts, the three ways to part, and blocks."},
    {"name": "messages", "description": "Messages and histories."},
    {"name": "notices", "description": "Graded deletion notices and the relation view."},
    {"name": "posts", "description": "Posts, tags and layers."},
    {"name": "devices", "description": "Devices, the sync feed and the data residue."},
    {"name": "groups", "description": "Groups and the shared-group layer."},
    {"name": "proposals", "description": "Consensual mutual delete."},
    {"name": "log", "description": "The transparency log and deletion certificates."},
    {
        "name": "admin",
        "description": "Server to server, with the admin key or a service credential.",
    },
    {
        "name": "webhooks",
        "description": "Events out: webhook endpoints and their deliveries (docs/webhooks.md).",
    },
    {
        "name": "platforms",
        "description": "Linked platforms: registry, links, acknowledgements, sync rates.",
    },
    {
        "name": "miniprograms",
        "description": "Mini-programs: per-app OpenIDs, relationship-scoped grants, revocation.",
    },
    {"name": "operations", "description": "Liveness, readiness and metrics."},
]


def errors_for(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route for the errors its handler may answer (the statuses shared
    by every route are added by `document`)."""
    return {status: {"model": ErrorReply, "description": SUMMARIES[status]} for status in statuses}


def codes_by_status() -> dict[int, list[str]]:
    found: dict[int, set[str]] = defaultdict(set)
    for cls in all_error_classes():
        if not cls.__subclasses__():  # the abstract parents are never sent
            found[errors.status_for(cls())].add(cls.code)
    tables = (errors.HTTP_ONLY_CODES, limits.CODES, {"not_ready": (503, "")})
    for table in tables:
        for code, (status, _) in table.items():
            found[status].add(code)
    return {status: sorted(codes) for status, codes in found.items()}


def document(app: FastAPI, deployment: Limits) -> dict[str, Any]:
    doc = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        routes=app.routes,
        tags=TAGS,
    )
    codes = codes_by_status()
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if method.upper() not in idempotency.SAFE_METHODS:
                _keyed(operation)
            _complete(path, operation, codes)
    schemas = doc["components"]["schemas"]
    for unsent in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unsent, None)
    _deployment_limits(schemas, deployment)
    return doc


def _complete(path: str, operation: dict[str, Any], codes: dict[int, list[str]]) -> None:
    added: list[int] = []
    if operation.get("security"):
        added += [401, 403]
    headers = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "header"}
    if ACT_AS in headers:  # the user a service credential acts for may not exist
        added.append(404)
    if "requestBody" in operation:
        added += [400, 413, 422]
    if operation.get("parameters"):
        added.append(422)
    if path not in limits.UNLIMITED:
        added.append(429)
    if operation["operationId"] not in NO_ENGINE:
        added.append(503)
    responses = operation.setdefault("responses", {})
    for status in added:
        responses.setdefault(str(status), {"description": SUMMARIES[status]})
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            listed = ", ".join(f"`{c}`" for c in codes.get(int(status), []))
            response["description"] = f"{SUMMARIES.get(int(status), '')} Codes: {listed}."
            response["content"] = {"application/json": {"schema": ERROR_SCHEMA}}


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes a retry safe (docs/api.md, Idempotency): the same key with the same"
    " request within the deployment's window (24 h by default) replays the first reply, marked"
    " `Idempotent-Replayed: true`; with another request, `422 idempotency_key_reused`; while"
    " the first is in flight, `409 idempotency_key_in_flight`. The caller's own: 1-255 visible"
    " ASCII characters, bare or as a quoted string.",
    "schema": {"type": "string", "pattern": idempotency.KEY_PATTERN},
}


def _keyed(operation: dict[str, Any]) -> None:
    """Every non-GET operation takes an idempotency key (hushan.api.idempotency), and so may
    answer its 409 and 422."""
    operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
    responses = operation.setdefault("responses", {})
    for status in (409, 422):
        responses.setdefault(str(status), {"description": SUMMARIES[status]})


def _deployment_limits(schemas: dict[str, Any], deployment: Limits) -> None:
    """What the engine checks against the deployment's settings, in the schemas it applies to."""
    properties = {
        name: schemas[name]["properties"] for name in schemas if "properties" in schemas[name]
    }
    for model in ("SendMessage", "CreatePost"):
        properties[model]["body"]["maxLength"] = deployment.max_message_chars
    for model in ("SendRequest", "ProposeMutualDelete"):
        properties[model]["message"]["maxLength"] = deployment.max_verification_chars
    properties["RelationCheck"]["pairs"]["maxItems"] = deployment.relation_check_max_pairs
    properties["CleanupContacts"]["contacts"]["maxItems"] = deployment.cleanup_max_batch
    properties["CleanupContacts"]["contacts"]["uniqueItems"] = True
    for option in properties["MintToken"]["ttl_seconds"]["anyOf"]:
        if option.get("type") == "integer":  # (the other option is null: the default ttl)
            option["minimum"] = int(MIN_TOKEN_TTL.total_seconds())
            option["maximum"] = int(deployment.token_ttl.total_seconds())
    # A grade below the minimum is refused (notice_grade_below_minimum): not in the enum.
    allowed = [g.value for g in NoticeGrade if g.rank >= deployment.notice_minimum.rank]
    for option in properties["Settings"]["notice_grade"]["anyOf"]:
        if "$ref" in option:
            option.clear()
            option.update({"type": "string", "enum": allowed})


def install(app: FastAPI, deployment: Limits) -> None:
    """`/openapi.json` from `document`, and `/docs` with Swagger UI's own files."""
    cached: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not cached:
            cached.append(document(app, deployment))
        return cached[0]

    app.openapi = openapi  # type: ignore[method-assign]
    assets = files("fastapi_offline") / "static"
    app.mount(ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )
