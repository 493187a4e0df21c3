"""Erasure: irreversible anonymisation that keeps the audit trail and knows a returning number."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from campaigns.models import DataSource, Message, MessageStatus, MessageStatusEvent, TrackedLink
from campaigns.personalisation.sources import cache_key
from contacts import services
from contacts.erasure import phone_hash, register_erasure_step, unregister_erasure_step
from contacts.errors import ContactError
from contacts.models import ConsentRecord, Contact, ContactImport, ContactImportRejectedRow
from contacts.selectors import contacts_consent_for_category, phone_was_erased, tags_by_contact
from tests.campaigns.factories import CampaignFactory, MessageFactory
from tests.contacts.factories import ContactFactory, UserFactory, opt_in
from tests.webhooks.conftest import deliver  # noqa: F401 - the endpoint fixture
from tests.webhooks.helpers import payload
from webhooks.models import InboundMessage, UnmatchedStatus, WebhookDelivery, WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact() -> Contact:
    contact = ContactFactory(
        phone="+447911123456",
        whatsapp_user_id="GB.1349120865530274",
        name="Zoë Adams",
        external_id="CRM-1",
        attributes={"tier": "gold"},
        tags=["vip"],
    )
    opt_in(contact, "all")
    return contact


def test_erasure_clears_personal_data_and_records_who_and_when(contact):
    officer = UserFactory(username="dpo")

    erased = services.contact_erase(contact=contact, erased_by=officer)

    stored = Contact.objects.get(pk=contact.pk)
    assert stored == erased
    assert (stored.phone, stored.wa_id, stored.whatsapp_user_id, stored.external_id) == (
        None,
        "",
        None,
        None,
    )
    assert (stored.name, stored.language, stored.timezone, stored.attributes) == ("", "", "", {})
    assert tags_by_contact([stored.pk]) == {}
    assert stored.erased_by == officer
    assert stored.erased_at is not None
    assert stored.erased_phone_hash == phone_hash("+447911123456")
    assert "447911123456" not in stored.erased_phone_hash
    assert str(stored) == f"erased contact #{stored.pk}"


def test_consent_records_are_kept_for_audit_but_the_contact_can_never_be_messaged(contact):
    services.contact_erase(contact=contact, erased_by=UserFactory())

    assert ConsentRecord.objects.filter(contact=contact).count() == 1
    for category in ("MARKETING", "UTILITY", "AUTHENTICATION"):
        assert contacts_consent_for_category(contact_ids=[contact.pk], category=category) == {}


def test_a_returning_number_is_recognised_in_any_format_without_being_stored(contact):
    services.contact_erase(contact=contact, erased_by=UserFactory())

    assert phone_was_erased("07911 123456")
    assert phone_was_erased("447911123456")
    assert not phone_was_erased("+447911123457")
    assert not phone_was_erased("not a number")
    assert not Contact.objects.filter(phone="+447911123456").exists()


def test_the_hash_is_keyed_by_the_erasure_key(contact):
    with override_settings(TIDINGS_ERASURE_KEY="key-one"):
        first = phone_hash("+447911123456")
    with override_settings(TIDINGS_ERASURE_KEY="key-two"):
        second = phone_hash("+447911123456")

    assert first != second
    assert len(first) == 64


def test_registered_steps_run_inside_the_erasure_with_the_contact_id(contact):
    seen: list[tuple[int, bool]] = []

    def clear_message_contents(contact_id: int) -> None:
        # Runs before the contact is anonymised, in the same transaction.
        seen.append((contact_id, Contact.objects.get(pk=contact_id).erased_at is None))

    register_erasure_step(clear_message_contents)
    register_erasure_step(clear_message_contents)
    try:
        services.contact_erase(contact=contact, erased_by=UserFactory())
    finally:
        unregister_erasure_step(clear_message_contents)

    assert seen == [(contact.pk, True)]


def test_a_failing_step_erases_nothing(contact):
    def broken_step(contact_id: int) -> None:
        raise RuntimeError("message store unavailable")

    register_erasure_step(broken_step)
    try:
        with pytest.raises(RuntimeError, match="message store unavailable"):
            services.contact_erase(contact=contact, erased_by=UserFactory())
    finally:
        unregister_erasure_step(broken_step)

    contact.refresh_from_db()
    assert (contact.erased_at, contact.phone, contact.name) == (None, "+447911123456", "Zoë Adams")


def test_import_rows_holding_the_number_are_dropped(contact):
    contact_import = ContactImport.objects.create(file_name="old.csv", default_region="GB")
    ContactImportRejectedRow.objects.create(
        contact_import=contact_import,
        row_number=2,
        reason="Timezone 'x' is not an IANA timezone such as Europe/London.",
        values={"phone": "07911 123456", "timezone": "x"},
        phone="+447911123456",
    )
    other = ContactImportRejectedRow.objects.create(
        contact_import=contact_import, row_number=3, reason="Phone is missing.", values={}
    )

    services.contact_erase(contact=contact, erased_by=UserFactory())

    assert list(ContactImportRejectedRow.objects.all()) == [other]


def test_erasing_twice_is_refused(contact):
    services.contact_erase(contact=contact, erased_by=UserFactory())

    with pytest.raises(ContactError, match="already been erased"):
        services.contact_erase(contact=contact, erased_by=UserFactory())


def test_an_erased_contact_cannot_be_edited(contact):
    services.contact_erase(contact=contact, erased_by=UserFactory())

    with pytest.raises(ContactError, match="erased"):
        services.contact_update(contact=contact, name="Back")

    contact.refresh_from_db()
    assert contact.name == ""


def test_the_person_writing_again_becomes_a_new_contact_without_consent(contact):
    services.contact_erase(contact=contact, erased_by=UserFactory())

    returning = services.contact_find_or_create_from_whatsapp(
        wa_id="447911123456", user_id=None, profile_name="Zoë"
    )

    assert returning.pk != contact.pk
    assert returning.phone == "+447911123456"
    assert (returning.marketing_consent, returning.utility_consent) == (None, None)


# --- Message contents in the apps to the right of contacts -----------------------------------

WA_ID = "447911123456"
USER_ID = "GB.1349120865530274"
WAMID = "wamid.HBgMNDQ3OTExMTIzNDU2FQIAERgSQUJDMTIzAA=="


def _row_text(row) -> str:
    """Every stored value of a row as text, raw bodies decoded, JSON unescaped."""
    values = []
    for field in row._meta.concrete_fields:
        value = getattr(row, field.attname)
        if isinstance(value, bytes | memoryview):
            value = bytes(value).decode("utf-8", errors="replace")
        elif isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False)
        values.append(str(value))
    return " | ".join(values)


def _rows_mentioning(models, secrets) -> list[tuple[str, int, str]]:
    return [
        (model.__name__, row.pk, secret)
        for model in models
        for row in model.objects.all()
        for secret in secrets
        if secret in _row_text(row)
    ]


@pytest.fixture
def messaged_contact(deliver):  # noqa: F811 - the endpoint fixture imported above
    """A contact who got a campaign message with a tracked link, an API message, replied,
    and tapped Stop in WhatsApp; all of Meta's webhooks went through the real endpoint."""
    contact = ContactFactory(
        phone="+" + WA_ID, whatsapp_user_id=USER_ID, name="Zoë Adams", external_id="CRM-77"
    )
    campaign = CampaignFactory(
        tracked_links={"button.0": "https://shop.example.com/track/{value}?src=wa"}
    )
    sent_at = timezone.now() - timedelta(minutes=10)
    message = MessageFactory(
        campaign=campaign,
        contact=contact,
        status=MessageStatus.SENT,
        wamid=WAMID,
        sent_at=sent_at,
        parameters={"body.1": "Zoë", "body.2": "ORDER-99812", "button.0": "tok123"},
    )
    TrackedLink.objects.create(
        message=message,
        token="tok123",
        target_url="https://shop.example.com/track/ORDER-99812?src=wa",
    )
    api_message = MessageFactory(
        campaign=None,
        contact=contact,
        sender=campaign.sender,
        template=campaign.template,
        category="UTILITY",
        idempotency_key=f"order-7-+{WA_ID}",
        status=MessageStatus.FAILED,
        error_details=f"Recipient {WA_ID} is not a WhatsApp user",
        parameters={"body.1": "Zoë", "body.2": "ORDER-99812"},
    )
    deliver(payload("status_delivered", wamid=WAMID, recipient=WA_ID))
    deliver(payload("status_read", wamid="wamid.NOT-OURS", recipient=WA_ID))  # unmatched
    deliver(
        payload(
            "inbound_text",
            wa_id=WA_ID,
            user_id=USER_ID,
            wamid="wamid.IN1",
            body="Deliver to 12 Elm Street please",
        )
    )
    deliver(payload("user_preferences", wa_id=WA_ID, value="stop"))
    deliver(
        payload(
            "inbound_text",
            wa_id="447911000099",
            user_id="GB.999",
            wamid="wamid.OTHER",
            body="Someone else entirely",
        ).replace(b"Sheena Nelson", b"Ravi Patel")
    )
    return contact, message, api_message


