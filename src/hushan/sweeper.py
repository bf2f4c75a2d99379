"""The background loop: the purge sweep (Rule 5) and a checkpoint of the transparency log,
every interval, erasure jobs as soon as they are queued, and webhook deliveries as soon as they
are due (`hushan.delivery`). `hushan worker` runs it as a
process of its own (and `hushan serve` starts one), so background work can be placed (and
scaled) apart from the API, and its CPU-bound Python never shares the API's interpreter lock."""

from __future__ import annotations

import logging
import threading

from hushan.delivery import Deliverer
from hushan.service import Hushan
from hushan.witnessing import Cosigning

log = logging.getLogger("hushan.sweeper")

# How often the worker asks for queued erasures (one indexed read of a table that holds only
# the erasures under way): soon enough that a small one is done within the API's wait for it.
ERASURE_POLL_SECONDS = 0.2
# How often an idle worker looks for events to relay and deliveries due.
WEBHOOK_POLL_SECONDS = 0.2


class Sweeper:
    """Runs `engine.sweep()` now and then every `interval` seconds until stopped (after each,
    the witnesses' cosigning, if any), and, in a thread of its own,
    `engine.finish_erasures()` every ERASURE_POLL_SECONDS.

    A failing sweep is logged and retried at the next tick: every sweep step is idempotent,
    so retrying is always safe. A failing erasure stays pending and is taken again once its
    claim lapses.
    """

    def __init__(
        self,
        engine: Hushan,
        interval: float,
        stop: threading.Event | None = None,
        erasure_poll: float = ERASURE_POLL_SECONDS,
        deliverer: Deliverer | None = None,
        webhook_poll: float = WEBHOOK_POLL_SECONDS,
        cosigning: Cosigning | None = None,
    ) -> None:
        self._engine = engine
        self._cosigning = cosigning
        self._deliverer = deliverer
        self._webhook_poll = webhook_poll
        self._interval = interval
        self._erasure_poll = erasure_poll
        self._stop = stop or threading.Event()  # set from outside, e.g. by a signal handler

    @property
    def interval(self) -> float:
        return self._interval

    def stop(self) -> None:
        """End the loop after the current round (safe from a signal handler or a thread)."""
        self._stop.set()

    def run(self) -> None:
        """Run the loop in the calling thread until `stop()` (and the erasure loop beside it,
        which finishes the erasure it is on before it ends)."""
        erasures = threading.Thread(target=self._erasures, name="hushan-erasures")
        erasures.start()
        webhooks = threading.Thread(target=self._webhooks, name="hushan-webhooks")
        if self._deliverer is not None:
            webhooks.start()
        try:
            while not self._stop.is_set():
                try:
                    report = self._engine.sweep()
                    if report.did_work:
                        log.info("sweep: %s", report)
                except Exception:
                    log.exception("sweep failed; retrying at the next interval")
                if self._cosigning is not None:
                    try:
                        self._cosigning.run_once()  # the checkpoint the sweep just signed
                    except Exception:
                        log.exception("cosigning failed; asking again at the next interval")
                self._stop.wait(self._interval)
        finally:
            self._stop.set()
            erasures.join()
            if self._deliverer is not None:
                webhooks.join()

    def _erasures(self) -> None:
        while not self._stop.is_set():
            try:
                finished = self._engine.finish_erasures(limit=1)
                if finished:
                    log.info("erasure finished")
                    continue  # another may be waiting
            except Exception:
                log.exception("an erasure failed; it is taken again once its claim lapses")
            self._stop.wait(self._erasure_poll)

    def _webhooks(self) -> None:
        assert self._deliverer is not None
        while not self._stop.is_set():
            try:
                if self._deliverer.run_once():
                    continue  # more may be due
            except Exception:
                log.exception("webhook delivery failed; its leases lapse and it is taken again")
            self._stop.wait(self._webhook_poll)
