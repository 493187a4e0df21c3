"""The campaigns app's panels on other apps' admin pages (see config.admin_tools): the messages
sent to a contact, on the contact page, and the campaigns that use a template, on its page."""

from __future__ import annotations

from django.db.models import Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from config.admin_tools import register_panel
from contacts.models import Contact
from templates_app.models import MessageTemplate

from .models import Campaign, Message

CONTACT_MESSAGES_SHOWN = 50
TEMPLATE_CAMPAIGNS_SHOWN = 100


def _when(value) -> str:
    """A date/time in the staff member's timezone (the admin activated it), or a dash."""
    if value is None:
        return "—"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def _campaign_link(request: HttpRequest, campaign: Campaign | None, *, test: bool) -> SafeString:
    if campaign is None:
        return format_html("{}", "API message")
    label = f"test of {campaign.name}" if test else campaign.name
    if not request.user.has_perm("campaigns.view_campaign"):
        return format_html("{}", label)
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    return format_html('<a href="{}">{}</a>', url, label)


@register_panel("contacts.contact", title="Messages sent", order=20)
def contact_messages_sent(request: HttpRequest, contact: Contact) -> SafeString | None:
    if not request.user.has_perm("campaigns.view_message"):
        return None
    sent = list(
        Message.objects.filter(contact=contact)
        .select_related("campaign", "test_of_campaign", "template")
        .order_by("-id")[: CONTACT_MESSAGES_SHOWN + 1]
    )
    if not sent:
        return format_html("<p>{}</p>", "No message was sent to this contact.")
    more = len(sent) > CONTACT_MESSAGES_SHOWN
    rows = format_html_join(
        "",
        "<tr data-message='{}'><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                message.pk,
                reverse("admin:campaigns_message_change", args=[message.pk]),
                message.pk,
                _campaign_link(
                    request,
                    message.campaign or message.test_of_campaign,
                    test=message.test_of_campaign_id is not None,
                ),
                f"{message.template.name} ({message.template.language})"
                if message.template
                else "—",
                message.get_status_display()
                + (f" ({message.error_code})" if message.error_code else "")
                + (f": {message.reason}" if message.reason else ""),
                _when(message.queued_at),
                _when(message.sent_at),
                _when(message.delivered_at),
                _when(message.read_at),
                _when(message.replied_at or message.failed_at),
            )
            for message in sent[:CONTACT_MESSAGES_SHOWN]
        ),
    )
    ledger = reverse("admin:campaigns_message_changelist") + f"?contact__id__exact={contact.pk}"
    return format_html(
        "<table class='tidings-contact-messages'><thead><tr><th>Message</th><th>Campaign</th>"
        "<th>Template</th><th>Status</th><th>Queued</th><th>Sent</th><th>Delivered</th>"
        "<th>Read</th><th>Replied / failed</th></tr></thead><tbody>{}</tbody></table>"
        "<p>{}<a href='{}'>All messages to this contact in the ledger</a></p>",
        rows,
        f"The latest {CONTACT_MESSAGES_SHOWN} are shown. " if more else "",
        ledger,
    )


@register_panel("templates_app.messagetemplate", title="Used by campaigns", order=20)
def template_used_by(request: HttpRequest, template: MessageTemplate) -> SafeString | None:
    """Campaigns send a template family (every language variant of one name), as their message
    or as the fallback sent when personalisation data cannot be had."""
    if not request.user.has_perm("campaigns.view_campaign"):
        return None
    family = Q(template__account_id=template.account_id, template__name=template.name)
    fallback = Q(
        fallback_template__account_id=template.account_id, fallback_template__name=template.name
    )
    campaigns = list(
        Campaign.objects.filter(family | fallback)
        .select_related("template", "fallback_template")
        .order_by("-created_at", "-id")[: TEMPLATE_CAMPAIGNS_SHOWN + 1]
    )
    if not campaigns:
        return format_html("<p>{}</p>", "No campaign uses this template.")

    def role(campaign: Campaign) -> str:
        if campaign.template.name == template.name:
            if campaign.template_id == template.pk:
                return "message"
            return f"message (family; default language {campaign.default_language})"
        return "fallback message"

    rows = format_html_join(
        "",
        "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
                campaign.name,
                campaign.get_status_display(),
                role(campaign),
                _when(campaign.created_at),
            )
            for campaign in campaigns[:TEMPLATE_CAMPAIGNS_SHOWN]
        ),
    )
    more = len(campaigns) > TEMPLATE_CAMPAIGNS_SHOWN
    return format_html(
        "<table class='tidings-template-campaigns'><thead><tr><th>Campaign</th><th>Status</th>"
        "<th>Uses it as</th><th>Created</th></tr></thead><tbody>{}</tbody></table>{}",
        rows,
        format_html("<p>The latest {} are shown.</p>", TEMPLATE_CAMPAIGNS_SHOWN) if more else "",
    )
