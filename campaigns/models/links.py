"""Per-message tracking links for URL buttons with a dynamic suffix."""

from __future__ import annotations

from django.db import models


class TrackedLink(models.Model):
    """`/r/<token>` records the click and redirects to `target_url`."""

    token = models.CharField(max_length=32, unique=True)
    message = models.OneToOneField(
        "campaigns.Message", on_delete=models.CASCADE, related_name="tracked_link"
    )
    target_url = models.URLField(max_length=2000)
    first_clicked_at = models.DateTimeField(null=True, blank=True)
    click_count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.token
