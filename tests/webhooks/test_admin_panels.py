"""The webhooks app's panel on the contact page: the messages the person sent us."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission

from tests.contacts.factories import ContactFactory, UserFactory
from webhooks.models import InboundMessage

pytestmark = pytest.mark.django_db

SENT_AT = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def contact_page(client, contact) -> str:
    response = client.get(f"/admin/contacts/contact/{contact.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def inbound(contact, wamid: str, **fields) -> InboundMessage:
    return InboundMessage.objects.create(
        wamid=wamid, contact=contact, sent_at=fields.pop("sent_at", SENT_AT), **fields
    )


def test_the_contact_page_lists_what_the_contact_sent(admin_client, settings):
    settings.TIDINGS_INBOUND_MESSAGE_RETENTION_DAYS = 30
    contact = ContactFactory()
    text = inbound(contact, "wamid.A", message_type="text", text="Where is my order?")
    inbound(
        contact,
        "wamid.B",
        message_type="button",
        button_text="Stop promotions",
        consent_action="opt_out_marketing",
        sent_at=SENT_AT + dt.timedelta(hours=1),
    )
    inbound(ContactFactory(), "wamid.C", message_type="text", text="Someone else")

    page = contact_page(admin_client, contact)

    assert 'id="panel-messages-received"' in page
    assert f"href='/admin/webhooks/inboundmessage/{text.pk}/change/'>2026-03-02 09:30</a>" in page
    assert "<td>text</td><td>Where is my order?</td><td>—</td>" in page
    assert "<td>button</td><td>Stop promotions</td><td>opt_out_marketing</td>" in page
    assert page.index("Stop promotions") < page.index("Where is my order?")  # newest first
    assert "Someone else" not in page
    assert "Messages are kept 30 days." in page


def test_a_contact_who_never_wrote_says_so(admin_client, settings):
    settings.TIDINGS_INBOUND_MESSAGE_RETENTION_DAYS = 14

    page = contact_page(admin_client, ContactFactory())

    assert "No message from this contact in the last 14 days" in page


def test_the_panel_needs_the_permission_to_view_inbound_messages(client):
    contact = ContactFactory()
    inbound(contact, "wamid.A", message_type="text", text="Private words")
    user = UserFactory(username="viewer", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_contact"))
    client.force_login(user)

    page = contact_page(client, contact)

    assert "panel-messages-received" not in page
    assert "Private words" not in page
