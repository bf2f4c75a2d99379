"""The HTTP API: the app, composed of one router per area (hushan.api.routes).

Each handler authenticates (hushan.api.security), parses, calls one engine function and shapes
the reply. Handlers are `async` and run every engine call on the engine pool
(`await run(engine.x, ...)`, hushan.api.offload): the event loop itself never waits on the
database (docs/architecture.md). Replies are built as `JsonReply`s; the `response_model`s
exist for the OpenAPI document (hushan.api.openapi).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from hushan import __version__, logs
from hushan.api import errors, idempotency, observe, openapi
from hushan.api.body_limit import BodyLimit
from hushan.api.context import Context
from hushan.api.offload import EnginePool, PoolLimits
from hushan.api.query_names import refuse_unknown
from hushan.api.routes import (
    admin,
    cleanup,
    contacts,
    credentials,
    devices,
    groups,
    health,
    holds,
    log,
    messages,
    miniprograms,
    notices,
    official,
    orgs,
    platforms,
    posts,
    proposals,
    requests,
    tokens,
    users,
    webhooks,
)
from hushan.api.security import Guards
from hushan.api.tokens_seen import TokensSeen
from hushan.api.watch import ChangeWatcher
from hushan.clock import OffsetClock
from hushan.config import Settings
from hushan.console import pages as console
from hushan.service import Hushan

AREAS = (
    users,
    tokens,
    requests,
    contacts,
    cleanup,
    messages,
    notices,
    posts,
    devices,
    groups,
    official,
    orgs,
    proposals,
    admin,
    holds,
    credentials,
    webhooks,
    platforms,
    miniprograms,
    log,
)


def from_environment() -> FastAPI:
    """The app of one of several API processes (`serve --workers N`): settings from HUSHAN_*.
    It shuts down (as on SIGTERM) if `serve` dies without stopping it."""
    import os
    import signal

    from hushan.bootstrap import admin_key, build
    from hushan.orphan import when_orphaned

    # The parent is named by serve: one that died while this process started is noticed too.
    serve = int(os.environ.get("HUSHAN_SERVE_PID", os.getppid()))
    when_orphaned(serve, lambda: os.kill(os.getpid(), signal.SIGTERM))
    settings = Settings()
    logs.configure(settings.log_format)
    return create_app(build(settings), admin_key(settings), settings=settings)


def create_app(
    engine: Hushan,
    admin_key: str,
    test_clock: OffsetClock | None = None,
    settings: Settings | None = None,
) -> FastAPI:
    """Build the app. Engine calls run on the engine pool (hushan.api.offload), never on the
    event loop; background work (sweeps, checkpoints) runs elsewhere: `hushan worker`.
    `settings` (default: from the environment) give the pool, the body limit, the rate limits
    and observability."""
    settings = settings or Settings()
    pool = EnginePool(PoolLimits(settings.engine_threads, settings.max_pending_calls))
    watcher = ChangeWatcher(engine.store)
    guards = Guards(
        lambda token: pool.run(engine.authenticate_token, token),
        admin_key,
        lambda secret, user: pool.run(engine.authenticate_service, secret, user),
        # Late-bound: the engine's methods are timed (hushan.api.metrics) after this, and a
        # test clock may replace its clock.
        TokensSeen(lambda token: engine.authenticate_token(token), lambda: engine.clock.now()),
    )
    ctx = Context(engine, pool, watcher, guards, test_clock, bool(settings.erasures_in_worker))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            watcher.close()
            pool.close()
            engine.store.close()

    app = FastAPI(
        title="hushan",
        version=__version__,
        summary="Friend relationships: one-way, mutual and block-then-delete, with real erasure.",
        lifespan=lifespan,
        # A redirect to the path without its slash would be one more round trip that ends in
        # the same answer; an unknown path is a plain JSON 404 instead.
        redirect_slashes=False,
        docs_url=None,  # served by hushan.api.openapi, from the package
        redoc_url=None,
        # hushan's observability is its own (hushan.api.observe); FastAPI's OpenTelemetry
        # hooks would look their providers up on every request, to find none.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
        dependencies=[Depends(refuse_unknown)],
    )
    errors.install(app)
    # Inside the body limit: what it fingerprints was let through.
    idempotency.install(app, engine, pool.run, settings.busy_timeout_seconds)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    for area in AREAS:
        app.include_router(area.router(ctx))
    app.include_router(health.router())
    console.install(app, ctx, admin_key)
    # Last, so that its routes (/metrics, /readyz, /v1/admin/abuse) are matched after the API's.
    observe.install(app, engine, guards, admin_key, settings)
    openapi.install(app, engine.limits)
    return app
