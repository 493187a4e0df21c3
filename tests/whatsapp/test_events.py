"""The webhook parser: every event of a body, typed, with the raw piece, and never a crash."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.whatsapp.helpers import SHARED_FIXTURES
from whatsapp import payloads
from whatsapp.events import (
    AccountUpdateEvent,
    ErrorEvent,
    EventKind,
    InboundMessageEvent,
    MalformedWebhook,
    PhoneNumberUpdateEvent,
    StatusEvent,
    TemplateQualityEvent,
    TemplateStatusEvent,
    UnknownEvent,
    UserPreferenceEvent,
    parse_webhook,
    timestamp_to_datetime,
)

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"
WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"


def fixture(name: str, **values: object) -> dict:
    values.setdefault("timestamp", "1750030073")
    values.setdefault("callback", "")
    values.setdefault("entry_time", 1751247548)
    text = string.Template((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))
    return json.loads(text.substitute({key: str(value) for key, value in values.items()}))


def test_a_sent_status_carries_its_time_recipient_callback_pricing_and_conversation():
    body = fixture("status_sent", wamid="wamid.A1", recipient="447911123456", callback="tidings:42")

    [event] = parse_webhook(json.dumps(body).encode())

    assert isinstance(event, StatusEvent)
    assert event.kind is EventKind.STATUS
    assert (event.field, event.waba_id, event.phone_number_id) == (
        "messages",
        WABA_ID,
        PHONE_NUMBER_ID,
    )
    assert event.display_phone_number == "15550783881"
    assert (event.wamid, event.status, event.recipient_id) == ("wamid.A1", "sent", "447911123456")
    assert event.occurred_at == dt.datetime(2025, 6, 15, 23, 27, 53, tzinfo=dt.UTC)
    assert event.biz_opaque_callback_data == "tidings:42"
    assert (event.conversation_id, event.conversation_origin) == (
        "6ceb9d929c0a4a63f5aa4a6dc1d34c29",
        "marketing",
    )
    assert event.conversation_expires_at == dt.datetime(2025, 6, 16, 23, 28, tzinfo=dt.UTC)
    assert (
        event.pricing_billable,
        event.pricing_model,
        event.pricing_category,
        event.pricing_type,
    ) == (True, "PMP", "marketing", "regular")
    assert event.errors == ()
    assert event.raw == body["entry"][0]["changes"][0]["value"]["statuses"][0]


def test_a_failed_status_carries_metas_code_title_message_and_details():
    body = fixture("status_failed_131049", wamid="wamid.F1", recipient="447911123456")

    [event] = parse_webhook(body)

    assert event.status == "failed"
    assert not event.has_pricing
    [error] = event.errors
    assert error.code == 131049
    assert error.title == (
        "This message was not delivered to maintain healthy ecosystem engagement."
    )
    assert error.message == error.title
    assert error.details == (
        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."
    )
    assert error.href == "/documentation/business-messaging/whatsapp/support/error-codes"


def test_a_bsuid_only_status_carries_the_recipient_user_id_without_a_phone():
    [event] = parse_webhook(fixture("status_sent_bsuid", wamid="wamid.B1"))

    assert event.recipient_id == ""
    assert event.recipient_user_id == "US.13491208655302741918"


@pytest.mark.parametrize("status", ["played", "deleted", "warning", "SENT"])
def test_statuses_meta_adds_later_are_kept_lower_cased_not_refused(status):
    body = payloads.status_webhook(
        waba_id=WABA_ID,
        phone_number_id=PHONE_NUMBER_ID,
        display_phone_number="15550783881",
        wamid="wamid.N1",
        status=status,
        recipient_id="447911123456",
        timestamp=1750030073,
    )

    [event] = parse_webhook(body)

    assert isinstance(event, StatusEvent)
    assert event.status == status.lower()


def test_every_entry_change_status_and_message_of_a_batch_becomes_an_event_in_order():
    body = fixture(
        "batch_multi_entry",
        wamid_1="wamid.S1",
        wamid_2="wamid.S2",
        recipient_1="447911000001",
        recipient_2="447911000002",
        callback_1="tidings:1",
        callback_2="tidings:2",
        inbound_wamid="wamid.IN1",
    )

    events = parse_webhook(body)

    assert [(event.kind, getattr(event, "wamid", "")) for event in events] == [
        (EventKind.STATUS, "wamid.S1"),
        (EventKind.STATUS, "wamid.S2"),
        (EventKind.INBOUND_MESSAGE, "wamid.IN1"),
        (EventKind.TEMPLATE_STATUS, ""),
    ]
    assert events[2].text == "Thanks!"
    assert events[2].profile_name == "Maria"
    assert events[3].occurred_at == dt.datetime(2025, 6, 30, 1, 39, 8, tzinfo=dt.UTC)


def test_an_inbound_text_names_its_sender_by_phone_and_user_id():
    body = fixture(
        "inbound_text",
        wa_id="16505551234",
        user_id="US.13491208655302741918",
        wamid="wamid.T1",
        body="STOP",
    )

    [event] = parse_webhook(body)

    assert isinstance(event, InboundMessageEvent)
    assert (event.from_wa_id, event.from_user_id, event.profile_name) == (
        "16505551234",
        "US.13491208655302741918",
        "Sheena Nelson",
    )
    assert (event.message_type, event.text, event.wamid) == ("text", "STOP", "wamid.T1")


def test_a_bsuid_only_inbound_message_takes_the_user_id_from_contacts():
    body = fixture(
        "inbound_text_bsuid_only",
        user_id="US.13491208655302741918",
        wamid="wamid.T2",
        body="hi",
    )

    [event] = parse_webhook(body)

    assert (event.from_wa_id, event.from_user_id) == ("", "US.13491208655302741918")


def test_a_quick_reply_tap_carries_its_payload_label_and_the_template_messages_wamid():
    body = fixture(
        "inbound_button",
        wa_id="16505551234",
        wamid="wamid.Q1",
        context_wamid="wamid.CAMPAIGN",
        payload="Stop promotions",
        text="Stop promotions",
    )

    [event] = parse_webhook(body)

    assert (event.message_type, event.button_payload, event.button_text) == (
        "button",
        "Stop promotions",
        "Stop promotions",
    )
    assert (event.context_wamid, event.context_from) == ("wamid.CAMPAIGN", "15550783881")


@pytest.mark.parametrize(
    ("name", "interactive_type", "reply_id", "title"),
    [
        ("inbound_interactive_button_reply", "button_reply", "confirm-slot-2", "Tuesday 10:00"),
        ("inbound_interactive_list_reply", "list_reply", "size-m", "Medium"),
    ],
)
def test_interactive_replies_carry_the_reply_id_and_title(name, interactive_type, reply_id, title):
    body = fixture(name, wa_id="16505551234", wamid="wamid.I1", context_wamid="wamid.ASK")

    [event] = parse_webhook(body)

    assert (event.message_type, event.interactive_type) == ("interactive", interactive_type)
    assert (event.interactive_id, event.interactive_title) == (reply_id, title)
    assert event.context_wamid == "wamid.ASK"


def test_a_template_status_update_has_no_metadata_and_takes_the_entry_time():
    body = fixture(
        "template_status_update",
        waba_id=WABA_ID,
        event="PAUSED",
        template_name="spring_sale",
        language="en-US",
        reason="NONE",
        title="FIRST_PAUSE",
    )

    [event] = parse_webhook(body)

    assert isinstance(event, TemplateStatusEvent)
    assert event.phone_number_id == ""
    assert (event.template_id, event.template_name, event.language) == (
        "806312974732579",
        "spring_sale",
        "en-US",
    )
    assert (event.event, event.reason, event.category) == ("PAUSED", "NONE", "MARKETING")
    assert event.other_info_title == "FIRST_PAUSE"
    assert event.occurred_at == dt.datetime(2025, 6, 30, 1, 39, 8, tzinfo=dt.UTC)


def test_a_legacy_template_rejection_without_a_category_is_read():
    body = {
        "entry": [
            {
                "id": "880480871844883",
                "time": 1674250641,
                "changes": [
                    {
                        "value": {
                            "event": "REJECTED",
                            "message_template_id": 905507062668800,
                            "message_template_name": "schedule_confirmation4",
                            "message_template_language": "pt_BR",
                            "reason": "SCAM",
                        },
                        "field": "message_template_status_update",
                    }
                ],
            }
        ],
        "object": "whatsapp_business_account",
    }

    [event] = parse_webhook(body)

    assert (event.event, event.reason, event.category) == ("REJECTED", "SCAM", "")


def test_a_template_quality_update_carries_both_scores():
    [event] = parse_webhook(
        fixture(
            "template_quality_update", waba_id=WABA_ID, template_name="spring_sale", quality="RED"
        )
    )

    assert isinstance(event, TemplateQualityEvent)
    assert (event.previous_quality, event.new_quality) == ("GREEN", "RED")


def test_a_user_preference_takes_its_integer_timestamp():
    [event] = parse_webhook(
        fixture("user_preferences", wa_id="16505551234", value="stop", timestamp=1731705721)
    )

    assert isinstance(event, UserPreferenceEvent)
    assert (event.wa_id, event.category, event.value) == (
        "16505551234",
        "marketing_messages",
        "stop",
    )
    assert event.occurred_at == dt.datetime(2024, 11, 15, 21, 22, 1, tzinfo=dt.UTC)


def test_phone_number_and_account_updates_are_read_without_metadata():
    phone = fixture(
        "phone_number_quality_update",
        waba_id=WABA_ID,
        display_phone_number="15550783881",
        event="THROUGHPUT_UPGRADE",
        current_limit="TIER_UNLIMITED",
    )
    account = fixture("account_update", waba_id=WABA_ID)

    [phone_event] = parse_webhook(phone)
    [account_event] = parse_webhook(account)

    assert isinstance(phone_event, PhoneNumberUpdateEvent)
    assert (phone_event.display_phone_number, phone_event.event, phone_event.current_limit) == (
        "15550783881",
        "THROUGHPUT_UPGRADE",
        "TIER_UNLIMITED",
    )
    assert isinstance(account_event, AccountUpdateEvent)
    assert (account_event.event, account_event.phone_number) == (
        "ACCOUNT_RESTRICTION",
        "15550783881",
    )


def test_metas_value_level_errors_become_error_events():
    [event] = parse_webhook(fixture("value_errors"))

    assert isinstance(event, ErrorEvent)
    assert (event.error.code, event.error.details) == (131000, "Unsupported webhook payload")


def test_an_unhandled_field_becomes_an_unknown_event_with_its_value():
    body = fixture("unknown_field")

    [event] = parse_webhook(body)

    assert isinstance(event, UnknownEvent)
    assert event.field == "message_template_components_update"
    assert event.raw == body["entry"][0]["changes"][0]["value"]
    assert event.reason == "field 'message_template_components_update' not handled"


def test_another_object_is_one_unknown_event():
    [event] = parse_webhook({"object": "page", "entry": []})

    assert (event.kind, event.reason) == (EventKind.UNKNOWN, "object 'page' is not ours")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object but list"),
        (b'{"object": "whatsapp_business_account"}', "no `entry` list"),
        (b'{"entry": {"id": 1}}', "no `entry` list"),
    ],
)
def test_a_body_that_is_no_webhook_at_all_is_malformed(body, message):
    with pytest.raises(MalformedWebhook, match=message):
        parse_webhook(body)


def test_odd_shapes_inside_an_envelope_are_kept_as_unknown_never_a_crash():
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            "not an entry",
            {"id": 7, "changes": ["not a change", {"field": "messages", "value": None}]},
            {"id": 7, "changes": [{"field": "messages", "value": {"statuses": [5, None]}}]},
        ],
    }

    events = parse_webhook(body)

    assert [event.kind for event in events] == [EventKind.UNKNOWN] * 5
    assert events[1].waba_id == "7"


def test_a_status_with_wrong_types_is_read_as_far_as_possible():
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "statuses": [
                                {
                                    "id": 12345,
                                    "status": None,
                                    "timestamp": "yesterday",
                                    "pricing": "free",
                                    "conversation": {"origin": "marketing"},
                                    "errors": [
                                        {"code": "131050", "error_data": "not an object"},
                                        {"code": 10**12, "title": "not a Meta code"},
                                    ],
                                }
                            ]
                        },
                    }
                ],
            }
        ],
    }

    [event] = parse_webhook(body)

    assert (event.wamid, event.status, event.occurred_at) == ("12345", "", None)
    assert not event.has_pricing
    assert event.conversation_origin == ""
    assert [(error.code, error.details) for error in event.errors] == [
        (131050, "not an object"),
        (None, ""),
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1750030073", dt.datetime(2025, 6, 15, 23, 27, 53, tzinfo=dt.UTC)),
        (1731705721, dt.datetime(2024, 11, 15, 21, 22, 1, tzinfo=dt.UTC)),
        ("1750030073.5", dt.datetime(2025, 6, 15, 23, 27, 53, 500000, tzinfo=dt.UTC)),
        ("", None),
        ("soon", None),
        (None, None),
        (True, None),
        (-5, None),
        (10**20, None),
        ("nan", None),
        ([], None),
    ],
)
def test_timestamps_become_aware_utc_datetimes_or_none(value, expected):
    assert timestamp_to_datetime(value) == expected


def test_the_same_event_in_another_key_order_has_the_same_fingerprint():
    value = {"event": "PAUSED", "message_template_id": 1, "message_template_name": "a"}
    reordered = dict(reversed(list(value.items())))

    def body(item: dict) -> dict:
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {"id": "9", "changes": [{"field": "message_template_status_update", "value": item}]}
            ],
        }

    [first], [second] = parse_webhook(body(value)), parse_webhook(body(reordered))
    [other] = parse_webhook(body({**value, "event": "APPROVED"}))

    assert first.fingerprint == second.fingerprint
    assert other.fingerprint != first.fingerprint


def _account_body(field: str, value: dict, *, time: int) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "9", "time": time, "changes": [{"field": field, "value": value}]}],
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("message_template_status_update", {"event": "PAUSED", "message_template_id": 1}),
        ("message_template_quality_update", {"new_quality_score": "RED"}),
        ("phone_number_quality_update", {"event": "FLAGGED", "current_limit": "TIER_10K"}),
        ("account_update", {"event": "ACCOUNT_RESTRICTION"}),
    ],
)
def test_an_account_level_event_at_another_entry_time_is_another_event(field, value):
    [first] = parse_webhook(_account_body(field, value, time=1751247548))
    [redelivered] = parse_webhook(_account_body(field, dict(value), time=1751247548))
    [later] = parse_webhook(_account_body(field, value, time=1751247608))

    assert redelivered.fingerprint == first.fingerprint
    assert later.fingerprint != first.fingerprint


def test_a_status_redelivered_in_an_entry_with_another_time_is_the_same_event():
    status = {"id": "wamid.1", "status": "sent", "timestamp": "1751247500"}

    def body(time: int) -> dict:
        value = {"metadata": {"phone_number_id": "1"}, "statuses": [status]}
        return _account_body("messages", value, time=time)

    [first], [second] = parse_webhook(body(1751247548)), parse_webhook(body(1751247608))

    assert first.fingerprint == second.fingerprint


def _shared_bodies() -> list[tuple[str, object]]:
    if not SHARED_FIXTURES.is_dir():
        return []
    bodies = []
    for path in sorted(SHARED_FIXTURES.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        if path.name.startswith("pywa__"):
            bodies += [(f"{path.name}:{name}", body) for name, body in document.items()]
        else:
            bodies.append((path.name, document))
    return bodies


SHARED_BODIES = _shared_bodies()


@pytest.mark.skipif(not SHARED_BODIES, reason="shared cloud-api-fixtures folder not available")
@pytest.mark.parametrize(("name", "body"), SHARED_BODIES, ids=[name for name, _ in SHARED_BODIES])
def test_every_public_example_payload_parses_into_known_events(name, body):
    if "entry" not in body:
        # API responses (send success, Graph errors) kept beside the webhooks: not webhooks.
        with pytest.raises(MalformedWebhook):
            parse_webhook(body)
        return

    events = parse_webhook(json.dumps(body).encode())

    assert events
    assert all(event.kind is not EventKind.UNKNOWN for event in events), events
    for event in events:
        if isinstance(event, StatusEvent | InboundMessageEvent):
            assert event.wamid
            assert event.occurred_at is not None


WEBHOOK_KEYS = (
    "object", "entry", "id", "changes", "field", "value", "statuses", "messages", "contacts",
    "timestamp", "status", "errors", "pricing", "metadata", "time",
)  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(WEBHOOK_KEYS) | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_parses_or_is_malformed_never_anything_else(document):
    try:
        events = parse_webhook(json.dumps(document).encode())
    except MalformedWebhook:
        return
    assert all(event.kind in EventKind for event in events)
    for event in events:
        assert isinstance(event.fingerprint, str)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(
        ["status_sent", "inbound_button", "template_status_update", "user_preferences"]
    ),
    st.integers(min_value=0, max_value=2000),
)
def test_a_truncated_payload_is_malformed_never_a_crash(name, cut):
    raw = json.dumps(
        fixture(
            name,
            wamid="wamid.X",
            recipient="1",
            wa_id="1",
            context_wamid="wamid.Y",
            payload="p",
            text="t",
            waba_id="1",
            event="PAUSED",
            template_name="n",
            language="en",
            reason="NONE",
            title="FIRST_PAUSE",
            value="stop",
        )
    ).encode()

    with contextlib.suppress(MalformedWebhook):
        parse_webhook(raw[:cut])
