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
from contacts.models import ConsentAction, ConsentRecord, ConsentScope, ConsentSource, Contact
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


FAILED_AT = T0 + dt.timedelta(minutes=1)
NOT_ON_WHATSAPP = "Message failed to send because the recipient's phone number is not on WhatsApp."
UNDELIVERABLE = EventError(
    code=131026,
    title="Message undeliverable",
    message="Message undeliverable",
    details=NOT_ON_WHATSAPP,
    href="/documentation/business-messaging/whatsapp/support/error-codes",
)
UNDELIVERABLE_AS_STORED = [
    {
        "code": 131026,
        "title": "Message undeliverable",
        "message": "Message undeliverable",
        "details": NOT_ON_WHATSAPP,
        "href": "/documentation/business-messaging/whatsapp/support/error-codes",
    }
]


def test_a_failure_stores_metas_code_title_details_and_every_error_whole():
    message = MessageFactory(status=MessageStatus.SENT, wamid="wamid.M1", sent_at=SENT_AT)
    second = EventError(code=131000, title="Something went wrong", message="Try again later")

    message_statuses_apply(
        statuses=[report("failed", at=FAILED_AT, errors=(UNDELIVERABLE, second))]
    )

    message.refresh_from_db()
    assert (message.status, message.reason, message.failed_at) == (
        MessageStatus.FAILED,
        "meta_error",
        FAILED_AT,
    )
    assert (message.error_code, message.error_title, message.error_details) == (
        131026,
        "Message undeliverable",
        "Message failed to send because the recipient's phone number is not on WhatsApp.",
    )
    assert message.meta_errors == [
        *UNDELIVERABLE_AS_STORED,
        {
            "code": 131000,
            "title": "Something went wrong",
            "message": "Try again later",
            "details": "",
            "href": "",
        },
    ]
    assert MessageStatusEvent.objects.get(message=message, status="failed").error_code == 131026


def test_a_message_that_says_more_than_the_title_is_kept_with_the_details():
    message = MessageFactory(status=MessageStatus.SENT, wamid="wamid.M1")
    error = EventError(
        code=131053, title="Media upload error", message="Upload failed", details="text/html"
    )

    message_statuses_apply(statuses=[report("failed", at=FAILED_AT, errors=(error,))])

    message.refresh_from_db()
    assert (message.error_title, message.error_details) == (
        "Media upload error",
        "Upload failed\ntext/html",
    )


def test_a_sent_reported_after_a_failure_leaves_it_failed():
    message = MessageFactory(status=MessageStatus.SENT, wamid="wamid.M1")

    message_statuses_apply(statuses=[report("failed", at=FAILED_AT, errors=(UNDELIVERABLE,))])
    message_statuses_apply(statuses=[report("sent", at=SENT_AT)])

    message.refresh_from_db()
    assert (message.status, message.reason, message.sent_at, message.failed_at) == (
        MessageStatus.FAILED,
        "meta_error",
        SENT_AT,
        FAILED_AT,
    )


def test_a_delivery_reported_after_a_failure_proves_delivery_and_keeps_the_error_as_evidence():
    message = MessageFactory(status=MessageStatus.SENT, wamid="wamid.M1", sent_at=SENT_AT)

    message_statuses_apply(statuses=[report("failed", at=FAILED_AT, errors=(UNDELIVERABLE,))])
    message_statuses_apply(statuses=[report("read", at=READ_AT)])

    message.refresh_from_db()
    assert (message.status, message.reason, message.read_at) == (MessageStatus.READ, "", READ_AT)
    assert (message.failed_at, message.error_code, message.meta_errors) == (
        FAILED_AT,
        131026,
        UNDELIVERABLE_AS_STORED,
    )
    assert [status for status, _ in events_of(message)] == ["failed", "read"]


def test_a_failure_reported_after_delivery_changes_the_status_nothing_but_keeps_the_error():
    message = MessageFactory(status=MessageStatus.DELIVERED, wamid="wamid.M1", sent_at=SENT_AT)

    message_statuses_apply(statuses=[report("failed", at=READ_AT, errors=(UNDELIVERABLE,))])

    message.refresh_from_db()
    assert (message.status, message.reason) == (MessageStatus.DELIVERED, "")
    assert (message.failed_at, message.error_code, message.meta_errors) == (
        READ_AT,
        131026,
        UNDELIVERABLE_AS_STORED,
    )


def _final_state(message: Message) -> dict[str, object]:
    message.refresh_from_db()
    return {
        "status": message.status,
        "reason": message.reason,
        "wamid_recorded": message.wamid == f"wamid.P{message.pk}",
        "sent_at": message.sent_at,
        "delivered_at": message.delivered_at,
        "read_at": message.read_at,
        "failed_at": message.failed_at,
        "error": (message.error_code, message.error_title, message.error_details),
        "meta_errors": message.meta_errors,
        "lease_expires_at": message.lease_expires_at,
        "events": events_of(message),
    }


