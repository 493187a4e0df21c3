"""Admin of the campaigns app: campaigns for marketing staff, the message ledger for everyone.

Every action calls one service; refusals come back as admin messages, never a stack trace.
Launching (schedule, start, resume) needs the separate `launch_campaign` permission so a team
can require a second person to approve a send.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from . import (
    admin_data_sources,  # noqa: F401 - registers the DataSource admin
    services,
)
from .dry_run import campaign_dry_run
from .errors import CampaignError
from .models import Campaign, CampaignStatus, Message, MessageStatusEvent
from .selectors import campaign_progress

STATUS_COLOURS = {
    CampaignStatus.DRAFT: "#6b7280",
    CampaignStatus.SCHEDULED: "#2563eb",
    CampaignStatus.RUNNING: "#16a34a",
    CampaignStatus.PAUSED: "#d97706",
    CampaignStatus.COMPLETED: "#0f766e",
    CampaignStatus.CANCELLED: "#6b7280",
    CampaignStatus.STOPPED: "#dc2626",
}


class CampaignAdminForm(forms.ModelForm):
    """Checks the whole definition with the same rules as the API (mapping vs template…)."""

    class Meta:
        model = Campaign
        fields = services.AUTHORING_FIELDS

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        candidate = self.instance
        for name in services.AUTHORING_FIELDS:
            if name in cleaned:
                setattr(candidate, name, cleaned[name])
        if not candidate.default_language and candidate.template_id:
            candidate.default_language = candidate.template.language
            cleaned["default_language"] = candidate.default_language
        for field, problems in services.campaign_validation_errors(candidate).items():
            target = field if field in self.fields else None
            for problem in problems:
                self.add_error(target, problem)
        return cleaned


def _run_transition(
    request: HttpRequest, queryset: QuerySet[Campaign], service: Any, verb: str
) -> None:
    done = 0
    for campaign in queryset:
        try:
            service(campaign_id=campaign.pk)
        except CampaignError as error:
            messages.error(request, f"{campaign.name}: {error.message}")
            for field, problems in error.field_errors.items():
                messages.error(request, f"{campaign.name} — {field}: {'; '.join(problems)}")
        else:
            done += 1
    if done:
        messages.success(request, f"{verb} {done} campaign{'s' if done != 1 else ''}.")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignAdminForm
    list_display = [
        "name",
        "status_badge",
        "template",
        "sender",
        "progress_summary",
        "created_at",
    ]
    list_filter = ["status", "schedule_type", "template__category"]
    search_fields = ["name", "template__name"]
    list_select_related = ["template", "sender", "sender__account"]
    autocomplete_fields = []
    readonly_fields = [
        "status",
        "status_reason",
        "planned_at",
        "started_at",
        "finished_at",
        "created_by",
        "progress_panel",
    ]
    actions = [
        "dry_run",
        "schedule",
        "start",
        "pause",
        "resume",
        "cancel",
        "retry_failed",
    ]
    fieldsets = [
        (None, {"fields": ["name", "status", "status_reason", "progress_panel"]}),
        (
            "Message",
            {
                "fields": [
                    "sender",
                    "template",
                    "default_language",
                    "variable_mapping",
                    "fallback_template",
                    "fallback_variable_mapping",
                ]
            },
        ),
        ("Audience", {"fields": ["segment", "frequency_cap_count", "frequency_cap_window_hours"]}),
        (
            "Schedule",
            {
                "fields": [
                    "schedule_type",
                    "scheduled_at",
                    "local_send_time",
                    "quiet_hours_start",
                    "quiet_hours_end",
                    "valid_until",
                    "throughput_per_second",
                    "unknown_outcome_policy",
                ]
            },
        ),
        (
            "Audit",
            {
                "fields": [
                    "purpose",
                    "lawful_basis",
                    "created_by",
                    "planned_at",
                    "started_at",
                    "finished_at",
                ]
            },
        ),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Campaign | None = None) -> list:
        if obj is not None and obj.status not in services.EDITABLE_STATES:
            return [*services.AUTHORING_FIELDS, *self.readonly_fields]
        return self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        obj.save()

    # --- Display ---------------------------------------------------------------------------

    @admin.display(description="status", ordering="status")
    def status_badge(self, campaign: Campaign) -> str:
        return format_html(
            '<span style="background:{};color:#fff;padding:2px 8px;border-radius:9px">{}</span>',
            STATUS_COLOURS.get(campaign.status, "#6b7280"),
            campaign.get_status_display(),
        )

    @admin.display(description="progress")
    def progress_summary(self, campaign: Campaign) -> str:
        if campaign.planned_at is None:
            return "—"
        progress = campaign_progress(campaign)
        done = progress.total - progress.pending
        return f"{done:,} / {progress.total:,}"

    @admin.display(description="progress")
    def progress_panel(self, campaign: Campaign) -> str:
        if campaign.pk is None or campaign.planned_at is None:
            return "Not planned yet."
        progress = campaign_progress(campaign)
        done = progress.total - progress.pending
        percent = round(100 * done / progress.total) if progress.total else 100
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td style='text-align:right'>{}</td></tr>",
            ((status, f"{count:,}") for status, count in sorted(progress.by_status.items())),
        )
        funnel = " → ".join(f"{step} {count:,}" for step, count in progress.funnel.items())
        eta = (
            f", about {progress.eta_seconds:,.0f} s left"
            if progress.eta_seconds and progress.pending
            else ""
        )
        return format_html(
            '<div style="background:#e5e7eb;width:320px;height:14px;border-radius:7px">'
            '<div style="background:#16a34a;width:{}%;height:14px;border-radius:7px"></div></div>'
            "<p>{} of {} settled ({}%), {:.1f} msg/s{}</p><p>{}</p><table>{}</table>",
            percent,
            f"{done:,}",
            f"{progress.total:,}",
            percent,
            progress.rate_per_second,
            eta,
            funnel,
            rows,
        )

    # --- Actions ---------------------------------------------------------------------------

    def has_launch_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("campaigns.launch_campaign")

    @admin.action(description="Dry run (preview, sends nothing)", permissions=["view"])
    def dry_run(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> HttpResponse | None:
        campaign = queryset.first()
        if campaign is None:
            return None
        return self._dry_run_page(request, campaign)

    @admin.action(description="Schedule", permissions=["launch"])
    def schedule(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        _run_transition(request, queryset, services.campaign_schedule, "Scheduled")

    @admin.action(description="Start now", permissions=["launch"])
    def start(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        _run_transition(request, queryset, services.campaign_start, "Started")

    @admin.action(description="Pause", permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        _run_transition(request, queryset, services.campaign_pause, "Paused")

    @admin.action(description="Resume", permissions=["launch"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        _run_transition(request, queryset, services.campaign_resume, "Resumed")

    @admin.action(description="Cancel", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        _run_transition(request, queryset, services.campaign_cancel, "Cancelled")

    @admin.action(description="Retry retryable failures", permissions=["change"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        _run_transition(request, queryset, services.campaign_retry_failed, "Retrying failures of")

    # --- Dry-run page ----------------------------------------------------------------------

    def get_urls(self) -> list:
        return [
            path(
                "<int:campaign_id>/dry-run/",
                self.admin_site.admin_view(self.dry_run_view),
                name="campaigns_campaign_dry_run",
            ),
            *super().get_urls(),
        ]

    def dry_run_view(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        return self._dry_run_page(request, campaign)

    def _dry_run_page(self, request: HttpRequest, campaign: Campaign) -> HttpResponse:
        result = campaign_dry_run(campaign_id=campaign.pk, sample_size=10)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Dry run: {campaign.name}",
            "campaign": campaign,
            "result": asdict(result),
            "opts": self.model._meta,
            "change_url": reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
        }
        return TemplateResponse(request, "admin/campaigns/campaign/dry_run.html", context)


class MessageStatusEventInline(admin.TabularInline):
    model = MessageStatusEvent
    extra = 0
    can_delete = False
    fields = ["status", "occurred_at", "recorded_at", "error_code", "error_title"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """The outbound ledger: read-only, for support and compliance."""

    list_display = [
        "id",
        "campaign",
        "contact",
        "status",
        "reason",
        "error_code",
        "sent_at",
        "delivered_at",
        "read_at",
    ]
    list_filter = ["status", "category", "pricing_category", "campaign"]
    search_fields = ["wamid", "contact__phone", "idempotency_key"]
    list_select_related = ["campaign", "contact"]
    show_full_result_count = False
    inlines = [MessageStatusEventInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Message._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
