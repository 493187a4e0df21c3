"""Tasks a test worker imports (`--include tests.support.broker_probe`) to show, through files
it leaves behind, what the worker ran: `hold` keeps a task unacknowledged for a while, `touch`
proves the worker is consuming."""

from __future__ import annotations

import time
from pathlib import Path

from celery import shared_task


@shared_task(acks_late=True, name="probe.hold")
def hold(started_marker: str, seconds: float) -> None:
    Path(started_marker).touch()
    time.sleep(seconds)


@shared_task(acks_late=True, name="probe.touch")
def touch(marker: str) -> None:
    Path(marker).touch()