WEBHOOK_AND_MESSAGE_TABLES = (
    Message,
    MessageStatusEvent,
    TrackedLink,
    InboundMessage,
    WebhookDelivery,
    WebhookEvent,
    UnmatchedStatus,
    Contact,
)


def test_erasure_leaves_no_phone_name_or_message_text_in_messages_or_webhook_records(
    messaged_contact, api_as, privacy_officer
):
    contact, _, _ = messaged_contact
    secrets = [
        WA_ID,
        USER_ID,
        "Zoë",
        "Sheena Nelson",  # the WhatsApp profile name in Meta's payloads
        "Elm Street",
        "ORDER-99812",
    ]
    # Given every one of them is stored somewhere before erasure
    found_before = {
        secret for _, _, secret in _rows_mentioning(WEBHOOK_AND_MESSAGE_TABLES, secrets)
    }
    assert found_before == set(secrets)
    assert UnmatchedStatus.objects.count() == 1
    assert WebhookEvent.objects.filter(kind="user_preference").count() == 1

    response = api_as(privacy_officer).post(f"/api/v1/contacts/{contact.pk}/erase/")

    assert response.status_code == 200
    assert _rows_mentioning(WEBHOOK_AND_MESSAGE_TABLES, secrets) == []


def test_erasure_keeps_message_metadata_for_the_audit(messaged_contact):
    contact, message, api_message = messaged_contact
    message.refresh_from_db()
    before = (message.status, message.sent_at, message.delivered_at, message.campaign_id)
    deliveries = dict(WebhookDelivery.objects.values_list("pk", "sha256"))

    services.contact_erase(contact=contact, erased_by=UserFactory())

    message.refresh_from_db()
    api_message.refresh_from_db()
    assert (message.status, message.sent_at, message.delivered_at, message.campaign_id) == before
    assert message.status == MessageStatus.DELIVERED
    assert message.parameters == {}
    assert message.parameters_purged_at is not None
    assert (message.wamid, message.contact_id) == (WAMID, contact.pk)
    assert list(message.status_events.values_list("status", flat=True)) == ["delivered"]
    assert message.tracked_link.target_url == "https://shop.example.com/track/?src=wa"
    assert message.tracked_link.token == "tok123"
    assert api_message.idempotency_key == f"erased:{api_message.pk}"
    assert api_message.error_details == "Recipient [erased] is not a WhatsApp user"
    assert api_message.status == MessageStatus.FAILED
    inbound = InboundMessage.objects.get(wamid="wamid.IN1")
    assert (inbound.contact_id, inbound.message_type, inbound.text, inbound.from_wa_id) == (
        contact.pk,
        "text",
        "",
        "",
    )
    assert inbound.sent_at is not None
    # Raw deliveries are redacted, not dropped, and still recognise a redelivery by Meta.
    assert dict(WebhookDelivery.objects.values_list("pk", "sha256")) == deliveries
    stored = json.loads(bytes(WebhookDelivery.objects.get(pk=inbound.delivery_id).body))
    sent = stored["entry"][0]["changes"][0]["value"]["messages"][0]
    assert (sent["id"], sent["type"], sent["from"], sent["text"]) == (
        "wamid.IN1",
        "text",
        "",
        {"body": ""},
    )


