"""Processes that serve starts must not outlive it, even when it is SIGKILLed (no cleanup runs
then): each child watches its parent and winds down once it is re-parented."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable


def when_orphaned(parent: int, stop: Callable[[], None], every: float = 0.2) -> None:
    """Call `stop` (once) as soon as this process's parent is no longer `parent`."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        stop()

    threading.Thread(target=watch, name="hushan-parent-watch", daemon=True).start()
