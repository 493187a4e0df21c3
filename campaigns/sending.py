"""Paced concurrent sending: every send leaves at a slot the shared token bucket handed out.

Throughput is requests in flight divided by Meta's latency (Little's law), so sends run
concurrently; the cap is held by starting each request no earlier than its reserved slot. A stop
flag (an account-level error) cancels everything that has not left yet: those messages go back to
the queue untouched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from whatsapp.base import ProviderError, SendOutcome, TemplateMessage, WhatsAppProvider

from .throttle import Reservation


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
    concurrency: int,
    stop: threading.Event,
    on_outcome: Callable[[SendOutcome], None] | None = None,
) -> dict[int, SendOutcome]:
    """Send `jobs`, each at its own slot; returns outcomes by message id.

    Jobs missing from the result never left (a stop was raised before their slot).
    """
    outcomes: dict[int, SendOutcome] = {}
    lock = threading.Lock()

    def run(job: SendJob, slot: float) -> None:
        delay = slot - time.monotonic()
        if delay > 0 and stop.wait(delay):
            return
        if stop.is_set():
            return
        outcome = _send_one(provider, phone_number_id, job.message)
        with lock:
            outcomes[job.message_id] = outcome
        if isinstance(outcome, ProviderError) and outcome.stops_sending:
            stop.set()
        if on_outcome is not None:
            on_outcome(outcome)

    pending = list(jobs)
    workers = max(1, min(concurrency, len(pending)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tidings-send") as pool:
        futures = []
        while pending and not stop.is_set():
            reservation = reserve(len(pending))
            if reservation.count == 0:
                stop.wait(min(max(reservation.retry_after, 0.005), 1.0))
                continue
            batch, pending = pending[: reservation.count], pending[reservation.count :]
            futures.extend(
                pool.submit(run, job, reservation.slot(index)) for index, job in enumerate(batch)
            )
        for future in futures:
            future.result()
    return outcomes


def _send_one(
    provider: WhatsAppProvider, phone_number_id: str, message: TemplateMessage
) -> SendOutcome:
    try:
        return provider.send_template(phone_number_id, message)
    except Exception as error:  # a provider bug must not lose the other messages' outcomes
        from whatsapp.base import ErrorClass

        return ProviderError(
            message=f"unexpected error while sending: {error!r}",
            error_class=ErrorClass.PERMANENT,
            ambiguous=True,
            title="Unexpected error while sending",
        )
