"""Admin of the campaigns app: campaigns for marketing staff, the message ledger for everyone.

Every action calls one service; refusals come back as admin messages, never a stack trace.
Launching (schedule, start, resume) needs the separate `launch_campaign` permission so a team
can require a second person to approve a send.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from config.admin_tools import DomainErrorsAsMessages
from contacts.models import Contact
from contacts.selectors import segment_contacts

from . import (
    admin_data_sources,  # noqa: F401 - registers the DataSource admin
    admin_panels,  # noqa: F401 - the campaigns' panels on contact and template pages
    services,
)
from .admin_conversions import results_panel
from .admin_progress import CampaignFigures, campaign_figures
from .audit import COLUMNS as AUDIT_COLUMNS
from .audit import audit_campaign, message_audit_csv_lines, message_audit_queryset
from .dry_run import campaign_dry_run
from .errors import CampaignError
from .models import (
    Campaign,
    CampaignStatus,
    Message,
    MessageStatus,
    MessageStatusEvent,
)
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


class TestSendForm(forms.Form):
    phone = forms.CharField(
        required=False,
        label="Staff phone number",
        help_text="Gets the message personalised for the campaign's first recipient, without a "
        "consent check (needs the permission to launch campaigns).",
    )
    contact = forms.ModelChoiceField(
        queryset=Contact.objects.filter(erased_at__isnull=True),
        required=False,
        widget=forms.NumberInput,
        label="Or a contact (id)",
        help_text="Gets its own personalised message, only with the consent the campaign needs.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not self.errors and bool(cleaned.get("phone")) == bool(cleaned.get("contact")):
            raise forms.ValidationError("Give a staff phone number or a contact, not both.")
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


# Which permission a page action needs.
LAUNCH = "launch"
CHANGE = "change"
VIEW = "view"
ALL_BUT_FINISHED = frozenset(
    {
        CampaignStatus.DRAFT,
        CampaignStatus.SCHEDULED,
        CampaignStatus.RUNNING,
        CampaignStatus.PAUSED,
        CampaignStatus.STOPPED,
    }
)


@dataclass(frozen=True)
class PageAction:
    """A button of the campaign page. `offered_in` only decides whether the button is shown; the
    service decides whether the action is allowed (a refusal comes back as an admin message).
    Actions with a `question` ask for confirmation on a page of their own first."""

    name: str
    label: str
    permission: str
    offered_in: frozenset[str]
    service: Callable[..., Campaign] | None = None
    done: str = ""
    question: str = ""
    consequence: str = ""


PAGE_ACTIONS = {
    action.name: action
    for action in (
        PageAction(
            "dry_run",
            "Dry run",
            VIEW,
            frozenset(
                {
                    CampaignStatus.DRAFT,
                    CampaignStatus.SCHEDULED,
                    CampaignStatus.PAUSED,
                    CampaignStatus.STOPPED,
                }
            ),
        ),
        PageAction("test_send", "Send a test…", CHANGE, ALL_BUT_FINISHED),
        PageAction(
            "schedule",
            "Schedule",
            LAUNCH,
            frozenset({CampaignStatus.DRAFT}),
            services.campaign_schedule,
            done="Scheduled",
            question="Schedule this campaign?",
            consequence="It starts by itself at its scheduled time and sends its message to every "
            "contact of its segment who has the consent it needs.",
        ),
        PageAction(
            "start",
            "Start now",
            LAUNCH,
            frozenset({CampaignStatus.DRAFT, CampaignStatus.SCHEDULED}),
            services.campaign_start,
            done="Started",
            question="Start sending this campaign now?",
            consequence="Its audience is planned now and real WhatsApp messages start going out "
            "at once, to every contact of its segment who has the consent it needs.",
        ),
        PageAction(
            "pause",
            "Pause",
            CHANGE,
            frozenset({CampaignStatus.RUNNING}),
            services.campaign_pause,
            done="Paused",
        ),
        PageAction(
            "resume",
            "Resume",
            LAUNCH,
            frozenset({CampaignStatus.PAUSED, CampaignStatus.STOPPED}),
            services.campaign_resume,
            done="Resumed",
            question="Resume sending this campaign?",
            consequence="Sending continues with the messages still queued; nothing already sent "
            "is sent again.",
        ),
        PageAction(
            "cancel",
            "Cancel campaign",
            CHANGE,
            ALL_BUT_FINISHED,
            services.campaign_cancel,
            done="Cancelled",
            question="Cancel this campaign for good?",
            consequence="Whatever has not gone out yet is skipped and will never be sent; the "
            "campaign cannot be started again. Messages already sent stay in the ledger.",
        ),
        PageAction(
            "retry_failed",
            "Retry failed",
            CHANGE,
            frozenset(
                {
                    CampaignStatus.RUNNING,
                    CampaignStatus.PAUSED,
                    CampaignStatus.COMPLETED,
                    CampaignStatus.STOPPED,
                }
            ),
            services.campaign_retry_failed,
            done="Retrying the failures of",
            question="Send the failed messages again?",
            consequence="Messages that failed for a reason worth retrying (not an opt-out or an "
            "unreachable number) are queued and sent again.",
        ),
    )
}


@admin.register(Campaign)
class CampaignAdmin(DomainErrorsAsMessages, admin.ModelAdmin):
    form = CampaignAdminForm
    list_display = [
        "name",
        "status_badge",
        "template",
        "sender",
        "progress_summary",
        "created_at",
    ]
    list_filter = [
        "status",
        "schedule_type",
        "template__category",
        "lawful_basis",
        "sender",
        ("created_at", admin.DateFieldListFilter),
        ("started_at", admin.DateFieldListFilter),
    ]
    search_fields = ["name", "template__name", "purpose", "segment__name"]
    list_select_related = ["template", "sender", "sender__account"]
    autocomplete_fields = []
    domain_errors = (CampaignError,)
    readonly_fields = [
        "status",
        "status_reason",
        "planned_at",
        "started_at",
        "finished_at",
        "created_by",
        "results_panel",
        "required_consent_scope",
    ]
    actions = [
        "dry_run",
        "test_send",
        "schedule",
        "start",
        "pause",
        "resume",
        "cancel",
        "retry_failed",
    ]
    fieldsets = [
        (None, {"fields": ["name", "status", "status_reason"]}),
        ("Results", {"fields": ["results_panel"]}),
        (
            "Message",
            {
                "fields": [
                    "sender",
                    "template",
                    "default_language",
                    "required_consent_scope",
                    "variable_mapping",
                    "fallback_template",
                    "fallback_variable_mapping",
                    "tracked_links",
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

    def has_delete_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        if obj is not None and obj.status != CampaignStatus.DRAFT:
            return False  # kept for the audit: cancel it instead
        return super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj: Campaign) -> None:
        # A refusal (a test send recorded meanwhile) is shown as a message by the mixin.
        services.campaign_delete(campaign_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        for campaign in queryset:
            try:
                services.campaign_delete(campaign_id=campaign.pk)
            except CampaignError as error:
                messages.error(request, f"{campaign.name}: {error.message}")

    # --- Display ---------------------------------------------------------------------------

    @admin.display(description="status", ordering="status")
    def status_badge(self, campaign: Campaign) -> str:
        return format_html(
            '<span style="background:{};color:#fff;padding:2px 8px;border-radius:9px">{}</span>',
            STATUS_COLOURS.get(campaign.status, "#6b7280"),
            campaign.get_status_display(),
        )

    @admin.display(description="required consent")
    def required_consent_scope(self, campaign: Campaign) -> str:
        if campaign.template_id is None:
            return "—"
        return services.campaign_required_consent_scope(campaign)

    @admin.display(description="progress")
    def progress_summary(self, campaign: Campaign) -> str:
        if campaign.planned_at is None:
            return "—"
        progress = campaign_progress(campaign)
        done = progress.total - progress.pending
        return f"{done:,} / {progress.total:,}"

    @admin.display(description="results")
    def results_panel(self, campaign: Campaign) -> str:
        return results_panel(campaign)

    # --- Actions ---------------------------------------------------------------------------

    def has_launch_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("campaigns.launch_campaign")

    @admin.action(description="Dry run (preview, sends nothing)", permissions=["view"])
    def dry_run(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> HttpResponse | None:
        campaign = queryset.first()
        if campaign is None:
            return None
        return self._dry_run_page(request, campaign)

    @admin.action(description="Send a test…", permissions=["change"])
    def test_send(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> HttpResponse | None:
        campaign = queryset.first()
        if campaign is None:
            return None
        if queryset.count() > 1:
            messages.warning(request, "A test is sent for one campaign at a time.")
            return None
        return HttpResponseRedirect(
            reverse("admin:campaigns_campaign_test_send", args=[campaign.pk])
        )

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
        def wrap(function: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
            return self.admin_site.admin_view(function)

        return [
            path(
                "<int:campaign_id>/dry-run/",
                wrap(self.dry_run_view),
                name="campaigns_campaign_dry_run",
            ),
            path(
                "<int:campaign_id>/test-send/",
                wrap(self.test_send_view),
                name="campaigns_campaign_test_send",
            ),
            path(
                "<int:campaign_id>/progress.json",
                wrap(self.progress_view),
                name="campaigns_campaign_progress",
            ),
            path(
                "<int:campaign_id>/funnel/",
                wrap(self.funnel_view),
                name="campaigns_campaign_funnel",
            ),
            path(
                "<int:campaign_id>/do/<str:action>/",
                wrap(self.page_action_view),
                name="campaigns_campaign_page_action",
            ),
            *super().get_urls(),
        ]

    # --- The campaign page: live progress, funnel, buttons ---------------------------------

    def _may(self, request: HttpRequest, campaign: Campaign, permission: str) -> bool:
        if permission == LAUNCH:
            return self.has_launch_permission(request)
        if permission == CHANGE:
            return self.has_change_permission(request, campaign)
        return self.has_view_permission(request, campaign)

    def page_actions(
        self, request: HttpRequest, campaign: Campaign, figures: CampaignFigures
    ) -> list[dict[str, str]]:
        """The buttons this staff member may use on this campaign in its current state."""
        shown = []
        for action in PAGE_ACTIONS.values():
            if campaign.status not in action.offered_in:
                continue
            if not self._may(request, campaign, action.permission):
                continue
            if action.name == "retry_failed" and not figures.progress.by_status.get(
                MessageStatus.FAILED
            ):
                continue
            if action.name == "dry_run":
                url = reverse("admin:campaigns_campaign_dry_run", args=[campaign.pk])
            elif action.name == "test_send":
                url = reverse("admin:campaigns_campaign_test_send", args=[campaign.pk])
            else:
                url = reverse(
                    "admin:campaigns_campaign_page_action", args=[campaign.pk, action.name]
                )
            method = "post" if action.service and not action.question else "get"
            shown.append({"name": action.name, "label": action.label, "url": url, "method": method})
        return shown

    def _live_context(self, request: HttpRequest, campaign: Campaign) -> dict[str, Any]:
        figures = campaign_figures(campaign)
        return {
            "campaign": campaign,
            "figures": figures,
            "actions": self.page_actions(request, campaign, figures),
            "show_funnel": figures.planned,
            "funnel_url": reverse("admin:campaigns_campaign_funnel", args=[campaign.pk]),
        }

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        campaign = self.get_object(request, unquote(object_id))
        extra = dict(extra_context or {})
        if campaign is not None and self.has_view_permission(request, campaign):
            extra.update(self._live_context(request, campaign))
            extra["live_url"] = reverse("admin:campaigns_campaign_progress", args=[campaign.pk])
        return super().change_view(request, object_id, form_url, extra)

    def _viewable(self, request: HttpRequest, campaign_id: int) -> Campaign:
        campaign = get_object_or_404(
            Campaign.objects.select_related("template", "sender"), pk=campaign_id
        )
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        return campaign

    def progress_view(self, request: HttpRequest, campaign_id: int) -> JsonResponse:
        """What the campaign page polls: the figures, and the live fragment drawn from them
        (`?part=funnel` for the funnel page's)."""
        campaign = self._viewable(request, campaign_id)
        context = self._live_context(request, campaign)
        figures: CampaignFigures = context["figures"]
        part = (
            "admin/campaigns/campaign/_funnel.html"
            if request.GET.get("part") == "funnel"
            else "admin/campaigns/campaign/_live.html"
        )
        progress = figures.progress
        # The admin's views are never cached (admin_view), so every poll reads fresh figures.
        return JsonResponse(
            {
                "campaign": campaign.pk,
                "status": campaign.status,
                "status_label": campaign.get_status_display(),
                "planned": figures.planned,
                "total": progress.total,
                "pending": progress.pending,
                "settled": figures.settled,
                "percent": figures.percent,
                "by_status": progress.by_status,
                "funnel": progress.funnel,
                "failed_by_code": progress.failed_by_code,
                "skipped_by_reason": progress.skipped_by_reason,
                "rate_per_second": progress.rate_per_second,
                "eta_seconds": progress.eta_seconds,
                "poll_seconds": figures.poll_seconds,
                "html": render_to_string(part, context, request=request),
            }
        )

    def funnel_view(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        campaign = self._viewable(request, campaign_id)
        live = reverse("admin:campaigns_campaign_progress", args=[campaign.pk])
        context = {
            **self.admin_site.each_context(request),
            **self._live_context(request, campaign),
            "title": f"Funnel: {campaign.name}",
            "opts": self.model._meta,
            "live_url": f"{live}?part=funnel",
            "change_url": reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
        }
        return TemplateResponse(request, "admin/campaigns/campaign/funnel.html", context)

    def page_action_view(self, request: HttpRequest, campaign_id: int, action: str) -> HttpResponse:
        """A button of the campaign page: confirm first where it sends, then call the service;
        a refusal comes back as an error message on the campaign page."""
        page_action = PAGE_ACTIONS.get(action)
        if page_action is None or page_action.service is None:
            raise Http404("No such campaign action.")
        campaign = self._viewable(request, campaign_id)
        if not self._may(request, campaign, page_action.permission):
            raise PermissionDenied
        change_url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
        confirmed = request.method == "POST" and (
            not page_action.question or request.POST.get("confirm") == "yes"
        )
        if not confirmed:
            return TemplateResponse(
                request,
                "admin/campaigns/campaign/action_confirm.html",
                {
                    **self.admin_site.each_context(request),
                    "title": f"{page_action.label}: {campaign.name}",
                    "opts": self.model._meta,
                    "campaign": campaign,
                    "action": page_action,
                    "facts": self._confirmation_facts(campaign, page_action),
                    "change_url": change_url,
                    "dry_run_url": (
                        reverse("admin:campaigns_campaign_dry_run", args=[campaign.pk])
                        if action in {"start", "schedule"}
                        else ""
                    ),
                },
            )
        try:
            page_action.service(campaign_id=campaign.pk)
        except CampaignError as error:
            self.message_user(request, f"{campaign.name}: {error.message}", messages.ERROR)
            for field, problems in error.field_errors.items():
                self.message_user(
                    request, f"{campaign.name} — {field}: {'; '.join(problems)}", messages.ERROR
                )
        else:
            self.message_user(request, f"{page_action.done} {campaign.name}.", messages.SUCCESS)
        return HttpResponseRedirect(change_url)

    def _confirmation_facts(self, campaign: Campaign, action: PageAction) -> list[str]:
        facts = [f"Sender: {campaign.sender}", f"Template: {campaign.template}"]
        if action.name in {"start", "schedule"}:
            if campaign.segment_id is not None:
                size = segment_contacts(campaign.segment).count()
                scope = services.campaign_required_consent_scope(campaign)
                facts.append(
                    f"Segment {campaign.segment}: {size:,} contacts now; those without "
                    f"{scope} consent are skipped."
                )
            if action.name == "schedule" and campaign.scheduled_at:
                when = timezone.localtime(campaign.scheduled_at)
                facts.append(f"Scheduled for {when:%Y-%m-%d %H:%M %Z}.")
        else:
            progress = campaign_progress(campaign)
            if action.name == "retry_failed":
                failed = progress.by_status.get(MessageStatus.FAILED, 0)
                facts.append(f"{failed:,} messages failed so far.")
            else:
                facts.append(f"{progress.pending:,} messages not sent yet.")
        return facts

    def test_send_view(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        """Confirm, then send the campaign's message to a staff number or a contact."""
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        if not self.has_change_permission(request, campaign):
            raise PermissionDenied
        change_url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
        form = TestSendForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                message = services.campaign_test_send(
                    campaign_id=campaign.pk,
                    phone=form.cleaned_data["phone"] or None,
                    contact=form.cleaned_data["contact"],
                    triggered_by=request.user,
                )
            except CampaignError as error:
                form.add_error(None, error.message)
                for field, problems in error.field_errors.items():
                    for problem in problems:
                        form.add_error(field if field in form.fields else None, problem)
            else:
                message_url = reverse("admin:campaigns_message_change", args=[message.pk])
                level = messages.SUCCESS if message.status == "sent" else messages.ERROR
                outcome = (
                    f"sent ({message.wamid})"
                    if message.status == "sent"
                    else f"{message.status}: {message.error_title or message.reason}"
                )
                self.message_user(
                    request,
                    format_html(
                        'Test message <a href="{}">{}</a> to {}: {}.',
                        message_url,
                        message.pk,
                        message.contact.phone,
                        outcome,
                    ),
                    level,
                )
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Send a test: {campaign.name}",
            "campaign": campaign,
            "form": form,
            "can_launch": self.has_launch_permission(request),
            "required_consent_scope": services.campaign_required_consent_scope(campaign),
            "opts": self.model._meta,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/campaigns/campaign/test_send.html", context)

    def dry_run_view(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        return self._dry_run_page(request, campaign)

    def _dry_run_page(self, request: HttpRequest, campaign: Campaign) -> HttpResponse:
        result = campaign_dry_run(campaign_id=campaign.pk, sample_size=10)
        figures = campaign_figures(campaign)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Dry run: {campaign.name}",
            "campaign": campaign,
            "result": asdict(result),
            "actions": [
                action
                for action in self.page_actions(request, campaign, figures)
                if action["name"] in {"start", "schedule", "test_send"}
            ],
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


class MessageAuditFilterForm(forms.Form):
    """What a compliance export covers: a range of creation days, a campaign, a status."""

    created_from = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Created from"
    )
    created_to = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        label="Created to (inclusive)",
    )
    campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.order_by("-created_at"),
        required=False,
        help_text="Its messages and its test sends.",
    )
    status = forms.ChoiceField(choices=[("", "Any"), *MessageStatus.choices], required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("created_from"), cleaned.get("created_to")
        if start and end and end < start:
            self.add_error("created_to", "The end of the range is before its start.")
        return cleaned


def _start_of_day(day: dt.date | None, *, plus_days: int = 0) -> dt.datetime | None:
    """Midnight of `day` in the current timezone (the staff member's), as an aware instant."""
    if day is None:
        return None
    return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=plus_days), dt.time.min))


