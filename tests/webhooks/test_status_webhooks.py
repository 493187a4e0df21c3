"""Status webhooks through the real endpoint: every status, any order, the race, and what we
cannot match yet."""

from __future__ import annotations

import datetime as dt
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from campaigns.models import Message, MessageStatus, MessageStatusEvent
from contacts.models import ConsentAction, ConsentRecord, ConsentScope, ConsentSource
from tests.campaigns.factories import MessageFactory
from tests.webhooks.helpers import payload
from webhooks import services
from webhooks.models import DeliveryStatus, UnmatchedStatus, UnmatchedStatusState

pytestmark = pytest.mark.django_db

WAMID = "wamid.HBgMNDQ3OTExMTIzNDU2FQIAERgSQUJDMTIzAA=="
RECIPIENT = "447911123456"
NOW = int(time.time())


def at(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def status(name: str, timestamp: int, *, wamid: str = WAMID, **values) -> bytes:
    return payload(name, wamid=wamid, recipient=RECIPIENT, timestamp=timestamp, **values)


def test_sent_delivered_and_read_move_the_message_forward_with_costs_and_timestamps(
    deliver, sent_message
):
    message = sent_message(sent_at=None)

    for name, offset in (("status_sent", 0), ("status_delivered", 5), ("status_read", 60)):
        delivery = deliver(status(name, NOW + offset))
        assert (delivery.status, delivery.summary) == (DeliveryStatus.PROCESSED, {"status": 1})

    message.refresh_from_db()
    assert message.status == MessageStatus.READ
    assert (message.sent_at, message.delivered_at, message.read_at) == (
        at(NOW),
        at(NOW + 5),
        at(NOW + 60),
    )
    assert (message.billable, message.pricing_model, message.pricing_category) == (
        True,
        "PMP",
        "marketing",
    )
    assert (message.pricing_type, message.conversation_id, message.conversation_origin) == (
        "regular",
        "6ceb9d929c0a4a63f5aa4a6dc1d34c29",
        "marketing",
    )
    assert message.conversation_expires_at == at(1750116480)


def test_shuffled_and_repeated_deliveries_end_read_with_three_events(deliver, sent_message):
    message = sent_message(sent_at=None)
    bodies = [
        status("status_read", NOW + 60),
        status("status_delivered", NOW + 5),
        status("status_sent", NOW),
        status("status_read", NOW + 60),  # Meta's duplicate: the same bytes
        status("status_delivered", NOW + 5).replace(b'"recipient_id"', b'"recipient_id" '),
    ]

    for body in bodies:
        deliver(body)

    message.refresh_from_db()
    assert message.status == MessageStatus.READ
    assert (message.sent_at, message.delivered_at, message.read_at) == (
        at(NOW),
        at(NOW + 5),
        at(NOW + 60),
    )
    assert list(
        MessageStatusEvent.objects.filter(message=message).values_list("status", "occurred_at")
    ) == [("sent", at(NOW)), ("delivered", at(NOW + 5)), ("read", at(NOW + 60))]


def test_the_status_that_beats_our_send_result_is_applied_by_our_id(deliver):
    message = MessageFactory(status=MessageStatus.SENDING, wamid=None)

    deliver(status("status_sent", NOW, callback=f"tidings:{message.pk}"))

    message.refresh_from_db()
    assert (message.status, message.wamid, message.sent_at) == (
        MessageStatus.SENT,
        WAMID,
        at(NOW),
    )
    assert UnmatchedStatus.objects.count() == 0


def test_a_bsuid_only_status_is_matched_by_our_id(deliver):
    message = MessageFactory(status=MessageStatus.SENDING, wamid=None)

    deliver(payload("status_sent_bsuid", wamid=WAMID, callback=f"tidings:{message.pk}"))

    message.refresh_from_db()
    assert (message.status, message.wamid, message.pricing_category) == (
        MessageStatus.SENT,
        WAMID,
        "utility",
    )


def test_a_failure_stores_metas_error_and_131050_opts_the_contact_out_of_marketing(
    deliver, sent_message
):
    message = sent_message()

    deliver(status("status_failed_131050", NOW))
    deliver(status("status_failed_131050", NOW))

    message.refresh_from_db()
    assert (message.status, message.error_code, message.failed_at) == (
        MessageStatus.FAILED,
        131050,
        at(NOW),
    )
    assert message.error_title.startswith("Unable to deliver message.")
    assert message.error_details == "The user has stopped marketing messages from this business."
    assert list(
        ConsentRecord.objects.filter(contact=message.contact).values_list(
            "action", "scope", "source"
        )
    ) == [(ConsentAction.OPT_OUT, ConsentScope.MARKETING, ConsentSource.DELIVERY_ERROR)]


def test_the_per_user_marketing_limit_is_retried_once_later_without_an_opt_out(
    deliver, sent_message
):
    message = sent_message()

    deliver(status("status_failed_131049", NOW))

    message.refresh_from_db()
    assert (message.status, message.reason, message.error_code) == (
        MessageStatus.FAILED,
        "marketing_limit_retry",
        131049,
    )
    assert message.marketing_limit_retried
    assert not ConsentRecord.objects.filter(contact=message.contact).exists()


def test_a_failure_keeps_metas_code_title_message_details_and_link(deliver, sent_message):
    message = sent_message()
    title = "This message was not delivered to maintain healthy ecosystem engagement."
    details = (
        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."
    )

    deliver(status("status_failed_131049", NOW))

    message.refresh_from_db()
    assert (message.error_code, message.error_title, message.error_details) == (
        131049,
        title,
        details,
    )
    assert message.meta_errors == [
        {
            "code": 131049,
            "title": title,
            "message": title,
            "details": details,
            "href": "/documentation/business-messaging/whatsapp/support/error-codes",
        }
    ]


def test_a_delivered_after_a_failure_proves_delivery_and_keeps_the_failure(deliver, sent_message):
    message = sent_message()

    deliver(status("status_failed_131049", NOW + 1))
    deliver(status("status_delivered", NOW + 5))

    message.refresh_from_db()
    assert (message.status, message.reason) == (MessageStatus.DELIVERED, "")
    assert (message.failed_at, message.error_code) == (at(NOW + 1), 131049)


def test_the_user_id_in_a_status_is_stored_on_a_contact_known_by_phone_only(deliver, sent_message):
    message = sent_message()
    assert message.contact.whatsapp_user_id is None

    deliver(payload("status_sent_bsuid", wamid=WAMID))

    message.contact.refresh_from_db()
    assert message.contact.whatsapp_user_id == "US.13491208655302741918"


def test_a_status_meta_added_later_is_stored_as_an_event_not_crashed_on(deliver, sent_message):
    message = sent_message(status=MessageStatus.DELIVERED)

    delivery = deliver(status("status_played", NOW))

    message.refresh_from_db()
    assert delivery.status == DeliveryStatus.PROCESSED
    assert message.status == MessageStatus.DELIVERED
    assert list(message.status_events.values_list("status", flat=True)) == ["played"]


def test_every_status_of_a_multi_entry_batch_is_applied(deliver):
    first = MessageFactory(status=MessageStatus.SENT, wamid="wamid.S1")
    second = MessageFactory(status=MessageStatus.SENDING, wamid=None)

    delivery = deliver(
        payload(
            "batch_multi_entry",
            wamid_1="wamid.S1",
            wamid_2="wamid.S2",
            recipient_1="447912000001",
            recipient_2="447912000002",
            callback_1="",
            callback_2=f"tidings:{second.pk}",
            inbound_wamid="wamid.IN1",
        )
    )

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status, second.wamid) == (
        MessageStatus.DELIVERED,
        MessageStatus.READ,
        "wamid.S2",
    )
    assert delivery.summary == {"status": 2, "inbound_message": 1, "template_status": 1}


