"""Paced concurrent sending: every send leaves at a slot the shared token bucket handed out.

Throughput is requests in flight divided by Meta's latency (Little's law), so sends run
concurrently through the provider's `submit_template`; the cap is held by starting each request
no earlier than its reserved slot. An account-level error raises the stop flag, which cancels
everything that has not left yet: those messages go back to the queue untouched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from whatsapp.base import ProviderError, SendOutcome, TemplateMessage, WhatsAppProvider

from .throttle import Reservation

MAX_IDLE_WAIT_SECONDS = 1.0


@dataclass(frozen=True)
class SendJob:
    message_id: int
    message: TemplateMessage


def send_paced(
    *,
    provider: WhatsAppProvider,
    phone_number_id: str,
    jobs: Sequence[SendJob],
    reserve: Callable[[int], Reservation],
    stop: threading.Event,
) -> dict[int, SendOutcome]:
    """Send `jobs`, each at its own slot; returns outcomes by message id.

    Jobs missing from the result never left (a stop was raised before their slot).
    """

    def stop_on_account_error(future: Future[SendOutcome | None]) -> None:
        outcome = future.result()
        if isinstance(outcome, ProviderError) and outcome.stops_sending:
            stop.set()

    futures: dict[int, Future[SendOutcome | None]] = {}
    pending = list(jobs)
    while pending and not stop.is_set():
        reservation = reserve(len(pending))
        if reservation.count == 0:
            stop.wait(min(max(reservation.retry_after, 0.005), MAX_IDLE_WAIT_SECONDS))
            continue
        batch, pending = pending[: reservation.count], pending[reservation.count :]
        submitted = provider.submit_templates(
            phone_number_id,
            [(job.message, reservation.slot(index)) for index, job in enumerate(batch)],
            cancelled=stop,
        )
        for job, future in zip(batch, submitted, strict=True):
            future.add_done_callback(stop_on_account_error)
            futures[job.message_id] = future
    outcomes: dict[int, SendOutcome] = {}
    for message_id, future in futures.items():
        outcome = future.result()
        if outcome is not None:
            outcomes[message_id] = outcome
    return outcomes
