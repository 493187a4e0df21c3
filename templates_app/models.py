"""Models of the templates app: the WhatsApp Business accounts and sender numbers templates belong to.

Message templates themselves live beside these models; accounts and numbers are here because every
template belongs to a WhatsApp Business Account (WABA) and every campaign sends from one of its numbers.
"""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models

from config.models import TimeStampedModel


class WhatsAppAccount(TimeStampedModel):
    """A WhatsApp Business Account (WABA) as Meta knows it."""

    waba_id = models.CharField("WABA id", max_length=64, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["name"]
        verbose_name = "WhatsApp account"

    def __str__(self) -> str:
        return f"{self.name} ({self.waba_id})"


class SenderNumber(TimeStampedModel):
    """A business phone number messages are sent from (Meta's phone-number id)."""

    class QualityRating(models.TextChoices):
        GREEN = "GREEN", "Green (high)"
        YELLOW = "YELLOW", "Yellow (medium)"
        RED = "RED", "Red (low)"
        UNKNOWN = "UNKNOWN", "Unknown"

    class MessagingLimitTier(models.TextChoices):
        TIER_50 = "TIER_50", "50 users / 24 h"
        TIER_250 = "TIER_250", "250 users / 24 h"
        TIER_2K = "TIER_2K", "2,000 users / 24 h"
        TIER_10K = "TIER_10K", "10,000 users / 24 h"
        TIER_100K = "TIER_100K", "100,000 users / 24 h"
        TIER_UNLIMITED = "TIER_UNLIMITED", "Unlimited"
        TIER_NOT_SET = "TIER_NOT_SET", "Not set"

    account = models.ForeignKey(WhatsAppAccount, on_delete=models.PROTECT, related_name="numbers")
    phone_number_id = models.CharField("phone-number id", max_length=64, unique=True)
    display_phone_number = models.CharField(max_length=32)
    verified_name = models.CharField(max_length=200, blank=True)
    throughput_per_second = models.PositiveIntegerField(
        default=80,
        validators=[MinValueValidator(1)],
        help_text="Meta's per-number cap: 80 msg/s by default, 1,000 after the automatic upgrade.",
    )
    quality_rating = models.CharField(
        max_length=16, choices=QualityRating.choices, default=QualityRating.UNKNOWN
    )
    messaging_limit_tier = models.CharField(
        max_length=16, choices=MessagingLimitTier.choices, default=MessagingLimitTier.TIER_250
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["display_phone_number"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(throughput_per_second__gte=1),
                name="%(app_label)s_%(class)s_throughput_positive",
            )
        ]

    def __str__(self) -> str:
        label = self.verified_name or self.account.name
        return f"{self.display_phone_number} ({label})"
