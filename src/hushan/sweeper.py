"""The background loop: the purge sweep (Rule 5) and a checkpoint of the transparency log,
every interval. `hushan worker` runs it as a process of its own (and `hushan serve` starts
one), so background work can be placed (and scaled) apart from the API."""

from __future__ import annotations

import logging
import threading

from hushan.service import Hushan

log = logging.getLogger("hushan.sweeper")


class Sweeper:
    """Runs `engine.sweep()` now and then every `interval` seconds until stopped.

    A failing sweep is logged and retried at the next tick: every sweep step is idempotent,
    so retrying is always safe.
    """

    def __init__(
        self, engine: Hushan, interval: float, stop: threading.Event | None = None
    ) -> None:
        self._engine = engine
        self._interval = interval
        self._stop = stop or threading.Event()  # set from outside, e.g. by a signal handler

    @property
    def interval(self) -> float:
        return self._interval

    def stop(self) -> None:
        """End the loop after the current round (safe from a signal handler or a thread)."""
        self._stop.set()

    def run(self) -> None:
        """Run the loop in the calling thread until `stop()`."""
        while not self._stop.is_set():
            try:
                report = self._engine.sweep()
                if report.did_work:
                    log.info("sweep: %s", report)
            except Exception:
                log.exception("sweep failed; retrying at the next interval")
            self._stop.wait(self._interval)
