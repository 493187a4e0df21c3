"""A circuit breaker per data source, shared by every worker through the cache.

Closed, a source is called as usual; every failed call adds one to a counter and every success
resets it. When the counter reaches ``TIDINGS_DATASOURCE_BREAKER_FAILURES`` the breaker opens: an
"open until" instant is stored and nobody calls the source for
``TIDINGS_DATASOURCE_BREAKER_COOLOFF_SECONDS``, so a dead CRM costs one cache read per chunk instead
of a timeout per message. After the cool-off one worker wins a short-lived trial lock and lets a
single call through: success closes the breaker, failure opens it for another cool-off.

The state lives in the cache (Redis in production). Losing it, say to eviction, only closes the
breaker early, which the next failures put right.
"""

from __future__ import annotations

import enum
import math
import time

from django.conf import settings
from django.core.cache import cache

from campaigns.models import DataSource

# Long enough to outlive any cool-off, short enough that forgotten sources leave nothing behind.
STATE_TTL_SECONDS = 24 * 3600
# Failures further apart than this are not "in a row" any more.
FAILURE_MEMORY_SECONDS = 3600


class Gate(enum.Enum):
    CLOSED = "closed"  # call as usual
    OPEN = "open"  # do not call
    TRIAL = "trial"  # the cool-off is over and this caller may make one trial call


def now() -> float:
    """Wall-clock seconds, shared by every machine (and replaceable in tests)."""
    return time.time()


def open_until_key(source: DataSource) -> str:
    return f"pds:{source.pk}:breaker:open_until"


def _failures_key(source: DataSource) -> str:
    return f"pds:{source.pk}:breaker:failures"


def _trial_key(source: DataSource) -> str:
    return f"pds:{source.pk}:breaker:trial"


def gate(source: DataSource, *, open_until: float | None) -> Gate:
    """Whether `source` may be called, given the "open until" value read with the chunk's data."""
    if open_until is None:
        return Gate.CLOSED
    if now() < open_until:
        return Gate.OPEN
    # Only one worker gets the trial; the lock expires in case that worker dies mid-call.
    trial_seconds = math.ceil(source.timeout_seconds) + 5
    if cache.add(_trial_key(source), 1, timeout=trial_seconds):
        return Gate.TRIAL
    return Gate.OPEN


def record_failure(source: DataSource) -> bool:
    """Count a failed call; True when the breaker is open now (it opened, or it was already)."""
    key = _failures_key(source)
    cache.add(key, 0, timeout=FAILURE_MEMORY_SECONDS)
    failures = cache.incr(key)
    if failures >= settings.TIDINGS_DATASOURCE_BREAKER_FAILURES:
        trip(source)
        return True
    return False


def record_success(source: DataSource) -> None:
    cache.delete(_failures_key(source))


def trip(source: DataSource) -> None:
    """Open the breaker for one cool-off from now (also after a failed trial)."""
    cooloff = settings.TIDINGS_DATASOURCE_BREAKER_COOLOFF_SECONDS
    cache.set(open_until_key(source), now() + cooloff, timeout=STATE_TTL_SECONDS)
    cache.delete(_trial_key(source))


def close(source: DataSource) -> None:
    cache.delete_many([open_until_key(source), _failures_key(source), _trial_key(source)])


def is_open(source: DataSource) -> bool:
    """For display (admin, API): is the source currently not being called?"""
    open_until = cache.get(open_until_key(source))
    return open_until is not None and now() < open_until