# --- Unmatched -------------------------------------------------------------------------------


def test_an_unmatched_status_is_kept_retried_and_applied_once_its_message_exists(
    django_capture_on_commit_callbacks,
):
    from webhooks.services import webhook_delivery_store

    body = status("status_delivered", NOW)
    with django_capture_on_commit_callbacks(execute=False):
        delivery_id = webhook_delivery_store(body=body)
    with django_capture_on_commit_callbacks(execute=False) as retries:
        outcome = services.webhook_delivery_process(delivery_id=delivery_id)
    kept = UnmatchedStatus.objects.get()
    assert outcome.counts == {"status_unmatched": 1}
    assert (kept.state, kept.wamid, kept.status, kept.delivery_id) == (
        UnmatchedStatusState.RETRYING,
        WAMID,
        "delivered",
        delivery_id,
    )
    assert len(retries) == 1  # the bounded retry, enqueued after commit

    message = MessageFactory(status=MessageStatus.SENT, wamid=WAMID)
    retried = services.unmatched_statuses_retry(unmatched_ids=[kept.pk])

    kept.refresh_from_db()
    message.refresh_from_db()
    assert (retried.applied, retried.remaining_ids) == (1, [])
    assert (kept.state, kept.attempts) == (UnmatchedStatusState.APPLIED, 1)
    assert (message.status, message.delivered_at) == (MessageStatus.DELIVERED, at(NOW))


