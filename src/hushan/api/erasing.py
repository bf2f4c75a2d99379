"""An account's erasure as the API and the console run it: the account goes at once, its data
as a job, by `hushan worker` (when erasures run in the worker) or on the engine pool."""

import asyncio
import logging

from hushan.api.context import Context

ERASURE_WAIT_SECONDS = 1.0  # an erasure done by then is answered as done, else as under way
ERASURE_CHECK_SECONDS = 0.05  # how often the wait asks whether a worker's erasure is done
log = logging.getLogger("hushan.api")


def _log_failed_erasure(job: asyncio.Future[object]) -> None:
    """An erasure job that failed stays pending; the sweep finishes it when its claim lapses."""
    if not job.cancelled() and job.exception() is not None:
        log.error("an erasure job failed; the sweep will finish it", exc_info=job.exception())


async def erase(ctx: Context, user_id: str) -> bool:
    """Erase the account: True when its data is gone within ERASURE_WAIT_SECONDS, False while
    the job still runs (GET /v1/admin/erasures/{user_id} tells when it is done)."""
    engine, run = ctx.engine, ctx.pool.run
    if ctx.erasures_in_worker:
        await run(engine.queue_erasure, user_id)
        return await _wait_for_worker(ctx, user_id)
    claim = await run(engine.begin_erasure, user_id)
    job = ctx.pool.submit(lambda: engine.complete_erasure(user_id, claim))
    done, _ = await asyncio.wait({job}, timeout=ERASURE_WAIT_SECONDS)
    if done:
        job.result()  # an error of its own is the caller's
        return True
    job.add_done_callback(_log_failed_erasure)
    return False


async def _wait_for_worker(ctx: Context, user_id: str) -> bool:
    """Ask (on the pool, the loop only sleeps) whether the worker is done, for up to
    ERASURE_WAIT_SECONDS."""
    deadline = asyncio.get_running_loop().time() + ERASURE_WAIT_SECONDS
    while await ctx.pool.run(ctx.engine.erasure_pending, user_id):
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(ERASURE_CHECK_SECONDS)
    return True
