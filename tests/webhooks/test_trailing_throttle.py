"""The throttle in front of the acknowledgement path's 'is a drain queued?' question: it asks at
most once per interval, and every call is followed by an ask that starts after it."""

from __future__ import annotations

import threading
import time

from tests.support.waiting import wait_until
from webhooks.services.trailing_throttle import TrailingThrottle

INTERVAL = 0.05


class RecordingAction:
    def __init__(self) -> None:
        self.started: list[float] = []

    def __call__(self) -> None:
        self.started.append(time.monotonic())


def test_a_call_after_a_quiet_spell_runs_the_action_at_once_in_the_callers_thread():
    action = RecordingAction()
    throttle = TrailingThrottle(action, interval=INTERVAL)

    throttle()

    assert len(action.started) == 1


def test_a_burst_of_calls_runs_the_action_once_at_once_and_once_after_the_interval():
    action = RecordingAction()
    throttle = TrailingThrottle(action, interval=INTERVAL)

    first_call = time.monotonic()
    for _ in range(100):
        throttle()
    last_call = time.monotonic()
    wait_until(lambda: len(action.started) >= 2, timeout=2.0)
    time.sleep(INTERVAL * 3)

    assert len(action.started) == 2
    assert action.started[1] - action.started[0] >= INTERVAL * 0.9
    assert action.started[1] > last_call >= first_call


def test_every_call_is_followed_by_a_run_that_starts_after_it():
    action = RecordingAction()
    throttle = TrailingThrottle(action, interval=INTERVAL)
    calls: list[float] = []

    # Calls spread over several intervals, from two threads at once.
    def call_repeatedly() -> None:
        for _ in range(40):
            calls.append(time.monotonic())
            throttle()
            time.sleep(INTERVAL / 7)

    threads = [threading.Thread(target=call_repeatedly) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(INTERVAL * 3)

    assert all(any(run >= call for run in action.started) for call in calls)
    # Far fewer runs than calls: at most one per interval, plus the trailing one.
    elapsed = max(calls) - min(calls)
    assert len(action.started) <= elapsed / INTERVAL + 2
    assert len(action.started) < len(calls) / 3
