"""Paced concurrent sending: every send leaves at a slot the shared token bucket handed out.

Throughput is requests in flight divided by Meta's latency (Little's law), so sends run
concurrently through the provider's `submit_template`; the cap is held by starting each request
no earlier than its reserved slot.

Nothing may leave once the sender no longer owns the messages. The caller's `keep_going` is asked
before every reservation and while the last requests are in flight; it renews the claim's lease,
polls the campaign's status and answers with the instant after which nothing may leave (the
lease's end), or None to stop. That instant is enforced at the moment each request would leave,
not only when it is scheduled, so a request waiting for a connection cannot slip past its lease.
`hand_over` is the last word on each reserved batch, just before it is submitted: it re-checks
consent (withdrawn mid-chunk stops the send) and records the hand-over, from which on a send may
have reached Meta; slots run at most `RESERVATION_HORIZON_SECONDS` ahead, so a batch leaves within
that time of its hand-over. An account-level
error, a stop or an exception raised while scheduling closes the gate: whatever has not left yet
comes back without an outcome, to be queued again as it was, and whatever did leave is waited for
so its outcome can be recorded.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from whatsapp.base import ErrorClass, ProviderError, SendOutcome, TemplateMessage, WhatsAppProvider

from .throttle import Reservation

logger = logging.getLogger(__name__)

MAX_IDLE_WAIT_SECONDS = 1.0
RESERVATION_HORIZON_SECONDS = 0.1
# While the last requests are in flight, how often the caller is asked whether to go on.
COLLECT_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class SendJob:
    message_id: int
    message: TemplateMessage


@dataclass
class PacedResult:
    """Outcomes by message id; jobs missing from it never left.

    `error` is an exception raised while scheduling (Redis, the database): sending stopped there,
    but every request already handed over was waited for and is in `outcomes`.
    """

    outcomes: dict[int, SendOutcome] = field(default_factory=dict)
    submitted: set[int] = field(default_factory=set)
    error: BaseException | None = None


class SendGate(threading.Event):
    """The cancellation flag handed to the provider: set when stopped, and set by itself once
    `deadline` (a `time.monotonic()` instant) has passed, so no request leaves after it."""

    def __init__(self, deadline: float = float("inf")) -> None:
        super().__init__()
        self.deadline = deadline

    def is_set(self) -> bool:
        return self.stopped() or time.monotonic() >= self.deadline

    def stopped(self) -> bool:
        """Set explicitly (a stop, an error), as opposed to past the deadline."""
        return super().is_set()


def _always(deadline: float = float("inf")) -> Callable[[], float | None]:
    return lambda: deadline


def send_paced(
    *,
    provider: WhatsAppProvider,
    phone_number_id: str,
    jobs: Sequence[SendJob],
    reserve: Callable[[int, float], Reservation],
    hand_over: Callable[[list[SendJob]], list[SendJob]],
    keep_going: Callable[[], float | None] | None = None,
) -> PacedResult:
    """Send `jobs`, each at its own slot, while `keep_going` allows; see the module docstring.

    `reserve(wanted, horizon_seconds)` hands out up to `wanted` slots, none further ahead than
    the horizon (kept inside the lease, so no reserved slot is wasted past it).
    """
    keep_going = keep_going or _always()
    gate = SendGate()
    result = PacedResult()
    futures: dict[int, Future[SendOutcome | None]] = {}

    def stop_on_account_error(future: Future[SendOutcome | None]) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        outcome = future.result()
        if isinstance(outcome, ProviderError) and outcome.stops_sending:
            gate.set()

    pending = list(jobs)
    try:
        while pending and not gate.is_set():
            deadline = keep_going()
            if deadline is None:
                break
            gate.deadline = deadline
            horizon = min(RESERVATION_HORIZON_SECONDS, deadline - time.monotonic())
            if horizon <= 0:
                break
            reservation = reserve(len(pending), horizon)
            if reservation.count == 0:
                gate.wait(min(max(reservation.retry_after, 0.005), MAX_IDLE_WAIT_SECONDS))
                continue
            batch, pending = pending[: reservation.count], pending[reservation.count :]
            scheduled = [(job, reservation.slot(index)) for index, job in enumerate(batch)]
            # A slot past the lease may not be used: those jobs wait for the next reservation.
            late = [job for job, slot in scheduled if slot >= deadline]
            scheduled = [(job, slot) for job, slot in scheduled if slot < deadline]
            pending = late + pending
            if not scheduled:
                continue
            leaving = {job.message_id for job in hand_over([job for job, _ in scheduled])}
            scheduled = [(job, slot) for job, slot in scheduled if job.message_id in leaving]
            if not scheduled:
                continue
            submitted = provider.submit_templates(
                phone_number_id,
                [(job.message, slot) for job, slot in scheduled],
                cancelled=gate,
            )
            for (job, _), future in zip(scheduled, submitted, strict=True):
                future.add_done_callback(stop_on_account_error)
                futures[job.message_id] = future
                result.submitted.add(job.message_id)
    except Exception as error:
        logger.exception("sending stopped by an error; what did not leave goes back")
        result.error = error
        gate.set()
    result.outcomes = _collect(futures, gate, keep_going if result.error is None else None, result)
    return result


def _collect(
    futures: dict[int, Future[SendOutcome | None]],
    gate: SendGate,
    keep_going: Callable[[], float | None] | None,
    result: PacedResult,
) -> dict[int, SendOutcome]:
    """Wait for every submitted request, still honouring a stop or a lost lease meanwhile."""
    remaining = set(futures.values())
    while remaining:
        _, remaining = concurrent.futures.wait(remaining, timeout=COLLECT_POLL_SECONDS)
        if not remaining or keep_going is None or gate.stopped():
            continue
        try:
            deadline = keep_going()
        except Exception as error:
            logger.exception("checking a chunk in flight failed; what did not leave goes back")
            result.error = error
            deadline = None
            keep_going = None
        if deadline is None:
            gate.set()
        else:
            gate.deadline = deadline
    outcomes: dict[int, SendOutcome] = {}
    for message_id, future in futures.items():
        outcome = _outcome_of(future)
        if outcome is not None:
            outcomes[message_id] = outcome
    return outcomes


def _outcome_of(future: Future[SendOutcome | None]) -> SendOutcome | None:
    try:
        return future.result()
    except BaseException as error:
        # The request may have left before it broke: never treat it as not sent.
        logger.error("a send failed unexpectedly: %r", error)
        return ProviderError(
            message=f"unexpected error while sending: {error!r}",
            error_class=ErrorClass.PERMANENT,
            ambiguous=True,
            title="Unexpected error while sending",
        )
