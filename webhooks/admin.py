"""Admin of the webhooks app: what Meta delivered, what we could not match, what users sent.

Everything here is read-only evidence; the only actions replay stored deliveries and retry kept
statuses, each through one service. The tables grow with traffic, so none counts its full result.
"""

from __future__ import annotations

import contextlib
import json

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from . import (
    admin_panels,  # noqa: F401 - "messages received" on the contact page
    services,
)
from .models import InboundMessage, UnmatchedStatus, WebhookDelivery, WebhookEvent

# The raw body viewer shows at most this much (a delivery may be 3 MB).
BODY_PREVIEW_CHARS = 200_000


class ReadOnlyAdmin(admin.ModelAdmin):
    """A ledger: nothing is added or edited by hand."""

    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return [*self.fields] if self.fields else []


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "received_at",
        "status",
        "size",
        "attempts",
        "processed_at",
        "short_error",
    )
    list_filter = ("status", "from_users", ("received_at", admin.DateFieldListFilter))
    date_hierarchy = "received_at"
    search_fields = ("=sha256", "=id")
    ordering = ("-received_at", "-id")
    fields = (
        "id",
        "status",
        "received_at",
        "from_users",
        "size",
        "sha256",
        "attempts",
        "claimed_at",
        "processed_at",
        "error",
        "summary",
        "raw_body",
    )
    actions = ["replay"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookDelivery]:
        # The list never needs the (up to 3 MB) bodies.
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            queryset = queryset.defer("body")
        return queryset

    @admin.display(description="error")
    def short_error(self, delivery: WebhookDelivery) -> str:
        return delivery.error.splitlines()[0][:120] if delivery.error else ""

    @admin.display(description="raw body")
    def raw_body(self, delivery: WebhookDelivery) -> str:
        text = delivery.body_text
        with contextlib.suppress(ValueError, RecursionError):
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        if len(text) > BODY_PREVIEW_CHARS:
            text = text[:BODY_PREVIEW_CHARS] + f"\n… ({len(text) - BODY_PREVIEW_CHARS} more)"
        return format_html('<pre style="white-space: pre-wrap; max-height: 40em">{}</pre>', text)

    @admin.action(permissions=["change"], description="Replay (process again; idempotent)")
    def replay(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = services.webhook_deliveries_replay(
            delivery_ids=queryset.values_list("pk", flat=True)
        )
        self.message_user(request, f"{count} deliveries queued for processing.", messages.SUCCESS)


@admin.register(UnmatchedStatus)
class UnmatchedStatusAdmin(ReadOnlyAdmin):
    list_display = ("id", "first_seen_at", "state", "status", "wamid", "callback_data", "attempts")
    list_filter = ("state", "status", ("first_seen_at", admin.DateFieldListFilter))
    search_fields = ("=wamid", "=callback_data")
    ordering = ("-first_seen_at", "-id")
    fields = (
        "id",
        "state",
        "status",
        "wamid",
        "callback_data",
        "recipient_id",
        "waba_id",
        "phone_number_id",
        "occurred_at",
        "first_seen_at",
        "attempts",
        "last_attempt_at",
        "applied_at",
        "delivery",
        "payload",
    )
    actions = ["retry_matching"]

    @admin.action(permissions=["change"], description="Try to match and apply again")
    def retry_matching(self, request: HttpRequest, queryset: QuerySet[UnmatchedStatus]) -> None:
        outcome = services.unmatched_statuses_retry(
            unmatched_ids=queryset.values_list("pk", flat=True), include_given_up=True
        )
        self.message_user(
            request,
            f"{outcome.applied} applied, {len(outcome.remaining_ids)} still unmatched.",
            messages.SUCCESS if outcome.applied else messages.WARNING,
        )


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    list_display = ("sent_at", "message_type", "contact", "short_text", "consent_action")
    list_filter = (
        "message_type",
        "consent_action",
        "consent_reply_status",
        ("sent_at", admin.DateFieldListFilter),
    )
    list_select_related = ("contact",)
    search_fields = ("=wamid", "=from_wa_id", "=from_user_id")
    ordering = ("-sent_at", "-id")
    fields = (
        "wamid",
        "contact",
        "sent_at",
        "recorded_at",
        "message_type",
        "text",
        "button_payload",
        "button_text",
        "interactive_type",
        "interactive_id",
        "interactive_title",
        "context_wamid",
        "from_wa_id",
        "from_user_id",
        "phone_number_id",
        "consent_action",
        "consent_reply_status",
        "consent_reply_wamid",
        "consent_reply_error",
        "replied_to",
        "delivery",
    )

    @admin.display(description="text")
    def short_text(self, message: InboundMessage) -> str:
        return (message.text or message.button_text or message.interactive_title)[:80]


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("recorded_at", "kind", "field", "waba_id", "outcome")
    list_filter = ("kind", "field", ("recorded_at", admin.DateFieldListFilter))
    search_fields = ("=waba_id", "=phone_number_id")
    ordering = ("-recorded_at", "-id")
    fields = (
        "kind",
        "field",
        "waba_id",
        "phone_number_id",
        "occurred_at",
        "recorded_at",
        "outcome",
        "delivery",
        "payload",
        "key",
    )
