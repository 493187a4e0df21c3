"""Filters of the contacts list: tag, segment, current consent, phone in any format."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError

from config.api.filters import FilterSet, UtcDateTimeFilter
from contacts.models import ConsentRecord, Contact, ContactImport, Segment
from contacts.phones import InvalidPhoneNumber, normalise_phone
from contacts.selectors import SCOPE_COLUMNS, contacts_with_tag, segment_contacts


class ContactFilter(FilterSet):
    tag = django_filters.CharFilter(method="filter_tag", help_text="Contacts with this tag.")
    segment = django_filters.ModelChoiceFilter(
        queryset=Segment.objects.all(), method="filter_segment", help_text="A segment id."
    )
    consent = django_filters.ChoiceFilter(
        choices=[("marketing", "marketing"), ("utility", "utility")],
        method="filter_consent",
        help_text="Contacts that may receive this kind of message now.",
    )
    phone = django_filters.CharFilter(
        method="filter_phone", help_text="Any format: +44 7911 123456, 07911 123456, a wa_id."
    )
    external_id = django_filters.CharFilter()
    language = django_filters.CharFilter()
    erased = django_filters.BooleanFilter(
        field_name="erased_at", lookup_expr="isnull", exclude=True
    )

    class Meta:
        model = Contact
        fields = ["tag", "segment", "consent", "phone", "external_id", "language", "erased"]

    def filter_tag(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        return contacts_with_tag(queryset, [value])

    def filter_segment(
        self, queryset: QuerySet[Contact], name: str, value: Segment
    ) -> QuerySet[Contact]:
        return queryset.filter(pk__in=segment_contacts(value).values("pk"))

    def filter_consent(
        self, queryset: QuerySet[Contact], name: str, value: str
    ) -> QuerySet[Contact]:
        return queryset.filter(**{f"{SCOPE_COLUMNS[value]}__isnull": False})

    def filter_phone(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        try:
            return queryset.filter(phone=normalise_phone(value))
        except InvalidPhoneNumber as error:
            raise ValidationError({"phone": [f"Phone {error}."]}) from error


class ConsentRecordFilter(FilterSet):
    captured_after = UtcDateTimeFilter(
        field_name="captured_at", lookup_expr="gte", help_text="Given at or after this time."
    )
    captured_before = UtcDateTimeFilter(
        field_name="captured_at", lookup_expr="lt", help_text="Given before this time."
    )

    class Meta:
        model = ConsentRecord
        fields = ["action", "scope", "source", "captured_after", "captured_before"]


class SegmentFilter(FilterSet):
    name = django_filters.CharFilter(
        lookup_expr="icontains", help_text="Segments whose name contains this, ignoring case."
    )

    class Meta:
        model = Segment
        fields = ["name", "required_consent"]


class ContactImportFilter(FilterSet):
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = ContactImport
        fields = ["status", "created_after", "created_before"]
