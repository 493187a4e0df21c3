"""Input and output serializers of the templates API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from templates_app.models import MessageTemplate, TemplateStatusChange, WhatsAppAccount
from templates_app.rendering import variables
from templates_app.services import template_warnings


class VariableSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="What campaigns map a value to: header.1, body.name...")
    component = serializers.CharField()
    name = serializers.CharField()
    button_index = serializers.IntegerField(allow_null=True)
    media_kind = serializers.CharField(allow_null=True)
    example = serializers.CharField(allow_null=True)


class MessageTemplateSerializer(serializers.ModelSerializer):
    waba_id = serializers.CharField(source="account.waba_id", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    is_sendable = serializers.BooleanField(read_only=True)
    variables = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField(
        help_text="A draft's risks of refusal by Meta that block nothing (`body: ...`); empty "
        "once the template is submitted."
    )

    class Meta:
        model = MessageTemplate
        fields = [
            "id",
            "account",
            "waba_id",
            "name",
            "language",
            "category",
            "parameter_format",
            "components",
            "status",
            "status_display",
            "is_sendable",
            "rejection_reason",
            "quality_score",
            "meta_template_id",
            "last_synced_at",
            "variables",
            "warnings",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_variables(self, template: MessageTemplate) -> list[dict[str, Any]]:
        return VariableSerializer(variables(template), many=True).data

    def get_warnings(self, template: MessageTemplate) -> list[str]:
        return [str(problem) for problem in template_warnings(template)]


class DraftInputSerializer(serializers.Serializer):
    """A new draft. The content rules are checked by the service, per component."""

    account = serializers.PrimaryKeyRelatedField(queryset=WhatsAppAccount.objects.all())
    name = serializers.CharField(max_length=512)
    language = serializers.CharField(max_length=16)
    category = serializers.CharField(max_length=32)
    parameter_format = serializers.CharField(max_length=16, default="POSITIONAL")
    components = serializers.ListField(child=serializers.DictField(), allow_empty=False)


class StatusChangeSerializer(serializers.ModelSerializer):
    changed_by = serializers.CharField(
        source="changed_by.get_username", default=None, allow_null=True
    )

    class Meta:
        model = TemplateStatusChange
        fields = ["from_status", "to_status", "source", "changed_by", "reason", "changed_at"]
        read_only_fields = fields


class PreviewInputSerializer(serializers.Serializer):
    values = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        default=dict,
        help_text="Values by variable key; left out, the template's own examples are used.",
    )
    use_examples = serializers.BooleanField(
        default=True, help_text="Fill variables without a value from the template's examples."
    )


class RenderedButtonSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    type = serializers.CharField()
    text = serializers.CharField()
    url = serializers.CharField(allow_null=True)
    phone_number = serializers.CharField(allow_null=True)


class RenderedTemplateSerializer(serializers.Serializer):
    header = serializers.CharField(allow_null=True)
    header_media_kind = serializers.CharField(allow_null=True)
    header_media = serializers.CharField(allow_null=True)
    body = serializers.CharField()
    footer = serializers.CharField(allow_null=True)
    buttons = RenderedButtonSerializer(many=True)
    text = serializers.CharField(help_text="Header, body and footer as one text.")


class PreviewOutputSerializer(serializers.Serializer):
    values = serializers.DictField(child=serializers.CharField(allow_blank=True))
    rendered = RenderedTemplateSerializer()
    errors = serializers.ListField(
        child=serializers.CharField(), help_text="What would stop Meta accepting a send."
    )
    warnings = serializers.ListField(
        child=serializers.CharField(),
        help_text="A draft's risks of refusal by Meta on submission; they block nothing.",
    )
    is_sendable = serializers.BooleanField()


class AccountSyncSerializer(serializers.Serializer):
    account = serializers.IntegerField(source="account.pk")
    waba_id = serializers.CharField(source="account.waba_id")
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    deleted = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    error = serializers.CharField(allow_null=True)
    notes = serializers.ListField(
        child=serializers.CharField(),
        help_text="What the sync's status changes led to, e.g. campaigns stopped because Meta "
        "paused their template.",
    )


class SyncOutputSerializer(serializers.Serializer):
    accounts = AccountSyncSerializer(many=True)