def test_erasure_leaves_other_peoples_webhook_records_alone(messaged_contact):
    contact, _, _ = messaged_contact

    services.contact_erase(contact=contact, erased_by=UserFactory())

    other = InboundMessage.objects.get(wamid="wamid.OTHER")
    assert (other.text, other.from_wa_id, other.from_user_id) == (
        "Someone else entirely",
        "447911000099",
        "GB.999",
    )
    body = bytes(WebhookDelivery.objects.get(pk=other.delivery_id).body).decode()
    assert "Someone else entirely" in body
    assert "447911000099" in body
    assert "Ravi Patel" in body


def test_erasure_forgets_data_source_values_cached_for_the_contact(messaged_contact):
    contact, _, _ = messaged_contact
    source = DataSource.objects.create(
        name="crm", url_template="https://crm.example.com/customers/{external_id}"
    )
    key = cache_key(source, "CRM-77")
    cache.set(key, {"tier": "gold"})
    untouched = cache_key(source, "CRM-78")
    cache.set(untouched, {"tier": "silver"})

    services.contact_erase(contact=contact, erased_by=UserFactory())

    assert cache.get(key) is None
    assert cache.get(untouched) == {"tier": "silver"}


# --- An erased number comes back only when the person asks -------------------------------------


def test_creating_or_moving_a_contact_to_an_erased_number_is_refused(contact):
    services.contact_erase(contact=contact, erased_by=UserFactory())
    other = ContactFactory(phone="+447911000003")

    with pytest.raises(ContactError) as created:
        services.contact_create(phone="07911 123456", name="Back")
    with pytest.raises(ContactError) as moved:
        services.contact_update(contact=other, phone="+447911123456")

    for error in (created.value, moved.value):
        assert (error.field, error.code) == ("phone", "erased_number")
        assert "returning_after_erasure" in error.message
    assert not Contact.objects.filter(phone="+447911123456").exists()


