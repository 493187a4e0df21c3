"""Per-campaign progress counters, so a progress page never counts a million messages."""

from __future__ import annotations

from django.db import models


class CampaignProgressCount(models.Model):
    """A change to one of a campaign's counters: messages per status, per skip reason, per
    failure code, and the funnel (sent, delivered, read, clicked, replied).

    On PostgreSQL, triggers on the message and tracked-link tables append these rows in the same
    transaction as every change, whichever code made it; a counter is the sum of its rows, which
    the beat folds into one row per counter every few seconds and checks against the messages
    now and then (`campaigns.progress`). Never written by application code otherwise.
    """

    class Kind(models.TextChoices):
        STATUS = "status", "Messages per status"
        REASON = "reason", "Skipped, expired or unknown messages per reason"
        CODE = "code", "Failed messages per Meta error code"
        FUNNEL = "funnel", "Funnel step reached"

    campaign = models.ForeignKey(
        "campaigns.Campaign",
        on_delete=models.CASCADE,
        related_name="progress_counts",
        db_constraint=False,
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    key = models.CharField(max_length=64)
    count = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["campaign", "kind"], name="campaigns_progress_campaign")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}: {self.count:+d}"
