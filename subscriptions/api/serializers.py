"""Serializers of the subscriptions API: explicit input and output shapes."""

from __future__ import annotations

from rest_framework import serializers

from ..event_types import EventType
from ..models import Delivery, DeliveryAttempt, Event, Subscription


class SubscriptionInputSerializer(serializers.Serializer):
    """What an integrator sets; the URL and event types are checked by the services."""

    target_url = serializers.CharField(
        max_length=2000, help_text="Where events are POSTed: an http(s) URL on a public address."
    )
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        allow_empty=False,
        help_text="The event types to receive.",
    )
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)
    active = serializers.BooleanField(
        required=False,
        help_text="On when created unless sent as false; setting it back on enables a disabled "
        "subscription. Left as it is when not sent.",
    )


class SubscriptionSerializer(serializers.ModelSerializer):
    created_by = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="The user who created it (null once deleted)."
    )

    class Meta:
        model = Subscription
        fields = (
            "id",
            "public_id",
            "target_url",
            "event_types",
            "active",
            "description",
            "created_by",
            "created_at",
            "updated_at",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "last_delivered_at",
            "last_failed_at",
            "secret_rotated_at",
        )
        read_only_fields = fields


class EventSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="event_id", read_only=True)

    class Meta:
        model = Event
        fields = ("id", "type", "occurred_at", "created_at", "data")
        read_only_fields = fields


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = (
            "number",
            "started_at",
            "duration_ms",
            "status_code",
            "succeeded",
            "error",
            "response_excerpt",
        )
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    event = EventSerializer(read_only=True)
    attempt_log = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = (
            "id",
            "event",
            "state",
            "attempts",
            "created_at",
            "next_attempt_at",
            "last_attempt_at",
            "succeeded_at",
            "last_status_code",
            "last_error",
            "attempt_log",
        )
        read_only_fields = fields


class SecretSerializer(serializers.Serializer):
    public_id = serializers.CharField()
    secret = serializers.CharField(
        help_text="HMAC-SHA256 key of the X-Tidings-Signature header; keep it on the receiver."
    )
    previous_secret_valid_until = serializers.DateTimeField(
        allow_null=True,
        help_text="After a rotation, the previous secret also signs until then.",
    )


class TestResultSerializer(serializers.Serializer):
    delivery_id = serializers.IntegerField()
    succeeded = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    summary = serializers.CharField()
