"""Tasks a test worker imports (`--include tests.support.broker_probe`) to show, through files
it leaves behind, what the worker ran: `hold` keeps a slot busy and its message unacknowledged
for a while, `touch` proves the worker is consuming."""

from __future__ import annotations

import time
from pathlib import Path

from celery import shared_task


@shared_task(acks_late=True, name="probe.hold")
def hold(marker: str, seconds: float) -> None:
    Path(f"{marker}.started").touch()
    time.sleep(seconds)
    Path(f"{marker}.finished").touch()


@shared_task(acks_late=True, name="probe.touch")
def touch(marker: str) -> None:
    Path(marker).touch()
