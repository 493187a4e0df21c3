"""Segments in the admin, with the live size of each audience."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from config.admin_tools import DomainErrorsAsMessages
from contacts import services
from contacts.admin.forms import SegmentForm
from contacts.errors import ContactError
from contacts.models import Segment
from contacts.selectors import segment_contacts


@admin.register(Segment)
class SegmentAdmin(DomainErrorsAsMessages, admin.ModelAdmin):
    form = SegmentForm
    domain_errors = (ContactError,)
    list_display = ["name", "required_consent", "created_by", "updated_at"]
    list_filter = ["required_consent", ("updated_at", admin.DateFieldListFilter), "created_by"]
    search_fields = ["name", "description"]
    readonly_fields = ["audience_size", "created_by", "created_at", "updated_at"]

    @admin.display(description="contacts in this segment now")
    def audience_size(self, segment: Segment) -> str:
        if segment.pk is None:
            return "Use Preview count to see how many contacts match before saving."
        return f"{segment_contacts(segment).count():,}"

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "POST" and "_preview" in request.POST:
            return self._preview(request, object_id, form_url)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _preview(self, request: HttpRequest, object_id: str | None, form_url: str) -> HttpResponse:
        """Count what the submitted definition matches and show the form again, unsaved."""
        obj = self.get_object(request, unquote(object_id)) if object_id else None
        if object_id and obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        allowed = (
            self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        )
        if not allowed:
            raise PermissionDenied
        fieldsets = self.get_fieldsets(request, obj)
        form_class = self.get_form(
            request, obj, change=obj is not None, fields=flatten_fieldsets(fieldsets)
        )
        form = form_class(request.POST, instance=obj)
        if form.is_valid():
            count = segment_contacts(Segment(**form.definition)).count()
            messages.info(
                request, f"{count:,} contacts match this definition now. Nothing was saved yet."
            )
        admin_form = helpers.AdminForm(
            form,
            list(fieldsets),
            self.get_prepopulated_fields(request, obj),
            self.get_readonly_fields(request, obj),
            model_admin=self,
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"{'Change' if obj else 'Add'} {self.opts.verbose_name}",
            "subtitle": str(obj) if obj else None,
            "adminform": admin_form,
            "object_id": object_id,
            "original": obj,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
        }
        return self.render_change_form(
            request, context, add=obj is None, change=obj is not None, obj=obj, form_url=form_url
        )

    def save_model(
        self, request: HttpRequest, obj: Segment, form: SegmentForm, change: bool
    ) -> None:
        definition: dict[str, Any] = form.definition
        if change:
            services.segment_update(segment=obj, **definition)
        else:
            saved = services.segment_create(created_by=request.user, **definition)
            obj.pk = saved.pk
            obj._state.adding = False
