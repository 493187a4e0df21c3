"""Meta's status reports applied to the message ledger: once, forward only, in any order."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.dispatch import _record_accepted, callback_data_for
from campaigns.ledger import message_record_reply, message_statuses_apply
from campaigns.models import Message, MessageStatus, MessageStatusEvent
from contacts.models import ConsentAction, ConsentRecord, ConsentScope, ConsentSource
from tests.campaigns.factories import CampaignFactory, ContactFactory, MessageFactory
from whatsapp.events import EventError, StatusEvent

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.UTC)
SENT_AT, DELIVERED_AT, READ_AT = T0, T0 + dt.timedelta(seconds=3), T0 + dt.timedelta(minutes=2)


def report(status: str, *, wamid: str = "wamid.M1", at: dt.datetime = T0, **fields) -> StatusEvent:
    return StatusEvent(wamid=wamid, status=status, occurred_at=at, **fields)


@pytest.fixture
def sending():
    """A message claimed by dispatch whose send result is not recorded yet: no wamid."""
    return MessageFactory(
        status=MessageStatus.SENDING, lease_expires_at=T0, claim_token=uuid.uuid4()
    )


def events_of(message: Message) -> list[tuple[str, dt.datetime]]:
    return list(
        MessageStatusEvent.objects.filter(message=message)
        .order_by("occurred_at", "status")
        .values_list("status", "occurred_at")
    )


def test_a_status_before_our_send_result_is_matched_by_our_id_and_records_the_wamid(sending):
    result = message_statuses_apply(
        statuses=[report("sent", biz_opaque_callback_data=callback_data_for(sending.pk))]
    )

    sending.refresh_from_db()
    assert (len(result.matched), result.unmatched) == (1, [])
    assert (sending.status, sending.wamid, sending.sent_at) == (
        MessageStatus.SENT,
        "wamid.M1",
        SENT_AT,
    )
    assert sending.lease_expires_at is None
    assert events_of(sending) == [("sent", SENT_AT)]


def test_our_late_send_result_does_not_undo_what_the_webhook_already_applied(sending):
    message_statuses_apply(
        statuses=[
            report("delivered", at=DELIVERED_AT, biz_opaque_callback_data=f"tidings:{sending.pk}")
        ]
    )

    _record_accepted(
        {sending.pk: ("wamid.M1", {"body.1": "Maria"})}, timezone.now(), token=sending.claim_token
    )

    sending.refresh_from_db()
    assert (sending.status, sending.wamid) == (MessageStatus.DELIVERED, "wamid.M1")
    assert (sending.sent_at, sending.delivered_at) == (DELIVERED_AT, DELIVERED_AT)


ORDERS = list(
    itertools.permutations(
        [("read", READ_AT), ("delivered", DELIVERED_AT), ("sent", SENT_AT), ("read", READ_AT)]
    )
)


@pytest.mark.parametrize("order", ORDERS[::5])
@pytest.mark.parametrize("batched", [True, False])
def test_any_order_and_duplicates_end_read_with_every_timestamp_and_three_events(
    sending, order, batched
):
    reports = [
        report(status, at=at, biz_opaque_callback_data=f"tidings:{sending.pk}")
        for status, at in order
    ]

    if batched:
        message_statuses_apply(statuses=reports)
    else:
        for one in reports:
            message_statuses_apply(statuses=[one])

    sending.refresh_from_db()
    assert sending.status == MessageStatus.READ
    assert (sending.sent_at, sending.delivered_at, sending.read_at) == (
        SENT_AT,
        DELIVERED_AT,
        READ_AT,
    )
    assert events_of(sending) == [
        ("sent", SENT_AT),
        ("delivered", DELIVERED_AT),
        ("read", READ_AT),
    ]


def test_a_read_without_a_delivered_also_fills_delivered_and_sent(sending):
    # Meta sends no `delivered` when a message is delivered and read at the same moment.
    message_statuses_apply(
        statuses=[report("read", at=READ_AT, biz_opaque_callback_data=f"tidings:{sending.pk}")]
    )

    sending.refresh_from_db()
    assert sending.status == MessageStatus.READ
    assert (sending.sent_at, sending.delivered_at, sending.read_at) == (READ_AT, READ_AT, READ_AT)
    assert events_of(sending) == [("read", READ_AT)]


def test_a_late_delivered_never_moves_a_read_message_back():
    message = MessageFactory(status=MessageStatus.READ, wamid="wamid.M1", read_at=READ_AT)

    message_statuses_apply(statuses=[report("delivered", at=DELIVERED_AT)])

    message.refresh_from_db()
    assert (message.status, message.delivered_at, message.read_at) == (
        MessageStatus.READ,
        DELIVERED_AT,
        READ_AT,
    )


def test_repeating_a_batch_changes_nothing():
    message = MessageFactory(status=MessageStatus.SENT, wamid="wamid.M1", sent_at=SENT_AT)
    batch = [report("delivered", at=DELIVERED_AT), report("read", at=READ_AT)]
    message_statuses_apply(statuses=batch)
    message.refresh_from_db()
    first_update = message.updated_at

    again = message_statuses_apply(statuses=batch)

    message.refresh_from_db()
    assert (again.events_recorded, again.messages_updated) == (0, 0)
    assert message.updated_at == first_update
    assert MessageStatusEvent.objects.filter(message=message).count() == 2


def test_a_failure_stores_metas_code_title_and_details_and_is_terminal():
    message = MessageFactory(status=MessageStatus.SENT, wamid="wamid.M1", sent_at=SENT_AT)
    failed_at = T0 + dt.timedelta(seconds=5)
    error = EventError(
        code=131053,
        title="Media upload error",
        message="Media upload error",
        details="Unsupported Video mime type text/html.",
    )

    message_statuses_apply(statuses=[report("failed", at=failed_at, errors=(error,))])
    message_statuses_apply(statuses=[report("read", at=READ_AT)])

    message.refresh_from_db()
    assert (message.status, message.reason, message.failed_at) == (
        MessageStatus.FAILED,
        "meta_error",
        failed_at,
    )
    assert (message.error_code, message.error_title, message.error_details) == (
        131053,
        "Media upload error",
        "Unsupported Video mime type text/html.",
    )
    assert MessageStatusEvent.objects.get(message=message, status="failed").error_code == 131053
    assert [status for status, _ in events_of(message)] == ["failed", "read"]


def test_a_failure_reported_after_delivery_is_kept_as_an_event_only():
    message = MessageFactory(status=MessageStatus.DELIVERED, wamid="wamid.M1", sent_at=SENT_AT)

    message_statuses_apply(
        statuses=[report("failed", at=READ_AT, errors=(EventError(code=131000, title="x"),))]
    )

    message.refresh_from_db()
    assert (message.status, message.error_code, message.failed_at) == (
        MessageStatus.DELIVERED,
        None,
        READ_AT,
    )


def test_pricing_and_conversation_are_stored_for_cost_reporting():
    message = MessageFactory(status=MessageStatus.SENT, wamid="wamid.M1")
    expires = T0 + dt.timedelta(hours=24)

    message_statuses_apply(
        statuses=[
            report(
                "sent",
                pricing_billable=True,
                pricing_model="PMP",
                pricing_category="marketing",
                pricing_type="regular",
                conversation_id="conv-1",
                conversation_origin="marketing",
                conversation_expires_at=expires,
            )
        ]
    )

    message.refresh_from_db()
    assert (
        message.billable,
        message.pricing_model,
        message.pricing_category,
        message.pricing_type,
    ) == (True, "PMP", "marketing", "regular")
    assert (
        message.conversation_id,
        message.conversation_origin,
        message.conversation_expires_at,
    ) == ("conv-1", "marketing", expires)


def test_a_status_meta_added_later_is_kept_as_an_event_without_moving_the_message():
    message = MessageFactory(status=MessageStatus.DELIVERED, wamid="wamid.M1")

    result = message_statuses_apply(statuses=[report("played", at=READ_AT)])

    message.refresh_from_db()
    assert (len(result.matched), message.status) == (1, MessageStatus.DELIVERED)
    assert events_of(message) == [("played", READ_AT)]


def test_a_status_for_an_unknown_message_comes_back_unmatched_and_nothing_is_written():
    other = MessageFactory(status=MessageStatus.SENT, wamid="wamid.OTHER")

    result = message_statuses_apply(
        statuses=[
            report("delivered", wamid="wamid.NOBODY"),
            report("delivered", wamid="", biz_opaque_callback_data="tidings:999999"),
            report("delivered", wamid="wamid.X", biz_opaque_callback_data="another-app:5"),
            report("read", wamid="wamid.Y", biz_opaque_callback_data=f"tidings:{10**20}"),
        ]
    )

    assert [(r.wamid, r.biz_opaque_callback_data) for r in result.unmatched] == [
        ("wamid.NOBODY", ""),
        ("", "tidings:999999"),
        ("wamid.X", "another-app:5"),
        ("wamid.Y", f"tidings:{10**20}"),
    ]
    assert MessageStatusEvent.objects.count() == 0
    other.refresh_from_db()
    assert other.status == MessageStatus.SENT


def test_our_id_with_another_wamid_is_not_that_message():
    # Another installation sharing the WABA can echo the same "tidings:<id>".
    message = MessageFactory(status=MessageStatus.SENT, wamid="wamid.OURS")

    result = message_statuses_apply(
        statuses=[
            report("read", wamid="wamid.THEIRS", biz_opaque_callback_data=f"tidings:{message.pk}")
        ]
    )

    message.refresh_from_db()
    assert (len(result.unmatched), message.status, message.read_at) == (
        1,
        MessageStatus.SENT,
        None,
    )


def test_user_stopped_marketing_appends_one_marketing_opt_out_even_when_repeated():
    message = MessageFactory(status=MessageStatus.SENT, wamid="wamid.M1")
    stopped = report(
        "failed", errors=(EventError(code=131050, title="User stopped marketing messages"),)
    )

    message_statuses_apply(statuses=[stopped])
    message_statuses_apply(statuses=[stopped])

    records = ConsentRecord.objects.filter(contact=message.contact)
    assert list(records.values_list("action", "scope", "source")) == [
        (ConsentAction.OPT_OUT, ConsentScope.MARKETING, ConsentSource.DELIVERY_ERROR)
    ]


def test_a_batch_costs_the_same_queries_for_one_status_or_sixty():
    campaign = CampaignFactory()

    def batch(size: int, offset: int) -> list[StatusEvent]:
        messages = MessageFactory.create_batch(size, campaign=campaign, status=MessageStatus.SENT)
        for number, message in enumerate(messages):
            Message.objects.filter(pk=message.pk).update(wamid=f"wamid.B{offset + number}")
        return [
            report(status, wamid=f"wamid.B{offset + number}", at=at)
            for number in range(size)
            for status, at in (("delivered", DELIVERED_AT), ("read", READ_AT))
        ]

    small, large = batch(1, 0), batch(60, 100)
    with CaptureQueriesContext(connection) as one:
        message_statuses_apply(statuses=small)
    with CaptureQueriesContext(connection) as sixty:
        result = message_statuses_apply(statuses=large)

    assert (result.events_recorded, result.messages_updated) == (120, 60)
    assert len(sixty.captured_queries) == len(one.captured_queries)
    assert Message.objects.filter(status=MessageStatus.READ).count() == 61


# --- Replies --------------------------------------------------------------------------------


def test_a_reply_within_the_window_counts_for_the_latest_campaign_message_once():
    contact = ContactFactory()
    older = MessageFactory(contact=contact, sent_at=T0 - dt.timedelta(hours=30))
    latest = MessageFactory(contact=contact, sent_at=T0 - dt.timedelta(hours=2))
    window = dt.timedelta(hours=72)

    first = message_record_reply(contact_id=contact.pk, replied_at=T0, window=window)
    second = message_record_reply(
        contact_id=contact.pk, replied_at=T0 + dt.timedelta(minutes=1), window=window
    )

    latest.refresh_from_db()
    older.refresh_from_db()
    assert (first, second) == (latest.pk, latest.pk)
    assert (latest.replied_at, older.replied_at) == (T0, None)


def test_a_reply_after_the_window_counts_for_nothing():
    message = MessageFactory(sent_at=T0 - dt.timedelta(hours=73))

    replied_to = message_record_reply(
        contact_id=message.contact_id, replied_at=T0, window=dt.timedelta(hours=72)
    )

    message.refresh_from_db()
    assert (replied_to, message.replied_at) == (None, None)


def test_a_reply_quoting_our_message_counts_for_that_message_whenever_it_was_sent():
    message = MessageFactory(wamid="wamid.QUOTED", sent_at=T0 - dt.timedelta(days=10))
    MessageFactory(contact=message.contact, sent_at=T0 - dt.timedelta(hours=1))

    replied_to = message_record_reply(
        contact_id=message.contact_id,
        replied_at=T0,
        window=dt.timedelta(hours=72),
        context_wamid="wamid.QUOTED",
    )

    message.refresh_from_db()
    assert (replied_to, message.replied_at) == (message.pk, T0)
