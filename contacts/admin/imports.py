"""CSV imports in the admin: upload, watch progress, download the rejected rows."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from contacts import services
from contacts.admin.forms import ContactImportForm
from contacts.csv_files import rejected_rows_csv
from contacts.errors import ContactError
from contacts.models import ContactImport


@admin.register(ContactImport)
class ContactImportAdmin(admin.ModelAdmin):
    list_display = [
        "file_name",
        "status",
        "progress",
        "created_count",
        "updated_count",
        "unchanged_count",
        "merged_count",
        "rejected_count",
        "uploaded_by",
        "created_at",
    ]
    list_filter = ["status", "created_at", "uploaded_by"]
    search_fields = ["file_name", "uploaded_by__username", "=file_sha256"]
    list_select_related = ["uploaded_by"]
    fields = [
        "file_name",
        "status",
        "progress",
        "error",
        "created_count",
        "updated_count",
        "unchanged_count",
        "merged_count",
        "rejected_count",
        "rejected_rows_download",
        "encoding",
        "ignored_columns",
        "default_region",
        "file_size",
        "uploaded_by",
        "created_at",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="progress")
    def progress(self, contact_import: ContactImport) -> str:
        if contact_import.total_rows is None:
            return "reading the file" if contact_import.status == "running" else "-"
        total = contact_import.total_rows
        percent = round(100 * contact_import.processed_rows / total) if total else 100
        return f"{contact_import.processed_rows:,} of {total:,} rows ({percent}%)"

    @admin.display(description="rejected rows")
    def rejected_rows_download(self, contact_import: ContactImport) -> str:
        if not contact_import.rejected_count:
            return "none"
        url = reverse("admin:contacts_contactimport_rejected", args=[contact_import.pk])
        return format_html(
            '<a href="{}">Download {} rejected rows (CSV, with a reason column)</a>',
            url,
            contact_import.rejected_count,
        )

    def get_urls(self) -> list:
        rejected = path(
            "<int:object_id>/rejected.csv",
            self.admin_site.admin_view(self.rejected_rows_view),
            name="contacts_contactimport_rejected",
        )
        return [rejected, *super().get_urls()]

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        initial = {"default_region": settings.TIDINGS_DEFAULT_PHONE_REGION}
        form = ContactImportForm(request.POST or None, request.FILES or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                contact_import = services.contact_import_create(
                    file=upload,
                    file_name=upload.name,
                    uploaded_by=request.user,
                    default_region=form.cleaned_data["default_region"],
                )
            except ContactError as error:
                form.add_error("file" if error.field == "file" else None, error.message)
            else:
                self.message_user(
                    request,
                    f"{contact_import.file_name} is being imported; this page shows its progress.",
                    messages.SUCCESS,
                )
                url = reverse("admin:contacts_contactimport_change", args=[contact_import.pk])
                return HttpResponseRedirect(url)
        return TemplateResponse(
            request,
            "admin/contacts/contactimport/upload.html",
            {
                **self.admin_site.each_context(request),
                "title": "Import contacts from CSV",
                "opts": self.model._meta,
                "form": form,
                "has_view_permission": self.has_view_permission(request),
            },
        )

    def rejected_rows_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """The rejected rows as they were in the file, plus `row` and `reason` columns."""
        if not request.user.has_perm("contacts.view_contactimportrejectedrow"):
            raise PermissionDenied
        contact_import = get_object_or_404(ContactImport, pk=object_id)
        response = StreamingHttpResponse(rejected_rows_csv(contact_import), content_type="text/csv")
        name = contact_import.file_name.rsplit(".", 1)[0]
        response["Content-Disposition"] = f'attachment; filename="{name}-rejected.csv"'
        return response
