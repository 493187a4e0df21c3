"""Admin of the subscriptions app: subscriptions with their deliveries, and the delivery log.

Thin over the services. A subscription the failure limit disabled is announced by a warning on
the subscription list and on its page, with the reason; *Enable again* clears it. The signing
secret is shown on its own page, to users who may change subscriptions.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from . import services
from .errors import SubscriptionError
from .event_types import EventType
from .models import Delivery, DeliveryAttempt, Event, Subscription
from .selectors import subscription_secret_details, subscriptions_disabled_automatically

RECENT_DELIVERIES = 20
CHANGE = "subscriptions.change_subscription"


class SubscriptionAdminForm(forms.ModelForm):
    # Checked by the services (scheme, host, public address), with their messages.
    target_url = forms.CharField(
        label="Target URL",
        max_length=2000,
        help_text="Where events are POSTed (http or https).",
        widget=forms.TextInput(attrs={"class": "vURLField", "style": "width: 40em"}),
    )
    event_types = forms.MultipleChoiceField(
        choices=EventType.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Subscription
        fields = ["target_url", "event_types", "description", "active"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "target_url" in cleaned and "event_types" in cleaned:
            try:
                services.subscription_clean_fields(
                    target_url=cleaned["target_url"], event_types=cleaned["event_types"]
                )
            except SubscriptionError as error:
                for field, problems in error.field_errors.items():
                    for problem in problems:
                        self.add_error(field, problem)
        return cleaned


class DisabledAutomaticallyFilter(admin.SimpleListFilter):
    title = "disabled automatically"
    parameter_name = "disabled"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(active=False, disabled_at__isnull=False)
        if self.value() == "no":
            return queryset.exclude(active=False, disabled_at__isnull=False)
        return queryset


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionAdminForm
    list_display = [
        "__str__",
        "target_url",
        "state",
        "types",
        "consecutive_failures",
        "last_delivered_at",
        "last_failed_at",
    ]
    list_filter = ["active", DisabledAutomaticallyFilter, "created_at"]
    search_fields = ["description", "target_url", "public_id"]
    readonly_fields = [
        "public_id",
        "signing_secret",
        "secret_rotated_at",
        "created_by",
        "created_at",
        "updated_at",
        "consecutive_failures",
        "disabled_at",
        "disabled_reason",
        "last_delivered_at",
        "last_failed_at",
        "recent_deliveries",
    ]
    fieldsets = [
        (None, {"fields": ["target_url", "event_types", "description", "active"]}),
        ("Signing", {"fields": ["public_id", "signing_secret", "secret_rotated_at"]}),
        (
            "Health",
            {
                "fields": [
                    "consecutive_failures",
                    "disabled_at",
                    "disabled_reason",
                    "last_delivered_at",
                    "last_failed_at",
                ]
            },
        ),
        ("Deliveries", {"fields": ["recent_deliveries"]}),
        ("History", {"fields": ["created_by", "created_at", "updated_at"]}),
    ]
    actions = ["send_test_event", "enable_again", "rotate_secret"]

    def get_fieldsets(self, request: HttpRequest, obj: Subscription | None = None) -> list:
        if obj is None:
            return [(None, {"fields": ["target_url", "event_types", "description", "active"]})]
        if not self.has_change_permission(request, obj):
            # Read-only roles never see the secret, not even the way to it.
            return [
                (name, {"fields": [f for f in options["fields"] if f != "signing_secret"]})
                for name, options in self.fieldsets
            ]
        return self.fieldsets

    @admin.display(description="state")
    def state(self, subscription: Subscription) -> str:
        if subscription.active:
            return "Active"
        if subscription.disabled_automatically:
            return format_html(
                '<strong style="color:#b91c1c">{}</strong>', "Disabled after failures"
            )
        return "Off"

    @admin.display(description="event types")
    def types(self, subscription: Subscription) -> str:
        return ", ".join(subscription.event_types)

    @admin.display(description="signing secret")
    def signing_secret(self, subscription: Subscription) -> str:
        url = reverse("admin:subscriptions_subscription_secret", args=[subscription.pk])
        return format_html(
            '<a href="{}">Show the signing secret</a> (derived from TIDINGS_SUBSCRIPTION_SIGNING_'
            "KEY and the public id; never stored)",
            url,
        )

    @admin.display(description="recent deliveries")
    def recent_deliveries(self, subscription: Subscription) -> str:
        deliveries = list(
            subscription.deliveries.select_related("event").order_by("-created_at", "-id")[
                :RECENT_DELIVERIES
            ]
        )
        listing = reverse("admin:subscriptions_delivery_changelist")
        everything = format_html(
            '<a href="{}?subscription__id__exact={}">All deliveries of this subscription</a>',
            listing,
            subscription.pk,
        )
        if not deliveries:
            return format_html("None yet. {}", everything)
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
            "<td>{}</td></tr>",
            (
                (
                    reverse("admin:subscriptions_delivery_change", args=[delivery.pk]),
                    delivery.pk,
                    delivery.event.type,
                    delivery.get_state_display(),
                    delivery.attempts,
                    delivery.last_status_code or "—",
                    delivery.last_error or "",
                )
                for delivery in deliveries
            ),
        )
        return format_html(
            "<table><thead><tr><th>delivery</th><th>event</th><th>state</th><th>attempts</th>"
            "<th>last status</th><th>last error</th></tr></thead><tbody>{}</tbody></table>{}",
            rows,
            everything,
        )

    # --- saving through the services ---

    def save_model(
        self, request: HttpRequest, obj: Subscription, form: forms.ModelForm, change: bool
    ) -> None:
        fields = {name: form.cleaned_data[name] for name in services.EDITABLE_FIELDS}
        if change:
            stored = Subscription.objects.get(pk=obj.pk)
            services.subscription_update(subscription=stored, **fields)
        else:
            created = services.subscription_create(created_by=request.user, **fields)
            obj.pk = created.pk
            obj._state.adding = False
        obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: Subscription) -> None:
        services.subscription_delete(subscription_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        for subscription_id in queryset.values_list("pk", flat=True):
            services.subscription_delete(subscription_id=subscription_id)

    # --- warnings about disabled subscriptions ---

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if request.method == "GET":
            for subscription in subscriptions_disabled_automatically()[:10]:
                messages.warning(request, _disabled_warning(subscription))
        return super().changelist_view(request, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if request.method == "GET":
            subscription = Subscription.objects.filter(pk=object_id).first()
            if subscription is not None and subscription.disabled_automatically:
                messages.warning(request, _disabled_warning(subscription))
        return super().change_view(request, object_id, form_url, extra_context)

    # --- actions ---

    @admin.action(description="Send a test event", permissions=["change"])
    def send_test_event(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        for subscription in queryset:
            outcome = services.subscription_send_test(subscription_id=subscription.pk)
            level = messages.SUCCESS if outcome.succeeded else messages.ERROR
            self.message_user(request, f"{subscription}: {outcome.summary}", level)

    @admin.action(description="Enable again (clears the failure count)", permissions=["change"])
    def enable_again(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        for subscription in queryset:
            services.subscription_enable(subscription_id=subscription.pk)
            self.message_user(
                request,
                f"{subscription} is enabled again; its pending deliveries are being attempted.",
                messages.SUCCESS,
            )

    @admin.action(description="Rotate the signing secret", permissions=["change"])
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        hours = settings.TIDINGS_SUBSCRIPTION_SECRET_ROTATION_HOURS
        for subscription in queryset:
            services.subscription_rotate_secret(subscription_id=subscription.pk)
            self.message_user(
                request,
                f"{subscription} has a new public id and signing secret; the previous secret "
                f"also signs for {hours:g} hours. Open the subscription to see the new one.",
                messages.SUCCESS,
            )

    # --- the secret page ---

    def get_urls(self) -> list:
        return [
            path(
                "<int:object_id>/secret/",
                self.admin_site.admin_view(self.secret_view),
                name="subscriptions_subscription_secret",
            ),
            *super().get_urls(),
        ]

    def secret_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        subscription = get_object_or_404(Subscription, pk=object_id)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Signing secret: {subscription}",
            "subscription": subscription,
            "details": subscription_secret_details(subscription),
            "opts": self.model._meta,
            "change_url": reverse("admin:subscriptions_subscription_change", args=[object_id]),
        }
        return TemplateResponse(request, "admin/subscriptions/subscription/secret.html", context)


def _disabled_warning(subscription: Subscription) -> str:
    when = timezone.localtime(subscription.disabled_at).strftime("%Y-%m-%d %H:%M")
    return (
        f"Subscription “{subscription}” was disabled on {when}: {subscription.disabled_reason} "
        "Nothing is delivered to it until it is enabled again."
    )


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = [
        "number",
        "started_at",
        "duration_ms",
        "status_code",
        "succeeded",
        "error",
        "response_excerpt",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "event_type",
        "subscription",
        "state",
        "attempts",
        "last_status_code",
        "last_error",
        "created_at",
        "next_attempt_at",
    ]
    list_filter = ["state", "event__type", "subscription"]
    search_fields = ["subscription__target_url", "subscription__description", "last_error"]
    list_select_related = ["event", "subscription"]
    show_full_result_count = False
    fields = [
        "subscription",
        "event_id_",
        "event_type",
        "state",
        "attempts",
        "created_at",
        "next_attempt_at",
        "last_attempt_at",
        "succeeded_at",
        "last_status_code",
        "last_error",
        "payload",
    ]
    readonly_fields = fields
    inlines = [DeliveryAttemptInline]
    actions = ["deliver_again"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(CHANGE)

    @admin.display(description="event type", ordering="event__type")
    def event_type(self, delivery: Delivery) -> str:
        return delivery.event.type

    @admin.display(description="event id")
    def event_id_(self, delivery: Delivery) -> str:
        return str(delivery.event.event_id)

    @admin.display(description="payload (data)")
    def payload(self, delivery: Delivery) -> str:
        text = json.dumps(delivery.event.data, indent=2, ensure_ascii=False, sort_keys=True)
        return format_html("<pre>{}</pre>", text)

    @admin.action(description="Deliver again", permissions=["redeliver"])
    def deliver_again(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        done = 0
        for delivery in queryset.select_related("event"):
            try:
                services.delivery_redeliver(delivery_id=delivery.pk)
            except SubscriptionError as error:
                self.message_user(
                    request, f"Delivery {delivery.pk}: {error.message}", messages.ERROR
                )
            else:
                done += 1
        if done:
            noun = "delivery" if done == 1 else "deliveries"
            self.message_user(request, f"{done} {noun} will be attempted again.", messages.SUCCESS)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["event_id", "type", "occurred_at", "created_at", "contact_id", "campaign_id"]
    list_filter = ["type", "created_at"]
    search_fields = ["=event_id"]
    show_full_result_count = False
    fields = ["event_id", "type", "occurred_at", "created_at", "contact_id", "campaign_id", "data"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
