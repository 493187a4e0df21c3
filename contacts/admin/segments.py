"""Segments in the admin, with the live size of each audience."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from contacts import services
from contacts.admin.forms import SegmentForm
from contacts.models import Segment
from contacts.selectors import segment_contacts


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ["name", "required_consent", "updated_at"]
    search_fields = ["name", "description"]
    readonly_fields = ["audience_size", "created_by", "created_at", "updated_at"]

    @admin.display(description="contacts in this segment now")
    def audience_size(self, segment: Segment) -> str:
        if segment.pk is None:
            return "Save to see how many contacts match."
        return f"{segment_contacts(segment).count():,}"

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
