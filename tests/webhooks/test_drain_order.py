"""What users send is applied before a backlog of receipts: a STOP decides who may still be sent
to, and at 1,000 sends per second thousands of statuses can be waiting when it arrives."""

from __future__ import annotations

import pytest

from contacts.models import ConsentRecord
from tests.contacts.factories import ContactFactory
from tests.webhooks.helpers import payload, post
from webhooks import services
from webhooks.models import DeliveryStatus, WebhookDelivery

pytestmark = pytest.mark.django_db


def store(client, django_capture_on_commit_callbacks, body: bytes) -> WebhookDelivery:
    """Acknowledged and stored, not yet processed (no worker has run)."""
    with django_capture_on_commit_callbacks(execute=False):
        assert post(client, body).status_code == 200
    return WebhookDelivery.objects.latest("id")


# Every placeholder the fixtures below use.
FIXTURE_VALUES = {
    "wa_id": "447911123456",
    "recipient": "447911123456",
    "user_id": "GB.1",
    "wamid": "wamid.M1",
    "inbound_wamid": "wamid.M2",
    "context_wamid": "wamid.M0",
    "body": "Hi",
    "text": "Stop promotions",
    "payload": "STOP_PROMOTIONS",
    "value": "stop",
    "event": "APPROVED",
    "language": "en_US",
    "reason": "NONE",
    "template_name": "order_update",
    "title": "",
    "waba_id": "102290129340398",
    **{f"wamid_{n}": f"wamid.B{n}" for n in (1, 2)},
    **{f"recipient_{n}": "447911123456" for n in (1, 2)},
    **{f"callback_{n}": "" for n in (1, 2)},
}


@pytest.mark.parametrize(
    ("fixture", "from_users"),
    [
        ("inbound_text", True),
        ("inbound_button", True),
        ("inbound_interactive_button_reply", True),
        ("user_preferences", True),
        ("batch_multi_entry", True),
        ("status_delivered", False),
        ("status_failed_131050", False),
        ("template_status_update", False),
        ("account_update", False),
    ],
)
def test_a_delivery_is_marked_as_from_users_when_it_holds_messages_or_preferences(
    client, django_capture_on_commit_callbacks, fixture, from_users
):
    delivery = store(
        client,
        django_capture_on_commit_callbacks,
        payload(fixture, **FIXTURE_VALUES),
    )

    assert delivery.from_users is from_users


def test_a_stop_stored_after_a_backlog_of_receipts_is_applied_in_the_first_batch(
    client, django_capture_on_commit_callbacks
):
    contact = ContactFactory(phone="+447911123456")
    receipts = [
        store(
            client,
            django_capture_on_commit_callbacks,
            payload("status_delivered", wamid=f"wamid.BACKLOG{number}", recipient="447911000000"),
        )
        for number in range(5)
    ]
    stop = store(
        client,
        django_capture_on_commit_callbacks,
        payload("inbound_text", wa_id="447911123456", user_id="GB.1", wamid="wamid.STOP1",
                body="STOP"),
    )  # fmt: skip

    first_batch = services.webhook_deliveries_process(limit=2)

    assert stop.pk in first_batch
    assert ConsentRecord.objects.filter(contact=contact, action="opt_out").exists()
    # The rest of the batch is the oldest receipt; the others keep their order for later batches.
    assert set(first_batch) == {stop.pk, receipts[0].pk}
    assert list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING)
        .order_by("received_at", "id")
        .values_list("id", flat=True)
    ) == [receipt.pk for receipt in receipts[1:]]


def test_messages_from_users_keep_their_order_among_themselves(
    client, django_capture_on_commit_callbacks
):
    contact = ContactFactory(phone="+447911123456")
    store(client, django_capture_on_commit_callbacks,
          payload("status_delivered", wamid="wamid.BACKLOG", recipient="447911000000"))  # fmt: skip
    for number, text in enumerate(["STOP", "START"]):
        store(
            client,
            django_capture_on_commit_callbacks,
            payload("inbound_text", wa_id="447911123456", user_id="GB.1",
                    wamid=f"wamid.KEY{number}", body=text),
        )  # fmt: skip

    services.webhook_deliveries_process(limit=1)
    services.webhook_deliveries_process(limit=1)

    actions = list(
        ConsentRecord.objects.filter(contact=contact)
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions[-2:] == ["opt_out", "opt_in"]