def _every_order(reports: list[tuple[str, dt.datetime]]) -> dict[tuple, dict[str, object]]:
    """The final state after each distinct order of the reports, one webhook each, on a fresh
    message whose send result is not recorded yet."""
    finals = {}
    for order in sorted(set(itertools.permutations(reports))):
        message = MessageFactory(status=MessageStatus.SENDING, lease_expires_at=T0)
        for status, at in order:
            message_statuses_apply(
                statuses=[
                    report(
                        status,
                        wamid=f"wamid.P{message.pk}",
                        at=at,
                        biz_opaque_callback_data=f"tidings:{message.pk}",
                        errors=(UNDELIVERABLE,) if status == "failed" else (),
                    )
                ]
            )
        finals[order] = _final_state(message)
    return finals


UNDELIVERABLE_COLUMNS = (
    131026,
    "Message undeliverable",
    NOT_ON_WHATSAPP,
)
DELIVERED_AND_FAILED = {
    "status": MessageStatus.READ,
    "reason": "",
    "wamid_recorded": True,
    "sent_at": SENT_AT,
    "delivered_at": DELIVERED_AT,
    "read_at": READ_AT,
    "failed_at": FAILED_AT,
    "error": UNDELIVERABLE_COLUMNS,
    "meta_errors": UNDELIVERABLE_AS_STORED,
    "lease_expires_at": None,
    "events": [
        ("sent", SENT_AT),
        ("delivered", DELIVERED_AT),
        ("failed", FAILED_AT),
        ("read", READ_AT),
    ],
}


def test_every_order_of_sent_delivered_read_and_failed_ends_read_with_the_failure_as_evidence():
    reports = [
        ("sent", SENT_AT),
        ("delivered", DELIVERED_AT),
        ("read", READ_AT),
        ("failed", FAILED_AT),
    ]

    finals = _every_order(reports)

    assert len(finals) == 24
    assert {order: f for order, f in finals.items() if f != DELIVERED_AND_FAILED} == {}


def test_every_order_with_duplicates_ends_in_the_same_state_at_the_earliest_times():
    # A delivered repeated with a later time (the earlier one is the real one).
    reports = [
        ("sent", SENT_AT),
        ("delivered", DELIVERED_AT + dt.timedelta(seconds=30)),
        ("delivered", DELIVERED_AT),
        ("read", READ_AT),
        ("failed", FAILED_AT),
    ]

    finals = _every_order(reports)

    assert len(finals) == 120
    assert {order: f for order, f in finals.items() if f != DELIVERED_AND_FAILED} == {}


def test_the_whole_set_in_one_batch_ends_in_the_same_state():
    message = MessageFactory(status=MessageStatus.SENDING, lease_expires_at=T0)
    ours = {"wamid": f"wamid.P{message.pk}", "biz_opaque_callback_data": f"tidings:{message.pk}"}

    message_statuses_apply(
        statuses=[
            report("failed", at=FAILED_AT, errors=(UNDELIVERABLE,), **ours),
            report("read", at=READ_AT, **ours),
            report("sent", at=SENT_AT, **ours),
            report("delivered", at=DELIVERED_AT, **ours),
        ]
    )

    assert _final_state(message) == DELIVERED_AND_FAILED


def test_every_order_of_sent_and_failed_ends_failed():
    # An exact repeat of each, and a copy of the failure with a later time.
    reports = [
        ("sent", SENT_AT),
        ("failed", FAILED_AT),
        ("sent", SENT_AT),
        ("failed", FAILED_AT),
        ("failed", FAILED_AT + dt.timedelta(seconds=30)),
    ]
    failed = {
        "status": MessageStatus.FAILED,
        "reason": "meta_error",
        "wamid_recorded": True,
        "sent_at": SENT_AT,
        "delivered_at": None,
        "read_at": None,
        "failed_at": FAILED_AT,
        "error": UNDELIVERABLE_COLUMNS,
        "meta_errors": UNDELIVERABLE_AS_STORED,
        "lease_expires_at": None,
        "events": [("sent", SENT_AT), ("failed", FAILED_AT)],
    }

    finals = _every_order(reports)

    assert len(finals) == 30
    assert {order: f for order, f in finals.items() if f != failed} == {}


def test_a_repeat_with_an_earlier_time_moves_the_recorded_times_back():
    message = MessageFactory(status=MessageStatus.SENT, wamid="wamid.M1", sent_at=SENT_AT)
    late_copy = DELIVERED_AT + dt.timedelta(seconds=40)
    message_statuses_apply(statuses=[report("delivered", at=late_copy)])

    message_statuses_apply(statuses=[report("delivered", at=DELIVERED_AT)])
    message_statuses_apply(statuses=[report("delivered", at=late_copy)])

    message.refresh_from_db()
    assert message.delivered_at == DELIVERED_AT
    assert events_of(message) == [("delivered", DELIVERED_AT)]


