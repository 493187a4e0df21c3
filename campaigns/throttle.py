"""The per-number send rate, shared by every worker: a GCRA token bucket in Redis.

Celery's `rate_limit` is per worker, so the cap Meta enforces per business phone number
(80/s by default, 1,000/s after the upgrade) must be held in one place all workers consult. Each
reservation is one Lua call that hands out a batch of evenly spaced send slots, `1/rate` apart,
starting at the bucket's "theoretical arrival time". Slots of different workers interleave and
never overlap, so any one-second window holds at most `rate` sends as long as each send leaves at
its slot. Reservations never run more than `horizon` ahead, which bounds how much a crashed worker
can waste.

Without Redis (the embedded single-machine default) the same algorithm runs in process memory,
which is exact for the one worker process that configuration has.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches

_RESERVE_SCRIPT = """
local interval = tonumber(ARGV[1])
local wanted = tonumber(ARGV[2])
local horizon = tonumber(ARGV[3])
local minimum = math.min(wanted, tonumber(ARGV[4]))
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local room = math.floor((now + horizon - tat) / interval)
if room < minimum then
  return {0, tat - horizon - now + minimum * interval}
end
local granted = math.min(wanted, room)
local new_tat = tat + granted * interval
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl_ms)
return {granted, tat - now}
"""

MICROSECONDS = 1_000_000
MINIMUM_GRANT_SECONDS = 0.05


@dataclass(frozen=True)
class Reservation:
    """`count` send slots: the first at `first_slot` (time.monotonic()), then every `interval`."""

    count: int
    first_slot: float
    interval: float
    retry_after: float = 0.0

    def slot(self, index: int) -> float:
        return self.first_slot + index * self.interval


def _safety_rate(rate_per_second: int) -> float:
    """A hair under the cap, so scheduling jitter on the wire cannot tip a window over it."""
    margin = float(getattr(settings, "TIDINGS_THROTTLE_SAFETY_MARGIN", 0.03))
    return max(rate_per_second * (1.0 - margin), 0.5)


class _LocalBuckets:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tat: dict[str, float] = {}

    def reserve(
        self, key: str, interval_us: int, wanted: int, horizon_us: int, minimum: int
    ) -> tuple[int, int]:
        with self._lock:
            now = int(time.time() * MICROSECONDS)
            tat = max(self._tat.get(key, 0), now)
            room = (now + horizon_us - tat) // interval_us
            minimum = min(wanted, minimum)
            if room < minimum:
                return 0, tat - horizon_us - now + minimum * interval_us
            granted = min(wanted, room)
            self._tat[key] = tat + granted * interval_us
            return granted, tat - now


_local_buckets = _LocalBuckets()


def _redis_client():
    """The raw Redis connection behind the default cache, or None without Redis."""
    from django_redis.cache import RedisCache

    if not isinstance(caches["default"], RedisCache):
        return None
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def reserve(
    *, sender_key: str, rate_per_second: int, wanted: int, horizon_seconds: float = 1.0
) -> Reservation:
    """Reserve up to `wanted` send slots for `sender_key` (a phone-number id)."""
    rate = _safety_rate(rate_per_second)
    interval_us = max(int(MICROSECONDS / rate), 1)
    # Below one slot per horizon nothing could ever be granted: look at least one slot ahead.
    horizon_us = max(int(horizon_seconds * MICROSECONDS), interval_us)
    # Waiting until a small batch of slots is free, instead of taking each slot as it frees up,
    # keeps the number of Lua calls per second independent of the rate and of the worker count.
    minimum = max(1, int(rate * MINIMUM_GRANT_SECONDS))
    key = f"tidings:throttle:{sender_key}"
    client = _redis_client()
    if client is not None:
        granted, offset_us = client.eval(
            _RESERVE_SCRIPT, 1, key, interval_us, wanted, horizon_us, minimum
        )
    else:
        granted, offset_us = _local_buckets.reserve(key, interval_us, wanted, horizon_us, minimum)
    granted, offset_us = int(granted), int(offset_us)
    now = time.monotonic()
    if granted == 0:
        return Reservation(0, now, interval_us / MICROSECONDS, retry_after=offset_us / MICROSECONDS)
    return Reservation(granted, now + offset_us / MICROSECONDS, interval_us / MICROSECONDS)