def test_retry_delays_back_off_and_cover_the_configured_window(settings):
    settings.TIDINGS_WEBHOOK_UNMATCHED_RETRY_SECONDS = 600

    delays = services.unmatched_retry_delays()

    assert delays == [2, 4, 8, 16, 32, 64, 120, 120, 120, 114]
    assert sum(delays) == 600


def test_a_status_still_unmatched_after_its_window_is_kept_as_unmatched_never_dropped(deliver):
    deliver(status("status_delivered", NOW, wamid="wamid.NOT_OURS"))
    kept = UnmatchedStatus.objects.get()
    assert kept.state == UnmatchedStatusState.RETRYING

    later = timezone.now() + dt.timedelta(minutes=12)
    finished = services.webhook_deliveries_sweep(now=later)

    kept.refresh_from_db()
    assert (finished["late_applied"], finished["gave_up"]) == (0, 1)
    assert (kept.state, kept.payload["id"]) == (UnmatchedStatusState.UNMATCHED, "wamid.NOT_OURS")


def test_an_operator_replay_applies_kept_statuses_once_their_message_exists(deliver):
    deliver(status("status_read", NOW, wamid="wamid.LATE"))
    UnmatchedStatus.objects.update(state=UnmatchedStatusState.UNMATCHED)
    message = MessageFactory(status=MessageStatus.SENT, wamid="wamid.LATE")
    out = StringIO()

    call_command("replay_webhooks", "--unmatched", stdout=out)

    message.refresh_from_db()
    assert out.getvalue() == "Unmatched statuses: 1 applied, 0 still unmatched.\n"
    assert (message.status, message.read_at) == (MessageStatus.READ, at(NOW))
    assert UnmatchedStatus.objects.get().state == UnmatchedStatusState.APPLIED


def test_replaying_the_delivery_applies_its_kept_status_and_marks_it_applied(deliver):
    delivery = deliver(status("status_read", NOW, wamid="wamid.LATER"))
    message = MessageFactory(status=MessageStatus.SENT, wamid="wamid.LATER")

    call_command("replay_webhooks", "--id", str(delivery.pk), stdout=StringIO())

    message.refresh_from_db()
    delivery.refresh_from_db()
    assert message.status == MessageStatus.READ
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PROCESSED, 2)
    assert UnmatchedStatus.objects.get().state == UnmatchedStatusState.APPLIED


def test_statuses_of_other_applications_do_not_touch_our_messages(deliver):
    ours = MessageFactory(status=MessageStatus.SENT, wamid="wamid.OURS")

    deliver(status("status_read", NOW, wamid="wamid.THEIRS", callback="their-tracker-7"))

    ours.refresh_from_db()
    assert ours.status == MessageStatus.SENT
    assert Message.objects.filter(status=MessageStatus.READ).count() == 0
    assert UnmatchedStatus.objects.get().callback_data == "their-tracker-7"
