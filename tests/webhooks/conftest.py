"""Fixtures of the webhook tests: a campaign message Meta accepted, and delivering a signed body
to the real endpoint with its processing run."""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone

from campaigns.models import Message, MessageStatus
from tests.campaigns.conftest import meta, running_campaign  # noqa: F401 - shared fixtures
from tests.campaigns.factories import ContactFactory, MessageFactory
from tests.webhooks.helpers import post
from webhooks.models import WebhookDelivery

HERE = Path(__file__).resolve().parent

# The endpoint's security tests and the sandbox round trip predate the store: they post to the
# endpoint without asking for a database. The sandbox's webhooks arrive on another thread, so these
# get a transactional database, emptied after each test.
_POSTING_WITHOUT_A_DB = {"test_endpoint_security.py", "test_sandbox_roundtrip.py"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        unmarked = not item.get_closest_marker("django_db")
        if unmarked and item.path.parent == HERE and item.path.name in _POSTING_WITHOUT_A_DB:
            item.add_marker(pytest.mark.django_db(transaction=True))


@pytest.fixture(autouse=True)
def _close_other_threads_connections(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if request.node.path.name == "test_sandbox_roundtrip.py":
        # The sandbox poster thread's database connection is closed once the thread is gone,
        # instead of outliving the test database.
        gc.collect()


@pytest.fixture
def sent_message():
    """A campaign message Meta accepted: status sent, with a wamid, to +447911123456."""

    def make(**fields) -> Message:
        fields.setdefault("contact", ContactFactory(phone="+447911123456"))
        fields.setdefault("status", MessageStatus.SENT)
        fields.setdefault("wamid", "wamid.HBgMNDQ3OTExMTIzNDU2FQIAERgSQUJDMTIzAA==")
        fields.setdefault("sent_at", timezone.now() - dt.timedelta(minutes=5))
        return MessageFactory(**fields)

    return make


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    """Post a signed body to the endpoint and let its processing run (Celery is eager in tests),
    as Meta's delivery followed by a worker would; returns the stored delivery."""

    def send(body: bytes) -> WebhookDelivery:
        with django_capture_on_commit_callbacks(execute=True):
            response = post(client, body)
        assert response.status_code == 200
        return WebhookDelivery.objects.get(sha256=hashlib.sha256(body).hexdigest())

    return send
