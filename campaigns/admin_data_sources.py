"""Admin of personalisation data sources; registered when `campaigns.admin` imports this module.

Saving goes through `data_source_save` (the cross-field rules, and a cache version bump when the
URL or key field changes); deleting is refused while a campaign that can still send maps a
variable to the source. Two actions: fetch one contact's data now, to see what the source answers
(or why it fails), and forget every cached value of the selected sources.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from campaigns.models import DataSource
from campaigns.personalisation import breaker, invalidate
from campaigns.personalisation.data_sources import (
    DataSourceInUse,
    campaigns_using,
    data_source_delete,
    data_source_save,
    data_source_test,
    data_source_validation_errors,
)
from config.admin_tools import DomainErrorsAsMessages
from contacts.models import Contact

EDITABLE_FIELDS = (
    "name",
    "url_template",
    "key_field",
    "auth_header",
    "auth_env_var",
    "timeout_seconds",
    "ttl_seconds",
    "max_concurrency",
    "is_active",
)
SHOWN_DATA_CHARACTERS = 300


class DataSourceForm(forms.ModelForm):
    # Data sources are reached over the internet: a URL typed without a scheme means https.
    url_template = DataSource._meta.get_field("url_template").formfield(assume_scheme="https")

    class Meta:
        model = DataSource
        fields = EDITABLE_FIELDS

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        candidate = DataSource(
            **{
                field: cleaned.get(field, getattr(self.instance, field))
                for field in EDITABLE_FIELDS
            }
        )
        for field, problems in data_source_validation_errors(candidate).items():
            for problem in problems:
                self.add_error(field if field in self.fields else None, problem)
        return cleaned


@admin.register(DataSource)
class DataSourceAdmin(DomainErrorsAsMessages, admin.ModelAdmin):
    form = DataSourceForm
    # Deleting a source a campaign started to use meanwhile, or saving one whose rules another
    # change broke, comes back as a message.
    domain_errors = (DataSourceInUse, ValidationError)
    list_display = (
        "name",
        "url_template",
        "key_field",
        "ttl_seconds",
        "max_concurrency",
        "is_active",
        "circuit_open",
        "cache_version",
    )
    list_filter = ("is_active", "key_field")
    search_fields = ("name", "url_template")
    readonly_fields = ("cache_version", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "is_active", "url_template", "key_field")}),
        (
            "Authentication",
            {
                "fields": ("auth_header", "auth_env_var"),
                "description": (
                    "The secret is never stored: name the environment variable (DATASOURCE_...) "
                    "that holds the header's value on every web and worker machine."
                ),
            },
        ),
        (
            "Performance",
            {"fields": ("timeout_seconds", "ttl_seconds", "max_concurrency", "cache_version")},
        ),
        ("History", {"fields": ("created_at", "updated_at")}),
    )
    actions = ("test_fetch", "forget_cached_values")

    @admin.display(boolean=True, description="circuit open")
    def circuit_open(self, source: DataSource) -> bool:
        return breaker.is_open(source)

    def save_model(self, request: HttpRequest, obj: DataSource, form: Any, change: bool) -> None:
        data_source_save(data_source=obj)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, ...]:
        to_delete, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        for source in objs:
            protected = [
                *protected,
                *(
                    f"Campaign '{name}' maps variables to data source '{source.name}'"
                    for name in campaigns_using(source)
                ),
            ]
        return to_delete, model_count, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: DataSource) -> None:
        data_source_delete(data_source=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[DataSource]) -> None:
        for source in queryset:
            data_source_delete(data_source=source)

    @admin.action(
        permissions=["change"], description="Test: fetch the newest contact's data from the source"
    )
    def test_fetch(self, request: HttpRequest, queryset: QuerySet[DataSource]) -> None:
        for source in queryset:
            contact = _newest_contact_with_key(source)
            if contact is None:
                self.message_user(
                    request, f"{source.name}: no contact has a {source.key_field} to test with."
                )
                continue
            outcome = data_source_test(data_source=source, contact=contact)
            if outcome.data is not None:
                shown = json.dumps(outcome.data, ensure_ascii=False)
                if len(shown) > SHOWN_DATA_CHARACTERS:
                    shown = shown[:SHOWN_DATA_CHARACTERS] + "…"
                self.message_user(
                    request,
                    f"{source.name}: {outcome.url} answered in {outcome.duration_ms:g} ms: {shown}",
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request,
                    f"{source.name}: {outcome.url or contact} failed: {outcome.problem}",
                    messages.ERROR,
                )

    @admin.action(
        permissions=["change"],
        description="Forget all cached values (the next messages fetch fresh data)",
    )
    def forget_cached_values(self, request: HttpRequest, queryset: QuerySet[DataSource]) -> None:
        names = [invalidate(source_name=source.name, keys=None).source for source in queryset]
        self.message_user(
            request,
            f"Cached values forgotten for {len(names)} data source(s): {', '.join(names)}.",
            messages.SUCCESS,
        )


def _newest_contact_with_key(source: DataSource) -> Contact | None:
    contacts = Contact.objects.not_erased().order_by("-created_at", "-id")
    if source.key_field != DataSource.KeyField.ID:
        contacts = contacts.exclude(**{f"{source.key_field}__isnull": True}).exclude(
            **{source.key_field: ""}
        )
    return contacts.first()