def _audit_csv_response(messages: QuerySet[Message]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(message_audit_csv_lines(messages), content_type="text/csv")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="message-audit-{stamp}.csv"'
    return response


class TestSendFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("campaign", "Campaign messages"), ("test", "Test sends"), ("api", "API messages")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Message]) -> QuerySet[Message]:
        if self.value() == "campaign":
            return queryset.filter(campaign__isnull=False)
        if self.value() == "test":
            return queryset.filter(test_of_campaign__isnull=False)
        if self.value() == "api":
            return queryset.filter(campaign__isnull=True, test_of_campaign__isnull=True)
        return queryset


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
        "purpose",
        "lawful_basis",
        "sent_at",
        "delivered_at",
        "read_at",
    ]
    list_filter = [
        "status",
        TestSendFilter,
        "category",
        "pricing_category",
        ("sent_at", admin.DateFieldListFilter),
        "sender",
        "campaign",
    ]
    search_fields = [
        "=wamid",
        "contact__phone",
        "contact__external_id",
        "=idempotency_key",
        "campaign__name",
    ]
    list_select_related = ["campaign", "test_of_campaign", "contact"]
    show_full_result_count = False
    inlines = [MessageStatusEventInline]
    actions = ["export_audit"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["purpose", "lawful_basis", *(field.name for field in Message._meta.fields)]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # Failures by Meta error code link here from the dashboard; a list filter on the code
        # would read every distinct code of the ledger on each page.
        if lookup in {"error_code", "error_code__exact"}:
            return True
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description="purpose")
    def purpose(self, message: Message) -> str:
        campaign = audit_campaign(message)
        return campaign.purpose if campaign and campaign.purpose else "—"

    @admin.display(description="lawful basis")
    def lawful_basis(self, message: Message) -> str:
        campaign = audit_campaign(message)
        return campaign.get_lawful_basis_display() if campaign else "—"

    @admin.action(description="Export message audit (CSV)", permissions=["view"])
    def export_audit(
        self, request: HttpRequest, queryset: QuerySet[Message]
    ) -> StreamingHttpResponse:
        """The selected messages with purpose, lawful basis, consent relied on and history."""
        return _audit_csv_response(message_audit_queryset(base=queryset))

    def get_urls(self) -> list:
        audit = path(
            "audit/",
            self.admin_site.admin_view(self.audit_view),
            name="campaigns_message_audit",
        )
        return [audit, *super().get_urls()]

    def audit_view(self, request: HttpRequest) -> HttpResponse:
        """The message audit as CSV, filtered by creation date range, campaign and status."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = MessageAuditFilterForm(request.GET or None)
        if "download" not in request.GET or not form.is_valid():
            return TemplateResponse(
                request,
                "admin/campaigns/message/audit.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Message audit",
                    "opts": self.model._meta,
                    "form": form if request.GET else MessageAuditFilterForm(),
                    "columns": AUDIT_COLUMNS,
                },
            )
        data = form.cleaned_data
        campaign = data["campaign"]
        return _audit_csv_response(
            message_audit_queryset(
                created_from=_start_of_day(data["created_from"]),
                created_to=_start_of_day(data["created_to"], plus_days=1),
                campaign_id=campaign.pk if campaign else None,
                status=data["status"] or None,
            )
        )