def test_an_erased_number_is_added_again_when_the_person_asked(contact):
    services.contact_erase(contact=contact, erased_by=UserFactory())

    returning = services.contact_create(phone="+447911123456", returning_after_erasure=True)

    assert returning.pk != contact.pk
    assert (returning.phone, returning.marketing_consent) == ("+447911123456", None)


def test_the_api_refuses_an_erased_number_with_a_400_unless_confirmed(
    contact, api_as, marketing_user
):
    services.contact_erase(contact=contact, erased_by=UserFactory())
    client = api_as(marketing_user)

    refused = client.post("/api/v1/contacts/", {"phone": "+447911123456"}, format="json")

    assert refused.status_code == 400
    (error,) = refused.json()["errors"]
    assert (error["attr"], error["code"]) == ("phone", "erased_number")
    assert not Contact.objects.filter(phone="+447911123456").exists()

    confirmed = client.post(
        "/api/v1/contacts/",
        {"phone": "+447911123456", "returning_after_erasure": True},
        format="json",
    )

    assert confirmed.status_code == 201
    assert confirmed.json()["phone"] == "+447911123456"
    assert "returning_after_erasure" not in confirmed.json()


def test_the_admin_add_form_refuses_an_erased_number_unless_confirmed(
    contact, client, admin_user_account
):
    services.contact_erase(contact=contact, erased_by=UserFactory())
    client.force_login(admin_user_account)
    add = reverse("admin:contacts_contact_add")
    form = {"phone": "07911 123456", "attributes": "{}", "tags": ""}

    refused = client.post(add, form)

    assert refused.status_code == 200
    assert "erased at their request" in refused.context["adminform"].form.errors["phone"][0]
    assert not Contact.objects.filter(phone="+447911123456").exists()

    confirmed = client.post(add, {**form, "returning_after_erasure": "on"})

    assert confirmed.status_code == 302
    assert Contact.objects.filter(phone="+447911123456", erased_at=None).count() == 1
