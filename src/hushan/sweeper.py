"""The background loop that runs the purge sweep every interval (Rule 5)."""

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

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = self._engine.sweep()
                if report.did_work:
                    log.info("sweep: %s", report)
            except Exception:
                log.exception("sweep failed; retrying at the next interval")
            self._stop.wait(self._interval)
