"""The shared per-number rate: evenly spaced slots, held in Redis for every worker process."""

from __future__ import annotations

import pytest
import redis

from campaigns import throttle


@pytest.mark.redis
def test_reservations_live_in_redis_so_every_process_shares_them(redis_cache, settings):
    throttle.reserve(sender_key="pn-1", rate_per_second=80, wanted=10)

    assert redis.Redis.from_url(settings.REDIS_URL).exists("tidings:throttle:pn-1") == 1


@pytest.mark.redis
def test_slots_are_spaced_one_over_the_rate_and_never_run_past_the_horizon(redis_cache):
    first = throttle.reserve(sender_key="pn-2", rate_per_second=100, wanted=500)
    second = throttle.reserve(sender_key="pn-2", rate_per_second=100, wanted=500)

    interval = 1 / (100 * (1 - 0.03))
    assert first.interval == pytest.approx(interval, rel=0.01)
    assert first.count == int(1 / first.interval)  # one second of slots, no more
    assert second.count == 0
    # A full bucket sends the caller back until a batch of slots (1/20 s worth) is free,
    # so busy workers do not poll Redis once per freed slot.
    batch = int(100 * (1 - 0.03) * throttle.MINIMUM_GRANT_SECONDS)
    assert interval * (batch - 1) < second.retry_after <= interval * (batch + 1)


@pytest.mark.redis
def test_a_caller_that_wants_fewer_slots_than_a_batch_gets_them_as_soon_as_they_free(redis_cache):
    throttle.reserve(sender_key="pn-4", rate_per_second=100, wanted=500)

    one_slot = throttle.reserve(sender_key="pn-4", rate_per_second=100, wanted=1)

    assert one_slot.count == 0
    assert 0.0 < one_slot.retry_after <= 1 / (100 * (1 - 0.03)) * 2


@pytest.mark.redis
def test_two_callers_get_interleaved_slots_that_never_overlap(redis_cache):
    one = throttle.reserve(sender_key="pn-3", rate_per_second=50, wanted=5)
    two = throttle.reserve(sender_key="pn-3", rate_per_second=50, wanted=5)

    last_of_one = one.slot(one.count - 1)
    assert two.slot(0) >= last_of_one + one.interval * 0.9


def test_without_redis_the_bucket_is_kept_in_process(settings):
    reservation = throttle.reserve(sender_key="pn-local", rate_per_second=10, wanted=3)

    assert reservation.count == 3
