"""The reply to a consent keyword: nothing unless TIDINGS_CONSENT_KEYWORD_REPLY is set, then that
text once per inbound message, through the provider (Meta's loopback stand-in here)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from tests.campaigns.factories import ContactFactory
from tests.webhooks.helpers import payload
from webhooks import services
from webhooks.models import ConsentReplyStatus, InboundMessage, WebhookDelivery
from webhooks.tasks import send_consent_reply
from whatsapp import SendAccepted

pytestmark = pytest.mark.django_db

NOW = int(time.time())
PHONE = "+447911123456"
WA_ID = "447911123456"
PHONE_NUMBER_ID = "106540352242922"  # the number the user wrote to, in the payloads' metadata
REPLY = "You will get no more messages from us. Reply START to subscribe again."


def text(body: str, *, wamid: str = "wamid.IN1", timestamp: int = NOW, user_id: str = "GB.1"):
    return payload(
        "inbound_text", wa_id=WA_ID, user_id=user_id, wamid=wamid, body=body, timestamp=timestamp
    )


@pytest.fixture
def reply_configured(settings, meta):
    settings.TIDINGS_CONSENT_KEYWORD_REPLY = f"  {REPLY}\n"
    return meta


def replies_sent(meta) -> list[dict]:
    return [
        {key: message[key] for key in ("to", "type", "text")}
        for message in meta.accepted_messages
        if message.get("type") == "text"
    ]


def test_by_default_a_stop_sends_nothing_back(deliver, meta):
    ContactFactory(phone=PHONE)

    deliver(text("STOP"))

    inbound = InboundMessage.objects.get()
    assert (inbound.consent_action, inbound.consent_reply_status) == ("opt_out", "")
    assert meta.send_count == 0


def test_a_configured_reply_goes_once_to_the_person_from_the_number_they_wrote_to(
    deliver, reply_configured
):
    ContactFactory(phone=PHONE)

    deliver(text("STOP"))

    assert replies_sent(reply_configured) == [
        {"to": WA_ID, "type": "text", "text": {"preview_url": False, "body": REPLY}}
    ]
    assert reply_configured.message_requests[0].path.endswith(f"/{PHONE_NUMBER_ID}/messages")
    inbound = InboundMessage.objects.get()
    assert (inbound.consent_reply_status, inbound.consent_reply_wamid) == (
        ConsentReplyStatus.SENT,
        reply_configured.accepted_messages[0]["_wamid"],
    )


def test_the_webhook_processed_twice_still_sends_one_reply(deliver, reply_configured):
    ContactFactory(phone=PHONE)
    body = text("STOP")
    first = deliver(body)

    # Meta's redelivery (other bytes, same message), an operator's replay, and the task again.
    deliver(body.replace(b'"type"', b'"type" '))
    services.webhook_delivery_process(delivery_id=first.pk, replay=True)
    again = send_consent_reply.delay(InboundMessage.objects.get().pk).get()

    assert again == "not_due"
    assert len(replies_sent(reply_configured)) == 1
    assert WebhookDelivery.objects.count() == 2


def test_an_opt_in_keyword_and_an_opt_out_button_are_answered_too(deliver, reply_configured):
    ContactFactory(phone=PHONE)

    deliver(text("STOP", wamid="wamid.IN1", timestamp=NOW - 60))
    deliver(text("START", wamid="wamid.IN2"))
    deliver(
        payload(
            "inbound_button",
            wa_id=WA_ID,
            wamid="wamid.B1",
            context_wamid="wamid.CAMPAIGN",
            payload="Stop promotions",
            text="Stop promotions",
            timestamp=NOW,
        )
    )

    assert len(replies_sent(reply_configured)) == 3
    assert set(InboundMessage.objects.values_list("consent_reply_status", flat=True)) == {
        ConsentReplyStatus.SENT
    }


def test_a_message_that_is_not_a_keyword_gets_no_reply(deliver, reply_configured):
    ContactFactory(phone=PHONE)

    deliver(text("Does it come in blue?"))

    assert InboundMessage.objects.get().consent_reply_status == ""
    assert reply_configured.send_count == 0


def test_a_person_known_by_user_id_only_gets_no_reply(deliver, reply_configured):
    # `send_text` addresses a phone number; a BSUID-only sender has none.
    deliver(payload("inbound_text_bsuid_only", user_id="GB.7", wamid="wamid.IN1", body="STOP"))

    inbound = InboundMessage.objects.get()
    assert (inbound.consent_action, inbound.consent_reply_status) == ("opt_out", "")
    assert reply_configured.send_count == 0


def test_metas_throughput_error_leaves_the_reply_pending_and_the_sweep_sends_it(
    deliver, reply_configured, django_capture_on_commit_callbacks
):
    ContactFactory(phone=PHONE)
    reply_configured.fail_next(130429)

    deliver(text("STOP"))

    inbound = InboundMessage.objects.get()
    assert (inbound.consent_reply_status, replies_sent(reply_configured)) == (
        ConsentReplyStatus.PENDING,
        [],
    )
    assert inbound.consent_reply_error.startswith("Meta error 130429")
    with django_capture_on_commit_callbacks(execute=True):
        swept = services.webhook_deliveries_sweep(now=timezone.now() + dt.timedelta(minutes=2))
    assert swept["consent_replies"] == 1
    inbound.refresh_from_db()
    assert inbound.consent_reply_status == ConsentReplyStatus.SENT
    assert len(replies_sent(reply_configured)) == 1


def test_a_reply_whose_outcome_is_unknown_is_never_sent_again(deliver, reply_configured):
    ContactFactory(phone=PHONE)
    reply_configured.delay_next(1.5)  # past the provider's 1 s read timeout

    deliver(text("STOP"))
    swept = services.webhook_deliveries_sweep(now=timezone.now() + dt.timedelta(minutes=2))

    inbound = InboundMessage.objects.get()
    assert inbound.consent_reply_status == ConsentReplyStatus.UNCERTAIN
    assert swept["consent_replies"] == 0
    assert reply_configured.send_count == 1


def test_a_keyword_processed_after_the_service_window_closed_is_not_answered(
    deliver, reply_configured
):
    ContactFactory(phone=PHONE)

    deliver(text("STOP", timestamp=NOW - 25 * 3600))

    inbound = InboundMessage.objects.get()
    assert (inbound.consent_reply_status, inbound.consent_reply_error) == (
        ConsentReplyStatus.FAILED,
        "The 24-hour service window has closed",
    )
    assert reply_configured.send_count == 0


class WindowAwareProvider:
    """A provider whose `send_text` also takes when the user last wrote (to check the window)."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def send_text(
        self, phone_number_id, to, body, *, preview_url=False, biz_opaque_callback_data=None,
        last_inbound_at=None,
    ):  # fmt: skip
        self.calls.append({"to": to, "body": body, "last_inbound_at": last_inbound_at})
        return SendAccepted(wamid="wamid.REPLY", wa_id=to, input=to)


def test_a_provider_that_checks_the_window_is_told_when_the_user_wrote(
    deliver, settings, monkeypatch
):
    settings.TIDINGS_CONSENT_KEYWORD_REPLY = REPLY
    provider = WindowAwareProvider()
    monkeypatch.setattr("webhooks.services.replies.get_provider", lambda: provider)
    ContactFactory(phone=PHONE)

    deliver(text("STOP", timestamp=NOW - 60))

    assert provider.calls == [
        {
            "to": WA_ID,
            "body": REPLY,
            "last_inbound_at": dt.datetime.fromtimestamp(NOW - 60, tz=dt.UTC),
        }
    ]
    assert InboundMessage.objects.get().consent_reply_wamid == "wamid.REPLY"
