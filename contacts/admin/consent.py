"""The consent ledger in the admin: add, never change or delete; and the consent audit export."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from config.admin_tools import DomainErrorsAsMessages
from contacts import services
from contacts.admin.forms import ConsentAuditFilterForm, ConsentRecordForm
from contacts.errors import ContactError
from contacts.models import ConsentAction, ConsentRecord
from contacts.selectors import consent_records_for_audit

EXPORT_COLUMNS = [
    "record_id",
    "contact_id",
    "phone",
    "erased_phone_hash",
    "action",
    "scope",
    "source",
    "evidence",
    "captured_at",
    "recorded_at",
    "recorded_by",
    "recorded_via",
    "ip_address",
    "user_agent",
    "policy_version",
    "import_id",
]


@admin.register(ConsentRecord)
class ConsentRecordAdmin(DomainErrorsAsMessages, admin.ModelAdmin):
    form = ConsentRecordForm
    # A race with an erasure since the form was checked comes back as a message.
    domain_errors = (ContactError,)
    list_display = [
        "captured_at",
        "contact",
        "action",
        "scope",
        "source",
        "short_evidence",
        "recorded_at",
        "recorded_by",
    ]
    list_filter = ["action", "scope", "source", "captured_at", "recorded_at"]
    search_fields = ["contact__phone", "contact__external_id", "evidence"]
    list_select_related = ["contact", "recorded_by"]
    autocomplete_fields = ["contact"]
    date_hierarchy = "captured_at"
    show_full_result_count = False
    readonly_fields = [
        "contact",
        "action",
        "scope",
        "source",
        "evidence",
        "captured_at",
        "recorded_at",
        "recorded_by",
        "recorded_via",
        "ip_address",
        "user_agent",
        "policy_version",
        "source_import",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: ConsentRecord | None = None) -> list:
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request: HttpRequest, obj: ConsentRecord | None = None) -> list:
        return self.readonly_fields if obj is not None else ConsentRecordForm.Meta.fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="evidence")
    def short_evidence(self, record: ConsentRecord) -> str:
        return record.evidence if len(record.evidence) <= 60 else record.evidence[:57] + "..."

    def save_form(self, request: HttpRequest, form: ConsentRecordForm, change: bool) -> Any:
        data = form.cleaned_data
        recorder = (
            services.consent_record_opt_in
            if data["action"] == ConsentAction.OPT_IN
            else services.consent_record_opt_out
        )
        return recorder(
            contact=data["contact"],
            scope=data["scope"],
            source=data["source"],
            evidence=data["evidence"],
            captured_at=data["captured_at"],
            policy_version=data["policy_version"],
            recorded_by=request.user,
            recorded_via="admin",
            ip_address=request.META.get("REMOTE_ADDR"),
            user_agent=request.headers.get("user-agent", ""),
        )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Stored by the service in save_form.
        return None

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return None

    def get_urls(self) -> list:
        export = path(
            "export/",
            self.admin_site.admin_view(self.export_view),
            name="contacts_consentrecord_export",
        )
        return [export, *super().get_urls()]

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """The consent audit as CSV, filtered by capture date range, scope, action and source."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = ConsentAuditFilterForm(request.GET or None)
        if "download" not in request.GET or not form.is_valid():
            return TemplateResponse(
                request,
                "admin/contacts/consentrecord/export.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Export consent audit",
                    "opts": self.model._meta,
                    "form": form if request.GET else ConsentAuditFilterForm(),
                },
            )
        data = form.cleaned_data
        records = consent_records_for_audit(
            captured_from=_start_of(data["captured_from"]),
            captured_to=_start_of(data["captured_to"], plus_days=1),
            scope=data["scope"],
            action=data["action"],
            source=data["source"],
        )
        response = StreamingHttpResponse(_csv_lines(records), content_type="text/csv")
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="consent-audit-{stamp}.csv"'
        return response


def _start_of(day: date | None, *, plus_days: int = 0) -> datetime | None:
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day + timedelta(days=plus_days), time.min))


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(records: Any) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for record in records.iterator(chunk_size=2000):
        contact = record.contact
        yield writer.writerow(
            [
                record.pk,
                contact.pk,
                contact.phone or "",
                contact.erased_phone_hash,
                record.action,
                record.scope,
                record.source,
                _safe(record.evidence),
                record.captured_at.isoformat(),
                record.recorded_at.isoformat(),
                record.recorded_by.get_username() if record.recorded_by else "",
                _safe(record.recorded_via),
                record.ip_address or "",
                _safe(record.user_agent),
                _safe(record.policy_version),
                record.source_import_id or "",
            ]
        )


def _safe(value: str) -> str:
    """Keep spreadsheet programs from running a cell as a formula (CSV injection)."""
    return "'" + value if value[:1] in {"=", "+", "-", "@"} else value
