"""What users send us: replies, STOP and START, button taps, and Stop/Resume in WhatsApp."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from campaigns.dispatch import dispatch_chunk
from campaigns.models import Message, MessageStatus
from contacts.models import ConsentAction, ConsentRecord, ConsentScope, ConsentSource, Contact
from tests.campaigns.conftest import sent_message_ids
from tests.campaigns.factories import ContactFactory, MessageFactory, opt_in
from tests.webhooks.helpers import payload
from webhooks.models import DeliveryStatus, InboundMessage, WebhookEvent

pytestmark = pytest.mark.django_db

NOW = int(time.time())
PHONE = "+447911123456"
WA_ID = "447911123456"
USER_ID = "GB.13491208655302741918"


def at(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def text(body: str, *, wamid: str = "wamid.IN1", wa_id: str = WA_ID, timestamp: int = NOW):
    return payload(
        "inbound_text", wa_id=wa_id, user_id=USER_ID, wamid=wamid, body=body, timestamp=timestamp
    )


def button(payload_value: str, label: str, *, context: str = "wamid.CAMPAIGN", wamid="wamid.B1"):
    return payload(
        "inbound_button",
        wa_id=WA_ID,
        wamid=wamid,
        context_wamid=context,
        payload=payload_value,
        text=label,
        timestamp=NOW,
    )


def consent_records(contact: Contact) -> list[tuple[str, str, str, str]]:
    return list(
        ConsentRecord.objects.filter(contact=contact)
        .order_by("recorded_at", "id")
        .values_list("action", "scope", "source", "evidence")
    )


def test_a_text_from_a_new_person_creates_a_contact_without_consent_and_opens_the_window(
    deliver,
):
    delivery = deliver(text("Does it come in blue?"))

    contact = Contact.objects.get()
    assert (contact.phone, contact.wa_id, contact.whatsapp_user_id, contact.name) == (
        PHONE,
        WA_ID,
        USER_ID,
        "Sheena Nelson",
    )
    assert contact.last_inbound_at == at(NOW)
    assert (contact.marketing_consent, contact.utility_consent) == (None, None)
    assert ConsentRecord.objects.count() == 0
    message = InboundMessage.objects.get()
    assert (message.wamid, message.contact, message.message_type, message.text) == (
        "wamid.IN1",
        contact,
        "text",
        "Does it come in blue?",
    )
    assert (message.sent_at, message.delivery_id, message.consent_action) == (
        at(NOW),
        delivery.pk,
        "",
    )


def test_a_user_known_only_by_user_id_is_found_again_when_the_phone_appears(deliver):
    deliver(payload("inbound_text_bsuid_only", user_id=USER_ID, wamid="wamid.U1", body="hi"))
    deliver(text("me again", wamid="wamid.U2"))

    contact = Contact.objects.get()
    assert (contact.phone, contact.whatsapp_user_id) == (PHONE, USER_ID)
    assert InboundMessage.objects.filter(contact=contact).count() == 2


@pytest.mark.parametrize(
    "word",
    ["STOP", " stop ", "Stop!", "UNSUBSCRIBE", "cancel", "Baja", "PARAR", "sair", "arrêt", "ARRET",
     "Stopp", "abmelden"],
)  # fmt: skip
def test_an_opt_out_keyword_opts_out_of_everything_with_the_message_as_evidence(deliver, word):
    contact = ContactFactory(phone=PHONE)
    opt_in(contact)

    delivery = deliver(text(word))

    contact.refresh_from_db()
    assert consent_records(contact)[1:] == [
        (
            ConsentAction.OPT_OUT,
            ConsentScope.ALL,
            ConsentSource.INBOUND_KEYWORD,
            "WhatsApp message wamid.IN1",
        )
    ]
    assert (contact.marketing_consent, contact.utility_consent) == (None, None)
    assert InboundMessage.objects.get().consent_action == "opt_out"
    assert delivery.summary == {"inbound_opt_out": 1}
    assert Message.objects.count() == 0  # nothing is sent back


@pytest.mark.parametrize("body", ["please don't stop the offers", "stop it", "STOP STOP", ""])
def test_a_message_that_only_contains_a_keyword_is_not_an_opt_out(deliver, body):
    contact = ContactFactory(phone=PHONE)
    opt_in(contact)

    deliver(text(body))

    assert len(consent_records(contact)) == 1


def test_start_opts_back_in_with_the_message_as_evidence(deliver):
    contact = ContactFactory(phone=PHONE)

    deliver(text("STOP", wamid="wamid.IN1", timestamp=NOW - 60))
    deliver(text("start", wamid="wamid.IN2"))

    contact.refresh_from_db()
    assert consent_records(contact) == [
        (
            ConsentAction.OPT_OUT,
            ConsentScope.ALL,
            ConsentSource.INBOUND_KEYWORD,
            "WhatsApp message wamid.IN1",
        ),
        (
            ConsentAction.OPT_IN,
            ConsentScope.ALL,
            ConsentSource.INBOUND_KEYWORD,
            "WhatsApp message wamid.IN2",
        ),
    ]
    assert contact.marketing_consent is not None


def test_keywords_come_from_settings(deliver, settings):
    settings.TIDINGS_OPT_OUT_KEYWORDS = ["HALT"]
    contact = ContactFactory(phone=PHONE)

    deliver(text("stop", wamid="wamid.IN1"))
    deliver(text("Halt.", wamid="wamid.IN2"))

    assert [evidence for *_, evidence in consent_records(contact)] == ["WhatsApp message wamid.IN2"]


def test_the_same_stop_in_two_deliveries_is_recorded_once(deliver):
    contact = ContactFactory(phone=PHONE)
    body = text("STOP")

    deliver(body)
    second = deliver(body.replace(b'"type"', b'"type" '))

    assert len(consent_records(contact)) == 1
    assert second.summary == {"inbound_duplicate": 1}


@pytest.mark.parametrize(
    ("payload_value", "label"),
    [
        ("Stop promotions", "Stop promotions"),
        ("Parar promocoes", "Parar promoções"),
        ("optout-42", "PARAR PROMOÇÕES"),
    ],
)
def test_metas_stop_promotions_button_opts_out_of_marketing_only(deliver, payload_value, label):
    contact = ContactFactory(phone=PHONE)
    opt_in(contact)

    deliver(button(payload_value, label))

    contact.refresh_from_db()
    # A tap on a configured opt-out button is recorded like a keyword the user sent.
    assert consent_records(contact)[1:] == [
        (
            ConsentAction.OPT_OUT,
            ConsentScope.MARKETING,
            "inbound_keyword",
            "WhatsApp message wamid.B1",
        )
    ]
    assert (contact.marketing_consent, contact.utility_consent is not None) == (None, True)


def test_a_quick_reply_counts_as_a_reply_to_the_campaign_message_it_belongs_to(deliver):
    contact = ContactFactory(phone=PHONE)
    quoted = MessageFactory(
        contact=contact,
        status=MessageStatus.READ,
        wamid="wamid.CAMPAIGN",
        sent_at=timezone.now() - dt.timedelta(days=5),
    )

    deliver(button("yes-please", "Yes please"))

    quoted.refresh_from_db()
    inbound = InboundMessage.objects.get()
    assert (inbound.button_payload, inbound.button_text, inbound.context_wamid) == (
        "yes-please",
        "Yes please",
        "wamid.CAMPAIGN",
    )
    assert (quoted.replied_at, inbound.replied_to_id) == (at(NOW), quoted.pk)
    assert ConsentRecord.objects.count() == 0


def test_a_reply_within_the_window_counts_for_the_latest_campaign_message(deliver, settings):
    settings.TIDINGS_REPLY_ATTRIBUTION_HOURS = 72
    contact = ContactFactory(phone=PHONE)
    recent = MessageFactory(
        contact=contact, status=MessageStatus.DELIVERED, sent_at=at(NOW - 3 * 3600)
    )
    old = MessageFactory(contact=contact, status=MessageStatus.READ, sent_at=at(NOW - 80 * 3600))

    deliver(text("Thanks!", wamid="wamid.R1"))
    deliver(text("One more thing", wamid="wamid.R2", timestamp=NOW + 60))

    recent.refresh_from_db()
    old.refresh_from_db()
    assert (recent.replied_at, old.replied_at) == (at(NOW), None)


@pytest.mark.parametrize(
    ("name", "kind", "reply_id", "title"),
    [
        ("inbound_interactive_button_reply", "button_reply", "confirm-slot-2", "Tuesday 10:00"),
        ("inbound_interactive_list_reply", "list_reply", "size-m", "Medium"),
    ],
)
def test_interactive_replies_are_stored_with_their_id_and_title(
    deliver, name, kind, reply_id, title
):
    deliver(payload(name, wa_id=WA_ID, wamid="wamid.I1", context_wamid="wamid.ASKED"))

    inbound = InboundMessage.objects.get()
    assert (inbound.message_type, inbound.interactive_type) == ("interactive", kind)
    assert (inbound.interactive_id, inbound.interactive_title, inbound.context_wamid) == (
        reply_id,
        title,
        "wamid.ASKED",
    )


def test_stop_mid_campaign_stops_that_contacts_send(deliver, meta, running_campaign):
    campaign = running_campaign(3)
    stopping = Message.objects.filter(campaign=campaign).order_by("id").first()
    wa_id = stopping.contact.phone.removeprefix("+")

    deliver(text("STOP", wa_id=wa_id))
    dispatch_chunk(campaign_id=campaign.pk)

    stopping.refresh_from_db()
    assert (stopping.status, stopping.reason) == (MessageStatus.SKIPPED, "opted_out")
    assert stopping.id not in sent_message_ids(meta)
    assert meta.send_count == 2


# --- user_preferences --------------------------------------------------------------------------


def preference(value: str, timestamp: int = NOW) -> bytes:
    return payload("user_preferences", wa_id=WA_ID, value=value, timestamp=timestamp)


def test_stop_in_whatsapp_opts_out_of_marketing_and_resume_opts_back_in(deliver):
    contact = ContactFactory(phone=PHONE)
    opt_in(contact)

    deliver(preference("stop", NOW - 60))
    contact.refresh_from_db()
    assert (contact.marketing_consent, contact.utility_consent is not None) == (None, True)

    deliver(preference("resume"))
    contact.refresh_from_db()
    assert contact.marketing_consent is not None
    records = consent_records(contact)[1:]
    assert [(action, scope, source) for action, scope, source, _ in records] == [
        (ConsentAction.OPT_OUT, ConsentScope.MARKETING, "whatsapp_preference"),
        (ConsentAction.OPT_IN, ConsentScope.MARKETING, "whatsapp_preference"),
    ]
    assert records[0][3] == (f"WhatsApp marketing preference 'stop' at {at(NOW - 60).isoformat()}")
    assert list(WebhookEvent.objects.values_list("kind", "outcome").order_by("id")) == [
        ("user_preference", f"Marketing opt-out of contact {contact.pk}"),
        ("user_preference", f"Marketing opt-in of contact {contact.pk}"),
    ]


def test_a_repeated_preference_is_recorded_once(deliver):
    contact = ContactFactory(phone=PHONE)
    body = preference("stop")

    deliver(body)
    again = deliver(body.replace(b'"category"', b'"category" '))

    assert len(consent_records(contact)) == 1
    assert (again.status, again.summary) == (DeliveryStatus.PROCESSED, {"duplicate": 1})


def test_an_unconfirmed_preference_value_is_kept_but_not_acted_on(deliver):
    contact = ContactFactory(phone=PHONE)

    deliver(preference("signup"))

    assert consent_records(contact) == []
    assert WebhookEvent.objects.get().outcome == "Not acted on: marketing_messages signup"
