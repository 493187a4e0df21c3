"""Admin of the templates app: accounts, sender numbers, templates and their approval status.

The template page shows a preview rendered with the template's example values, its status
history, its other language variants and (a panel of the campaigns app) the campaigns using it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from config.admin_tools import DomainErrorsAsMessages, PanelsMixin

from . import placeholders, services
from .models import (
    MessageTemplate,
    SenderNumber,
    TemplateStatus,
    TemplateStatusChange,
    WhatsAppAccount,
    normalize_language,
)
from .rendering import render, validate_values, variables

# Colours of the status badge: green can send, amber needs attention, red is blocked.
_STATUS_COLOURS = {
    TemplateStatus.APPROVED: "#1e7e34",
    TemplateStatus.PENDING: "#4a6785",
    TemplateStatus.IN_APPEAL: "#4a6785",
    TemplateStatus.DRAFT: "#6c757d",
    TemplateStatus.PAUSED: "#b35c00",
    TemplateStatus.FLAGGED: "#b35c00",
    TemplateStatus.LIMIT_EXCEEDED: "#b35c00",
    TemplateStatus.REJECTED: "#b00020",
    TemplateStatus.DISABLED: "#b00020",
    TemplateStatus.LOCKED: "#b00020",
}
_GREY = "#6c757d"


def _report_sync(modeladmin: admin.ModelAdmin, request: HttpRequest, results: list) -> None:
    for result in results:
        level = messages.ERROR if result.error else messages.SUCCESS
        modeladmin.message_user(request, result.summary(), level=level)
    if not results:
        modeladmin.message_user(request, "There is no WhatsApp account to sync.", messages.WARNING)


class SenderNumberInline(admin.TabularInline):
    model = SenderNumber
    extra = 0
    fields = [
        "phone_number_id",
        "display_phone_number",
        "verified_name",
        "throughput_per_second",
        "quality_rating",
        "messaging_limit_tier",
        "is_active",
    ]


@admin.register(WhatsAppAccount)
class WhatsAppAccountAdmin(admin.ModelAdmin):
    list_display = ["name", "waba_id", "created_at"]
    list_filter = [("created_at", admin.DateFieldListFilter)]
    search_fields = ["name", "waba_id"]
    inlines = [SenderNumberInline]
    actions = ["sync_templates"]

    @admin.action(permissions=["change"], description="Sync templates of the selected accounts")
    def sync_templates(self, request: HttpRequest, queryset: QuerySet[WhatsAppAccount]) -> None:
        results = services.template_sync(accounts=list(queryset.order_by("pk")))
        _report_sync(self, request, results)


@admin.register(SenderNumber)
class SenderNumberAdmin(admin.ModelAdmin):
    list_display = [
        "display_phone_number",
        "account",
        "phone_number_id",
        "throughput_per_second",
        "quality_rating",
        "messaging_limit_tier",
        "is_active",
    ]
    list_filter = ["quality_rating", "messaging_limit_tier", "is_active"]
    list_select_related = ["account"]
    search_fields = ["display_phone_number", "phone_number_id", "verified_name"]


class TemplateStatusChangeInline(admin.TabularInline):
    """The approval history: read-only, it is a ledger."""

    model = TemplateStatusChange
    extra = 0
    can_delete = False
    fields = ["changed_at", "from_status", "to_status", "source", "changed_by", "reason"]
    readonly_fields = fields
    ordering = ["-changed_at", "-id"]
    verbose_name_plural = "status history"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DraftForm(forms.ModelForm):
    """A draft's definition, checked against Meta's rules before it is saved."""

    class Meta:
        model = MessageTemplate
        fields = ["account", "name", "language", "category", "parameter_format", "components"]
        help_texts = {
            "components": (
                'Meta\'s JSON, e.g. [{"type": "BODY", "text": "Hi {{1}}, your order is ready.", '
                '"example": {"body_text": [["Maria"]]}}]. Examples are needed to submit.'
            )
        }

    def clean_language(self) -> str:
        return normalize_language(self.cleaned_data.get("language") or "")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        instance = self.instance
        problems = services.template_definition_problems(
            name=cleaned.get("name", instance.name) or "",
            language=cleaned.get("language", instance.language) or "",
            category=cleaned.get("category") or "",
            parameter_format=cleaned.get("parameter_format") or "",
            components=cleaned.get("components"),
            require_examples=False,
        )
        for problem in problems:
            field = problem.component if problem.component in self.fields else "components"
            message = problem.message if field != "components" else str(problem)
            if field in self.fields:
                self.add_error(field, message)
            else:
                self.add_error(None, message)
        return cleaned


@admin.register(MessageTemplate)
class MessageTemplateAdmin(DomainErrorsAsMessages, PanelsMixin, admin.ModelAdmin):
    form = DraftForm
    # The form checks the rules first; a template submitted meanwhile comes back as a message.
    domain_errors = (services.TemplateError,)
    list_display = [
        "name",
        "language",
        "account",
        "category",
        "status_badge",
        "quality_score",
        "rejection_reason",
        "last_synced_at",
    ]
    list_filter = ["status", "category", "language", "account", "quality_score"]
    list_select_related = ["account"]
    search_fields = ["name", "meta_template_id", "rejection_reason"]
    ordering = ["name", "language"]
    actions = ["submit_to_meta"]
    inlines = [TemplateStatusChangeInline]
    _always_read_only = [
        "status_badge",
        "rejection_reason",
        "quality_score",
        "meta_template_id",
        "last_synced_at",
        "preview",
        "variable_keys",
        "other_languages",
    ]

    # --- Display -----------------------------------------------------------------------------

    @admin.display(description="status", ordering="status")
    def status_badge(self, template: MessageTemplate) -> SafeString:
        colour = _STATUS_COLOURS.get(template.status, _GREY)
        return format_html(
            '<strong style="color:#fff;background:{};padding:2px 6px;border-radius:3px">'
            "{}</strong>",
            colour,
            template.get_status_display(),
        )

    @admin.display(description="preview with example values")
    def preview(self, template: MessageTemplate) -> SafeString:
        if template.pk is None:
            return format_html("<em>{}</em>", "Save the draft to see a preview.")
        values = placeholders.example_values(template.components, template.parameter_format)
        rendered = render(template, values)
        parts = []
        if rendered.header_media_kind:
            parts.append(format_html("<p><em>[{} header]</em></p>", rendered.header_media_kind))
        if rendered.header:
            parts.append(format_html("<p><strong>{}</strong></p>", rendered.header))
        parts.append(format_html('<p style="white-space:pre-wrap">{}</p>', rendered.body))
        if rendered.footer:
            parts.append(
                format_html('<p style="color:#666"><small>{}</small></p>', rendered.footer)
            )
        if rendered.buttons:
            parts.append(
                format_html(
                    "<ul>{}</ul>",
                    format_html_join(
                        "",
                        "<li>[{}] {}{}</li>",
                        (
                            (button.type, button.text, f" → {button.url}" if button.url else "")
                            for button in rendered.buttons
                        ),
                    ),
                )
            )
        if values:
            parts.append(
                format_html(
                    '<p style="color:#666"><small>Example values: {}</small></p>',
                    "; ".join(f"{key} = {value}" for key, value in sorted(values.items())),
                )
            )
        problems = validate_values(template, values)
        if problems:
            parts.append(
                format_html(
                    '<p style="color:#b00020">Missing examples or values:</p><ul>{}</ul>',
                    format_html_join("", "<li>{}</li>", ((problem,) for problem in problems)),
                )
            )
        warnings = services.template_warnings(template)
        if warnings:
            parts.append(
                format_html(
                    '<p style="color:#b35c00">Warnings (these do not stop a submission):</p>'
                    "<ul>{}</ul>",
                    format_html_join("", "<li>{}</li>", ((str(w),) for w in warnings)),
                )
            )
        return format_html(
            '<div style="max-width:40em;border:1px solid #ddd;padding:8px">{}</div>',
            format_html_join("", "{}", ((part,) for part in parts)),
        )

    @admin.display(description="other languages of this template")
    def other_languages(self, template: MessageTemplate) -> SafeString:
        variants = (
            MessageTemplate.objects.filter(account_id=template.account_id, name=template.name)
            .exclude(pk=template.pk)
            .order_by("language")
        )
        links = [
            format_html(
                '<a href="{}">{}</a> ({})',
                reverse("admin:templates_app_messagetemplate_change", args=[variant.pk]),
                variant.language,
                variant.get_status_display(),
            )
            for variant in variants
        ]
        if not links:
            return format_html("{}", "none")
        return format_html_join(", ", "{}", ((link,) for link in links))

    @admin.display(description="variable keys (what campaigns map values to)")
    def variable_keys(self, template: MessageTemplate) -> str:
        return ", ".join(variable.key for variable in variables(template)) or "none"

    # --- Editing: only drafts are edited here; everything else mirrors Meta ----------------------

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["preview", "variable_keys", "other_languages"]
        if obj.status != TemplateStatus.DRAFT:
            return [*self.form._meta.fields, *self._always_read_only]
        return ["account", "name", "language", *self._always_read_only]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return list(self.form._meta.fields)
        return [
            "account",
            "name",
            "language",
            "category",
            "parameter_format",
            "status_badge",
            "rejection_reason",
            "quality_score",
            "meta_template_id",
            "last_synced_at",
            "other_languages",
            "variable_keys",
            "preview",
            "components",
        ]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Submitted templates are deleted on Meta; a sync then marks them DELETED here.
        if obj is not None and obj.status != TemplateStatus.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(
        self, request: HttpRequest, obj: MessageTemplate, form: forms.ModelForm, change: bool
    ) -> None:
        data = form.cleaned_data
        if change:
            saved = services.template_update_draft(
                template=obj,
                category=data["category"],
                components=data["components"],
                parameter_format=data["parameter_format"],
            )
        else:
            saved = services.template_create_draft(
                account=data["account"],
                name=data["name"],
                language=data["language"],
                category=data["category"],
                parameter_format=data["parameter_format"],
                components=data["components"],
                created_by=request.user,
            )
        obj.pk = saved.pk
        obj.refresh_from_db()
        for warning in services.template_warnings(obj):
            self.message_user(request, f"Warning: {warning}", messages.WARNING)

    # --- Actions -----------------------------------------------------------------------------

    @admin.action(permissions=["change"], description="Submit the selected drafts to Meta")
    def submit_to_meta(self, request: HttpRequest, queryset: QuerySet[MessageTemplate]) -> None:
        submitted = 0
        for template in queryset.select_related("account"):
            try:
                services.template_submit(template=template, submitted_by=request.user)
            except services.TemplateError as error:
                self.message_user(request, f"{template}: {error}", level=messages.ERROR)
            else:
                submitted += 1
        if submitted:
            self.message_user(
                request, f"{submitted} template(s) submitted to Meta for review.", messages.SUCCESS
            )

    def get_urls(self) -> list:
        sync = self.admin_site.admin_view(require_POST(self.sync_view))
        return [
            path("sync/", sync, name="templates_app_messagetemplate_sync"),
            *super().get_urls(),
        ]

    def has_sync_permission(self, request: HttpRequest) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    def sync_view(self, request: HttpRequest) -> HttpResponse:
        """Pull every account's templates from Meta now (the button above the list)."""
        if not self.has_sync_permission(request):
            raise PermissionDenied
        _report_sync(self, request, services.template_sync())
        return HttpResponseRedirect(reverse("admin:templates_app_messagetemplate_changelist"))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "has_sync_permission": self.has_sync_permission(request),
        }
        return super().changelist_view(request, extra_context=extra_context)
