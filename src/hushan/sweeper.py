"""The background loop: the purge sweep (Rule 5) and a checkpoint of the transparency log,
every interval. `hushan serve` runs it in a thread; `hushan worker` runs it as a process of its
own, so background work can be placed (and scaled) apart from the API."""

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

    def __init__(self, engine: Hushan, interval: float) -> None:
        self._engine = engine
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hushan-sweeper", daemon=True)

    @property
    def interval(self) -> float:
        return self._interval

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def run(self) -> None:
        """Run the loop in the calling thread until `stop()` (e.g. from a signal handler)."""
        self._run()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = self._engine.sweep()
                if report.did_work:
                    log.info("sweep: %s", report)
            except Exception:
                log.exception("sweep failed; retrying at the next interval")
            self._stop.wait(self._interval)
