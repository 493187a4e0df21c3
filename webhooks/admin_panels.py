"""The webhooks app's panel on the contact page (see config.admin_tools): what the person sent
us, kept for TIDINGS_INBOUND_MESSAGE_RETENTION_DAYS."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from config.admin_tools import register_panel
from contacts.models import Contact

from .models import InboundMessage

INBOUND_SHOWN = 50


def _content(message: InboundMessage) -> str:
    text = message.text or message.button_text or message.interactive_title or ""
    return text if len(text) <= 120 else text[:117] + "…"


@register_panel("contacts.contact", title="Messages received", order=30)
def contact_messages_received(request: HttpRequest, contact: Contact) -> SafeString | None:
    if not request.user.has_perm("webhooks.view_inboundmessage"):
        return None
    received = list(
        InboundMessage.objects.filter(contact=contact).order_by("-sent_at", "-id")[
            : INBOUND_SHOWN + 1
        ]
    )
    retention = settings.TIDINGS_INBOUND_MESSAGE_RETENTION_DAYS
    if not received:
        return format_html(
            "<p>No message from this contact in the last {} days (they are kept that long).</p>",
            retention,
        )
    rows = format_html_join(
        "",
        "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                reverse("admin:webhooks_inboundmessage_change", args=[message.pk]),
                timezone.localtime(message.sent_at).strftime("%Y-%m-%d %H:%M"),
                message.message_type or "message",
                _content(message),
                message.consent_action or "—",
                "yes" if message.replied_to_id else "—",
            )
            for message in received[:INBOUND_SHOWN]
        ),
    )
    return format_html(
        "<table class='tidings-contact-inbound'><thead><tr><th>Sent</th><th>Type</th>"
        "<th>Content</th><th>Read as</th><th>Reply to a campaign</th></tr></thead>"
        "<tbody>{}</tbody></table><p>{}Messages are kept {} days.</p>",
        rows,
        f"The latest {INBOUND_SHOWN} are shown. " if len(received) > INBOUND_SHOWN else "",
        retention,
    )