def test_a_repeated_failure_with_an_earlier_time_moves_the_failure_and_its_error_back():
    message = MessageFactory(status=MessageStatus.SENT, wamid="wamid.M1", sent_at=SENT_AT)
    later = EventError(code=131000, title="Something went wrong")
    message_statuses_apply(statuses=[report("failed", at=READ_AT, errors=(later,))])

    message_statuses_apply(statuses=[report("failed", at=FAILED_AT, errors=(UNDELIVERABLE,))])

    message.refresh_from_db()
    assert (message.failed_at, message.error_code, message.meta_errors) == (
        FAILED_AT,
        131026,
        UNDELIVERABLE_AS_STORED,
    )
    event = MessageStatusEvent.objects.get(message=message)
    assert (event.status, event.occurred_at, event.error_code, event.error_title) == (
        "failed",
        FAILED_AT,
        131026,
        "Message undeliverable",
    )


def test_moving_times_back_costs_the_same_queries_for_one_message_or_sixty():
    campaign = CampaignFactory()

    def batch(size: int, offset: int) -> list[StatusEvent]:
        messages = MessageFactory.create_batch(size, campaign=campaign, status=MessageStatus.SENT)
        for number, message in enumerate(messages):
            Message.objects.filter(pk=message.pk).update(wamid=f"wamid.E{offset + number}")
        message_statuses_apply(
            statuses=[
                report("delivered", wamid=f"wamid.E{offset + n}", at=READ_AT) for n in range(size)
            ]
        )
        return [
            report("delivered", wamid=f"wamid.E{offset + n}", at=DELIVERED_AT) for n in range(size)
        ]

    small, large = batch(1, 0), batch(60, 100)
    with CaptureQueriesContext(connection) as one:
        message_statuses_apply(statuses=small)
    with CaptureQueriesContext(connection) as sixty:
        message_statuses_apply(statuses=large)

    assert len(sixty.captured_queries) == len(one.captured_queries)
    assert set(
        MessageStatusEvent.objects.filter(message__campaign=campaign).values_list(
            "occurred_at", flat=True
        )
    ) == {DELIVERED_AT}


# --- Business-scoped user ids -------------------------------------------------------------


def test_the_user_id_in_a_status_is_stored_on_a_contact_that_has_none():
    message = MessageFactory(
        status=MessageStatus.SENT, wamid="wamid.M1", contact=ContactFactory(whatsapp_user_id=None)
    )

    message_statuses_apply(statuses=[report("delivered", recipient_user_id="US.1349120865530")])

    message.contact.refresh_from_db()
    assert message.contact.whatsapp_user_id == "US.1349120865530"


def test_a_contacts_own_user_id_is_kept():
    contact = ContactFactory(whatsapp_user_id="US.OWN")
    MessageFactory(status=MessageStatus.SENT, wamid="wamid.M1", contact=contact)

    message_statuses_apply(statuses=[report("delivered", recipient_user_id="US.OTHER")])

    contact.refresh_from_db()
    assert contact.whatsapp_user_id == "US.OWN"


def test_a_user_id_another_contact_has_is_not_given_to_a_second_one():
    ContactFactory(whatsapp_user_id="US.TAKEN")
    contact = ContactFactory(whatsapp_user_id=None)
    MessageFactory(status=MessageStatus.SENT, wamid="wamid.M1", contact=contact)

    result = message_statuses_apply(statuses=[report("delivered", recipient_user_id="US.TAKEN")])

    contact.refresh_from_db()
    assert (len(result.matched), contact.whatsapp_user_id) == (1, None)


def test_user_ids_of_a_whole_batch_are_stored_in_one_update():
    contacts = ContactFactory.create_batch(3, whatsapp_user_id=None)
    for number, contact in enumerate(contacts):
        MessageFactory(status=MessageStatus.SENT, wamid=f"wamid.U{number}", contact=contact)
    reports = [
        report("delivered", wamid=f"wamid.U{number}", recipient_user_id=f"US.{number}")
        for number in range(3)
    ]

    with CaptureQueriesContext(connection) as queries:
        message_statuses_apply(statuses=reports)

    assert list(
        Contact.objects.filter(pk__in=[c.pk for c in contacts])
        .order_by("pk")
        .values_list("whatsapp_user_id", flat=True)
    ) == ["US.0", "US.1", "US.2"]
    updates = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith('UPDATE "contacts')
    ]
    assert len(updates) == 1


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
