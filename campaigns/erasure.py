"""Erasing a contact's message contents (GDPR right to erasure), run by `contacts.contact_erase`.

Registered in `CampaignsConfig.ready`. The message ledger keeps its metadata for the audit
(campaign, template, status, timestamps, pricing, the consent relied on); what the person was
sent goes: the rendered parameters, anything of theirs in the idempotency key or Meta's error
details, the personal suffix of tracked links, and data-source values cached for them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.cache import cache
from django.db.models import CharField, F, Value
from django.db.models.functions import Coalesce, Concat, Replace
from django.utils import timezone

from contacts.models import Contact

from .models import DataSource, Message, TrackedLink
from .personalisation.sources import cache_key, key_value_of

ERASED = "[erased]"


def messages_erase_contents_for_contact(contact_id: int) -> None:
    """Clear what the contact's messages said, keep what happened to them."""
    contact = Contact.objects.get(pk=contact_id)
    identifiers = _identifiers(contact)
    messages = Message.objects.filter(contact_id=contact_id)
    _erase_tracked_links(contact_id)
    messages.update(
        parameters={},
        parameters_purged_at=Coalesce(F("parameters_purged_at"), Value(timezone.now())),
    )
    for identifier in identifiers:
        # A caller's idempotency key may embed the number ("order-42-+447911123456"); the row
        # id keeps the key unique after the number is gone.
        messages.filter(idempotency_key__contains=identifier).update(
            idempotency_key=Concat(Value("erased:"), F("id"), output_field=CharField())
        )
        messages.filter(error_details__contains=identifier).update(
            error_details=Replace(F("error_details"), Value(identifier), Value(ERASED))
        )
    _forget_cached_data(contact)


def _identifiers(contact: Contact) -> list[str]:
    """The contact's number as it may be written (E.164 and wa_id), longest first."""
    values = {contact.phone or "", (contact.phone or "").removeprefix("+"), contact.wa_id}
    return sorted((value for value in values if value), key=len, reverse=True)


def _erase_tracked_links(contact_id: int) -> None:
    """Keep the part of each target URL the campaign wrote, drop the personal suffix."""
    links = TrackedLink.objects.filter(message__contact_id=contact_id).select_related(
        "message__campaign"
    )
    for link in links:
        campaign = link.message.campaign
        patterns = campaign.tracked_links.values() if campaign else ()
        link.target_url = _without_personal_part(link.target_url, patterns)
        link.save(update_fields=["target_url"])


def _without_personal_part(target: str, patterns: object) -> str:
    for pattern in patterns:
        if not isinstance(pattern, str) or "{value}" not in pattern:
            continue
        before, after = pattern.split("{value}", 1)
        if target.startswith(before) and target.endswith(after):
            return before + after
    # No pattern explains the URL (the campaign changed since): keep only where it pointed.
    parts = urlsplit(target)
    return f"{parts.scheme}://{parts.netloc}/" if parts.scheme and parts.netloc else ""


def _forget_cached_data(contact: Contact) -> None:
    keys = []
    for source in DataSource.objects.all():
        value = key_value_of(source, contact)
        if value is not None:
            keys.append(cache_key(source, value))
    if keys:
        cache.delete_many(keys)
