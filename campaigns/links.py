"""Per-message tracking links for URL buttons: `/r/<token>` counts the click, then redirects."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Message, TrackedLink

TOKEN_BYTES = 12


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def attach_tracked_links(
    tracked: Mapping[str, str], prepared: Sequence[tuple[Message, object, dict]]
) -> None:
    """Swap each tracked button value for the message's token, keeping the real target.

    A message keeps its token across retries (one link per message), so a resend never strands
    a click on a token that was not the one delivered.
    """
    if not tracked or not prepared:
        return
    existing = dict(
        TrackedLink.objects.filter(message_id__in=[m.id for m, _, _ in prepared]).values_list(
            "message_id", "token"
        )
    )
    new_links = []
    for message, _template, values in prepared:
        for key, pattern in tracked.items():
            if key not in values:
                continue
            target = pattern.replace("{value}", quote(str(values[key]), safe=""))
            token = existing.get(message.id)
            if token is None:
                token = new_token()
                existing[message.id] = token
                new_links.append(TrackedLink(message=message, token=token, target_url=target))
            values[key] = token
            break  # one tracked link per message
    TrackedLink.objects.bulk_create(new_links, ignore_conflicts=True)


def tracked_link_click(*, token: str) -> str | None:
    """Count a click (first time and total); returns where to send the person, or None."""
    updated = TrackedLink.objects.filter(token=token).update(
        click_count=F("click_count") + 1,
        first_clicked_at=Coalesce(F("first_clicked_at"), timezone.now()),
    )
    if not updated:
        return None
    return TrackedLink.objects.filter(token=token).values_list("target_url", flat=True).first()
