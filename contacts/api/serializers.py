"""Serializers of the contacts API: explicit input (checked by the services) and output shapes."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from contacts import validation
from contacts.errors import ContactError
from contacts.models import (
    ConsentAction,
    ConsentRecord,
    ConsentScope,
    ConsentSource,
    Contact,
    ContactImport,
    RequiredConsent,
    Segment,
)
from contacts.services import BULK_UPSERT_LIMIT


def no_nul_characters(value: Any) -> None:
    """PostgreSQL stores no NUL character in text or JSON: refuse it anywhere in a value."""
    try:
        validation.refuse_nul(value, field="value")
    except ContactError:
        raise serializers.ValidationError(
            "Null characters are not allowed.", code="null_characters_not_allowed"
        ) from None


@extend_schema_field(
    {
        "oneOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "string", "description": "Tag names separated by commas."},
        ]
    }
)
class TagsInputField(serializers.Field):
    """A list of tag names, or one string of them separated by commas."""

    default_error_messages = {"invalid": "Must be a list of tag names or a comma-separated string."}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str) and not (
            isinstance(data, list) and all(isinstance(item, str) for item in data)
        ):
            self.fail("invalid")
        no_nul_characters(data)
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class ConsentSummarySerializer(serializers.Serializer):
    marketing = serializers.IntegerField(
        source="marketing_consent_id",
        allow_null=True,
        help_text="Id of the opt-in that allows marketing now; null when not allowed.",
    )
    utility = serializers.IntegerField(
        source="utility_consent_id",
        allow_null=True,
        help_text="Id of the opt-in that allows utility and authentication messages now.",
    )


class ContactSerializer(serializers.ModelSerializer):
    tags = serializers.SerializerMethodField()
    consent = ConsentSummarySerializer(source="*", read_only=True)

    class Meta:
        model = Contact
        fields = [
            "id",
            "phone",
            "wa_id",
            "whatsapp_user_id",
            "name",
            "external_id",
            "language",
            "timezone",
            "attributes",
            "tags",
            "consent",
            "last_inbound_at",
            "created_at",
            "updated_at",
            "erased_at",
        ]
        read_only_fields = fields

    def get_tags(self, contact: Contact) -> list[str]:
        return sorted(tag.name for tag in contact.tags.all())


class ContactInputSerializer(serializers.Serializer):
    """Shapes only; the contact services check values (phone, locale, timezone) and uniqueness."""

    phone = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    whatsapp_user_id = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    name = serializers.CharField(required=False, allow_blank=True)
    external_id = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    language = serializers.CharField(required=False, allow_blank=True)
    timezone = serializers.CharField(required=False, allow_blank=True)
    attributes = serializers.DictField(required=False, validators=[no_nul_characters])
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    returning_after_erasure = serializers.BooleanField(
        required=False,
        write_only=True,
        help_text=(
            "Set true to add a number whose contact was erased, when the person asked to be "
            "added again; otherwise such a number is refused."
        ),
    )


class BulkConsentItemSerializer(serializers.Serializer):
    """Shapes only: the service checks the words (``opt_in``, ``yes``, ``withdrawn``)."""

    action = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    scope = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    source = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    evidence = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    captured_at = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    policy_version = serializers.CharField(required=False, allow_blank=True, allow_null=True)


class BulkContactItemSerializer(serializers.Serializer):
    """One item of a bulk upsert: types are checked here (a wrong type is a 400 for the whole
    request); values (phone, locale, timezone, consent rules) per item by the service."""

    phone = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    whatsapp_user_id = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    name = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    external_id = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    language = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    timezone = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    attributes = serializers.DictField(
        required=False, allow_null=True, validators=[no_nul_characters]
    )
    tags = TagsInputField(required=False, allow_null=True)
    consent = BulkConsentItemSerializer(required=False, allow_null=True)


class ConsentInputSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=ConsentAction.choices)
    scope = serializers.ChoiceField(choices=ConsentScope.choices)
    source = serializers.ChoiceField(choices=ConsentSource.choices, default=ConsentSource.API)
    evidence = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Required for opt-ins: the proof (form id, URL, message id).",
    )
    captured_at = serializers.DateTimeField(
        required=False, help_text="When the person gave it; required for opt-ins."
    )
    policy_version = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data["action"] == ConsentAction.OPT_IN and "captured_at" not in data:
            raise serializers.ValidationError(
                {"captured_at": ["An opt-in needs the time the person gave it."]}
            )
        return data


class BulkUpsertInputSerializer(serializers.Serializer):
    contacts = serializers.ListField(
        child=BulkContactItemSerializer(),
        allow_empty=False,
        max_length=BULK_UPSERT_LIMIT,
        help_text=(
            f"Up to {BULK_UPSERT_LIMIT} contacts, each like a contact create body plus an "
            "optional `consent` object. Matched by phone or external_id; given values win, empty "
            "ones change nothing, tags are added."
        ),
    )


class BulkUpsertResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(source="row")
    outcome = serializers.ChoiceField(
        choices=["created", "updated", "unchanged", "merged", "rejected"],
        help_text="`merged`: the same person as a later item, which carries the outcome.",
    )
    contact_id = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()


class BulkUpsertOutputSerializer(serializers.Serializer):
    results = BulkUpsertResultSerializer(many=True)
    counts = serializers.DictField(child=serializers.IntegerField())


class ConsentRecordSerializer(serializers.ModelSerializer):
    recorded_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = ConsentRecord
        fields = [
            "id",
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
        read_only_fields = fields


class AttributeRuleSerializer(serializers.Serializer):
    key = serializers.CharField()
    operator = serializers.ChoiceField(choices=["equals", "contains"])
    value = serializers.JSONField(validators=[no_nul_characters])


class SegmentSerializer(serializers.ModelSerializer):
    tags_any = serializers.ListField(child=serializers.CharField(), required=False)
    tags_all = serializers.ListField(child=serializers.CharField(), required=False)
    languages = serializers.ListField(child=serializers.CharField(), required=False)
    attribute_rules = AttributeRuleSerializer(many=True, required=False)
    required_consent = serializers.ChoiceField(
        choices=RequiredConsent.choices, required=False, allow_blank=True
    )

    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "description",
            "tags_any",
            "tags_all",
            "languages",
            "attribute_rules",
            "created_after",
            "created_before",
            "required_consent",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        # Name uniqueness is the service's rule, reported on the `name` field.
        extra_kwargs = {"name": {"validators": []}}


class SegmentDefinitionSerializer(SegmentSerializer):
    """An audience definition without a name, to count before saving it."""

    class Meta(SegmentSerializer.Meta):
        fields = [
            "tags_any",
            "tags_all",
            "languages",
            "attribute_rules",
            "created_after",
            "created_before",
            "required_consent",
        ]
        read_only_fields: list[str] = []


class SegmentCountSerializer(serializers.Serializer):
    count = serializers.IntegerField()


class ContactImportSerializer(serializers.ModelSerializer):
    uploaded_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = ContactImport
        fields = [
            "id",
            "file_name",
            "status",
            "error",
            "default_region",
            "encoding",
            "ignored_columns",
            "total_rows",
            "processed_rows",
            "created_count",
            "updated_count",
            "unchanged_count",
            "merged_count",
            "rejected_count",
            "uploaded_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ContactImportInputSerializer(serializers.Serializer):
    file = serializers.FileField()
    default_region = serializers.CharField(required=False, max_length=2)
