"""Admin of conversions (read-only: integrators report them through the API) and the results
panel of the campaign page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from .models import Campaign, Conversion
from .results import campaign_results


class AttributedFilter(admin.SimpleListFilter):
    title = "attribution"
    parameter_name = "attributed"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Attributed to a campaign"), ("no", "Unattributed")]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "yes":
            return queryset.filter(message__isnull=False)
        if self.value() == "no":
            return queryset.filter(message__isnull=True)
        return queryset


@admin.register(Conversion)
class ConversionAdmin(admin.ModelAdmin):
    list_display = [
        "order_id",
        "contact",
        "value",
        "currency",
        "occurred_at",
        "campaign",
        "message",
    ]
    list_filter = [AttributedFilter, "currency", "campaign", "occurred_at"]
    search_fields = ["order_id", "contact__phone", "contact__external_id"]
    list_select_related = ["contact", "campaign"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Conversion._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def results_panel(campaign: Campaign) -> str:
    """Conversions, revenue, cost, cost per conversion and conversion rate, as a small table."""
    if campaign.pk is None:
        return "Not sent yet."
    results = campaign_results(campaign.pk)
    revenue = ", ".join(f"{amount} {currency}" for currency, amount in results.revenue.items())
    per_conversion = (
        f"{results.cost_per_conversion} {results.cost_currency}"
        if results.cost_per_conversion is not None
        else "—"
    )
    rate = f"{results.conversion_rate:.2%}" if results.conversion_rate is not None else "—"
    cost = f"{results.cost} {results.cost_currency}"
    if results.unpriced_messages:
        cost += f" (+{results.unpriced_messages:,} messages without a rate)"
    rows = format_html_join(
        "",
        "<tr><th style='text-align:left;padding-right:1em'>{}</th><td>{}</td></tr>",
        [
            ("Conversions", f"{results.conversions:,}"),
            ("Converted contacts", f"{results.converted_contacts:,}"),
            ("Revenue", revenue or "—"),
            ("Messages sent", f"{results.messages_sent:,}"),
            ("Conversion rate", rate),
            ("Cost", cost),
            ("Cost per conversion", per_conversion),
        ],
    )
    conversions_url = reverse("admin:campaigns_conversion_changelist")
    return format_html(
        '<table class="campaign-results">{}</table><p>Attribution window: {} h. '
        '<a href="{}?campaign__id__exact={}">See the conversions</a></p>',
        rows,
        results.attribution_window_hours,
        conversions_url,
        campaign.pk,
    )
