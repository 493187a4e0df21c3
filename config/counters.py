"""Counters shared by every process and host, kept in Redis.

Worker processes count things (data-source cache hits and misses) that the web process reports
on `/metrics`; counters in process memory would show only the web process's own. Each counter
set is a Redis hash, plus one hash per minute (kept `MINUTES_KEPT` minutes) so a recent ratio
can be read without Prometheus. Adding is one pipelined round trip, done once per chunk of work,
never per message.

Without Redis (the embedded defaults) nothing is counted and reading answers None. Counting never
raises: a Redis failure loses that chunk's increments, it never fails the work being counted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "tidings:counters:"
MINUTES_KEPT = 20
REDIS_CACHE_BACKEND = "django_redis.cache.RedisCache"


class SharedCountersUnavailable(Exception):
    """Redis could not be read."""


def shared_counters_enabled() -> bool:
    return settings.CACHES.get("default", {}).get("BACKEND") == REDIS_CACHE_BACKEND


def _client() -> Any | None:
    if not shared_counters_enabled():
        return None
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def _minute(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // 60)


def shared_counters_add(name: str, increments: Mapping[str, int]) -> bool:
    """Add to the counters of set `name` (fields and amounts); False if nothing was counted."""
    increments = {field: amount for field, amount in increments.items() if amount}
    if not increments:
        return True
    try:
        client = _client()
        if client is None:
            return False
        minute_key = f"{KEY_PREFIX}{name}:m:{_minute()}"
        pipeline = client.pipeline(transaction=False)
        for field, amount in increments.items():
            pipeline.hincrby(f"{KEY_PREFIX}{name}", field, amount)
            pipeline.hincrby(minute_key, field, amount)
        pipeline.expire(minute_key, MINUTES_KEPT * 60)
        pipeline.execute()
    except Exception as error:  # counting must never fail the work it counts
        logger.warning("shared counters %s not updated: %s", name, error)
        return False
    return True


def shared_counters_read(name: str, *, recent_minutes: int = 0) -> dict[str, int] | None:
    """The totals of set `name`, or with `recent_minutes` the sums over that many minutes up to
    now (the current minute included). None without Redis; raises SharedCountersUnavailable."""
    try:
        client = _client()
        if client is None:
            return None
        if not recent_minutes:
            raw = [client.hgetall(f"{KEY_PREFIX}{name}")]
        else:
            now = _minute()
            pipeline = client.pipeline(transaction=False)
            for minute in range(now - min(recent_minutes, MINUTES_KEPT) + 1, now + 1):
                pipeline.hgetall(f"{KEY_PREFIX}{name}:m:{minute}")
            raw = pipeline.execute()
    except Exception as error:
        raise SharedCountersUnavailable(str(error)) from error
    totals: dict[str, int] = {}
    for values in raw:
        for field, amount in values.items():
            key = field.decode() if isinstance(field, bytes) else str(field)
            totals[key] = totals.get(key, 0) + int(amount)
    return totals
