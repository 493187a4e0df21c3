"""Conversions integrators report (orders), each attributed to the message that led to it."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from config.models import TimeStampedModel


class Conversion(TimeStampedModel):
    """One order of one contact, reported once (`order_id` is unique, which makes reports
    idempotent), with the campaign message it is attributed to, if any.

    The attribution is decided when the conversion is recorded: the contact's latest campaign
    message sent within TIDINGS_CONVERSION_ATTRIBUTION_HOURS before `occurred_at`. `message` and
    `campaign` are both set or both empty (unattributed).
    """

    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.PROTECT, related_name="conversions"
    )
    order_id = models.CharField(
        max_length=255, unique=True, help_text="Your order's id; one conversion per order."
    )
    value = models.DecimalField(max_digits=18, decimal_places=4)
    currency = models.CharField(max_length=3, help_text="ISO 4217 code of `value`.")
    occurred_at = models.DateTimeField(help_text="When the order was placed.")
    message = models.ForeignKey(
        "campaigns.Message",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="conversions",
        help_text="The campaign message the conversion is attributed to.",
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="conversions",
    )
    attribution_window_hours = models.PositiveIntegerField(
        help_text="The attribution window the conversion was attributed with."
    )
    request_fingerprint = models.CharField(
        max_length=64, help_text="Hash of the reporting request's body, for idempotent replays."
    )
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(value__gte=0), name="%(app_label)s_%(class)s_value_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(message__isnull=True, campaign__isnull=True)
                | models.Q(message__isnull=False, campaign__isnull=False),
                name="%(app_label)s_%(class)s_attributed_to_message_and_campaign",
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "occurred_at"], name="campaigns_conversion_campaign"),
            models.Index(fields=["contact", "occurred_at"], name="campaigns_conversion_contact"),
        ]

    def __str__(self) -> str:
        return f"Order {self.order_id}: {self.value} {self.currency}"
