"""Paced submission (`submit_template`): sends leave at their slot, through one event loop for the
Cloud API, with the same error semantics as the one-at-a-time client."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support.meta_api import MetaAPIStandIn
from tests.whatsapp.helpers import ACCESS_TOKEN, PHONE_NUMBER_ID
from tests.whatsapp.test_cloud_api_sending import free_port, order_update
from whatsapp.base import ErrorClass, ProviderError, SendAccepted
from whatsapp.cloud_api import CloudAPIProvider
from whatsapp.sandbox import SandboxProvider


@pytest.fixture
def catalogue(meta_api: MetaAPIStandIn) -> MetaAPIStandIn:
    meta_api.add_template("order_update", "en_US", body_text="Hi {{1}}, order {{2}} shipped.")
    return meta_api


def submit_all(provider, messages, slots, cancelled=None):
    cancelled = cancelled or threading.Event()
    futures = [
        provider.submit_template(PHONE_NUMBER_ID, message, not_before=slot, cancelled=cancelled)
        for message, slot in zip(messages, slots, strict=True)
    ]
    return [future.result(timeout=10) for future in futures]


def test_each_send_leaves_no_earlier_than_its_slot(cloud, catalogue):
    start = time.monotonic() + 0.05
    slots = [start + index * 0.1 for index in range(5)]

    outcomes = submit_all(
        cloud, [order_update(biz_opaque_callback_data=f"m:{i}") for i in range(5)], slots
    )

    assert all(isinstance(outcome, SendAccepted) for outcome in outcomes)
    arrivals = [request.received_at for request in catalogue.message_requests]
    assert len(arrivals) == 5
    assert all(arrival >= slot for arrival, slot in zip(sorted(arrivals), slots, strict=True))


def test_many_sends_are_in_flight_at_once(meta_api):
    meta_api.latency_seconds = 0.2
    provider = CloudAPIProvider(
        access_token=ACCESS_TOKEN, base_url=meta_api.base_url, concurrency=50
    )
    meta_api.strict_templates = False
    now = time.monotonic()

    outcomes = submit_all(provider, [order_update() for _ in range(40)], [now] * 40)
    provider.close()

    assert all(isinstance(outcome, SendAccepted) for outcome in outcomes)
    assert meta_api.max_in_flight >= 20


def test_a_cancelled_send_never_leaves_and_resolves_to_none(cloud, catalogue):
    cancelled = threading.Event()
    later = time.monotonic() + 0.3
    future = cloud.submit_template(
        PHONE_NUMBER_ID, order_update(), not_before=later, cancelled=cancelled
    )

    cancelled.set()

    assert future.result(timeout=5) is None
    time.sleep(0.35)
    assert catalogue.send_count == 0


def test_metas_error_comes_back_classified(cloud, catalogue):
    catalogue.fail_next(131026, details="Receiver is incapable of receiving this message")

    [outcome] = submit_all(cloud, [order_update()], [time.monotonic()])

    assert isinstance(outcome, ProviderError)
    assert (outcome.code, outcome.error_class) == (131026, ErrorClass.PERMANENT)
    assert catalogue.send_count == 1


def test_a_read_timeout_is_retryable_and_ambiguous_and_sent_once(meta_api, catalogue):
    provider = CloudAPIProvider(
        access_token=ACCESS_TOKEN, base_url=meta_api.base_url, read_timeout=0.3
    )
    catalogue.delay_next(1.0, endpoint="messages")

    [outcome] = submit_all(provider, [order_update()], [time.monotonic()])
    provider.close()

    assert isinstance(outcome, ProviderError)
    assert (outcome.error_class, outcome.ambiguous) == (ErrorClass.RETRYABLE, True)
    assert catalogue.send_count == 1


def test_a_refused_connection_is_retryable_and_not_ambiguous():
    provider = CloudAPIProvider(
        access_token=ACCESS_TOKEN, base_url=f"http://127.0.0.1:{free_port()}"
    )

    [outcome] = submit_all(provider, [order_update()], [time.monotonic()])
    provider.close()

    assert isinstance(outcome, ProviderError)
    assert (outcome.error_class, outcome.ambiguous) == (ErrorClass.RETRYABLE, False)


def test_a_5xx_is_ambiguous(cloud, catalogue):
    catalogue.server_error_next(endpoint="messages")

    [outcome] = submit_all(cloud, [order_update()], [time.monotonic()])

    assert isinstance(outcome, ProviderError)
    assert outcome.ambiguous is True


def test_the_default_thread_pool_submission_paces_the_sandbox_too(tmp_path):
    sandbox = SandboxProvider(state_dir=tmp_path, status_delay_seconds=0.0, seed=1)
    slot = time.monotonic() + 0.2

    [outcome] = submit_all(
        sandbox,
        [order_update(to="+447911123456", biz_opaque_callback_data=None)],
        [slot],
    )
    sandbox.close()

    assert isinstance(outcome, SendAccepted)
    assert time.monotonic() >= slot
