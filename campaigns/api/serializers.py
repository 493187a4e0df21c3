"""Serializers of the campaigns API: explicit input and output shapes."""

from __future__ import annotations

from rest_framework import serializers

from contacts.models import Contact, Segment
from templates_app.models import MessageTemplate, SenderNumber

from ..models import Campaign, Message
from ..results import message_cost, message_rates, money
from ..services import AUTHORING_FIELDS, campaign_required_consent_scope


class CampaignInputSerializer(serializers.ModelSerializer):
    """The authoring fields; cross-field rules are checked by the services."""

    sender = serializers.PrimaryKeyRelatedField(queryset=SenderNumber.objects.all())
    template = serializers.PrimaryKeyRelatedField(queryset=MessageTemplate.objects.all())
    fallback_template = serializers.PrimaryKeyRelatedField(
        queryset=MessageTemplate.objects.all(), required=False, allow_null=True
    )
    segment = serializers.PrimaryKeyRelatedField(
        queryset=Segment.objects.all(), required=False, allow_null=True
    )
    default_language = serializers.CharField(required=False, allow_blank=True)

    class Meta:
        model = Campaign
        fields = AUTHORING_FIELDS

    def validate_variable_mapping(self, value: object) -> object:
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be an object keyed by template variable.")
        return value

    validate_fallback_variable_mapping = validate_variable_mapping


class CampaignSerializer(serializers.ModelSerializer):
    required_consent_scope = serializers.SerializerMethodField(
        help_text="The consent every recipient needs, from the template's category: marketing "
        "or utility."
    )

    class Meta:
        model = Campaign
        fields = (
            "id",
            *AUTHORING_FIELDS,
            "required_consent_scope",
            "status",
            "status_reason",
            "planned_at",
            "started_at",
            "finished_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_required_consent_scope(self, campaign: Campaign) -> str:
        return campaign_required_consent_scope(campaign)


class ProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    pending = serializers.IntegerField()
    rate_per_second = serializers.FloatField()
    eta_seconds = serializers.FloatField(allow_null=True)
    funnel = serializers.DictField(child=serializers.IntegerField())
    skipped_by_reason = serializers.DictField(child=serializers.IntegerField())
    failed_by_code = serializers.DictField(child=serializers.IntegerField())


class CampaignResultsSerializer(serializers.Serializer):
    conversions = serializers.IntegerField(help_text="Conversions attributed to the campaign.")
    converted_contacts = serializers.IntegerField()
    revenue = serializers.DictField(
        child=serializers.CharField(), help_text="Their value per ISO 4217 currency."
    )
    messages_sent = serializers.IntegerField(help_text="Messages sent, delivered or read.")
    conversion_rate = serializers.FloatField(
        allow_null=True, help_text="Converted contacts per message sent."
    )
    cost = serializers.CharField(help_text="What Meta charged for the campaign's messages.")
    cost_currency = serializers.CharField()
    cost_per_conversion = serializers.CharField(allow_null=True)
    charged_messages = serializers.IntegerField()
    unpriced_messages = serializers.IntegerField(
        help_text="Charged messages whose pricing category has no rate in the rate table."
    )
    attribution_window_hours = serializers.IntegerField()


class CampaignStatsSerializer(ProgressSerializer):
    results = CampaignResultsSerializer()


class DryRunInputSerializer(serializers.Serializer):
    sample_size = serializers.IntegerField(min_value=0, max_value=100, default=10)


class RenderedSampleSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField()
    phone = serializers.CharField()
    language = serializers.CharField()
    template = serializers.CharField()
    variant = serializers.CharField()
    not_before = serializers.DateTimeField(allow_null=True)
    parameters = serializers.DictField(child=serializers.CharField())
    text = serializers.CharField()
    payload = serializers.DictField()


class SkippedSampleSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField()
    reason = serializers.CharField()


class DryRunSerializer(serializers.Serializer):
    definition_errors = serializers.DictField(child=serializers.ListField())
    audience = serializers.IntegerField()
    would_send = serializers.IntegerField()
    excluded = serializers.DictField(child=serializers.IntegerField())
    samples = RenderedSampleSerializer(many=True)
    skipped_samples = SkippedSampleSerializer(many=True)


class TestSendInputSerializer(serializers.Serializer):
    """Where a test goes: a staff phone number (any format, normalised to E.164), or a contact."""

    phone = serializers.CharField(
        required=False,
        help_text="A staff number: gets the first recipient's message without a consent check; "
        "needs the launch permission.",
    )
    contact = serializers.PrimaryKeyRelatedField(
        queryset=Contact.objects.filter(erased_at__isnull=True),
        required=False,
        help_text="A contact: gets its own message, only with the consent the campaign needs.",
    )

    def validate(self, attrs: dict) -> dict:
        if bool(attrs.get("phone")) == ("contact" in attrs):
            raise serializers.ValidationError(
                {"phone": ["Give exactly one of phone (a staff number) or contact."]}
            )
        return attrs


class MessageSerializer(serializers.ModelSerializer):
    cost = serializers.SerializerMethodField(
        help_text="What Meta charges for it, from its pricing category and the rate table: 0 "
        "until delivered and when free; null when the category has no rate."
    )
    cost_currency = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = (
            "id",
            "campaign",
            "test_of_campaign",
            "contact",
            "sender",
            "template",
            "category",
            "parameters",
            "status",
            "reason",
            "error_code",
            "error_title",
            "error_details",
            "attempts",
            "wamid",
            "consent_record",
            "not_before",
            "expires_at",
            "queued_at",
            "sent_at",
            "delivered_at",
            "read_at",
            "failed_at",
            "replied_at",
            "pricing_category",
            "pricing_type",
            "billable",
            "conversation_id",
            "cost",
            "cost_currency",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_cost(self, message: Message) -> str | None:
        cost = message_cost(message)
        return None if cost is None else money(cost, self.get_cost_currency(message))

    def get_cost_currency(self, message: Message) -> str:
        return message_rates()["currency"]


class MessageCreateSerializer(serializers.Serializer):
    """One template message to one contact (by id, phone or external_id)."""

    contact_id = serializers.IntegerField(required=False)
    phone = serializers.CharField(required=False)
    external_id = serializers.CharField(required=False)
    template = serializers.PrimaryKeyRelatedField(
        queryset=MessageTemplate.objects.select_related("account")
    )
    sender = serializers.PrimaryKeyRelatedField(queryset=SenderNumber.objects.all(), required=False)
    parameters = serializers.DictField(
        child=serializers.CharField(allow_blank=False), required=False, default=dict
    )
    valid_for_seconds = serializers.IntegerField(min_value=1, required=False)

    def validate(self, attrs: dict) -> dict:
        given = [key for key in ("contact_id", "phone", "external_id") if attrs.get(key)]
        if len(given) != 1:
            raise serializers.ValidationError(
                {"contact_id": ["Give exactly one of contact_id, phone or external_id."]}
            )
        return attrs
