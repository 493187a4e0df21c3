"""A throttle that never drops the last call: at most one run per interval, and always one run
that starts after the latest call."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TrailingThrottle:
    """Runs `action` at most once per `interval` seconds however often it is called.

    A call that comes sooner than `interval` after the previous run schedules one trailing run (on
    a timer thread) at the end of the interval; calls until then share it. So every call is
    followed by a run that starts after it — which is what makes it safe to skip work whose
    purpose is to notice something the caller has just done.
    """

    def __init__(self, action: Callable[[], None], *, interval: float) -> None:
        self._action = action
        self._interval = interval
        self._lock = threading.Lock()
        self._last_run = float("-inf")
        self._timer: threading.Timer | None = None

    def __call__(self) -> None:
        with self._lock:
            if self._timer is not None:
                return  # the scheduled run starts after this call
            wait = self._last_run + self._interval - time.monotonic()
            if wait > 0:
                self._timer = threading.Timer(wait, self._trailing_run)
                self._timer.daemon = True
                self._timer.start()
                return
            self._last_run = time.monotonic()
        self._action()

    def _trailing_run(self) -> None:
        # Cleared before the action runs, so a call made during the action schedules another run.
        with self._lock:
            self._timer = None
            self._last_run = time.monotonic()
        self._action()
