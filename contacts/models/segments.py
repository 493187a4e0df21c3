"""Segments: saved audience definitions."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from config.models import TimeStampedModel


class RequiredConsent(models.TextChoices):
    NONE = "", "No requirement"
    MARKETING = "marketing", "Marketing consent"
    UTILITY = "utility", "Utility consent"
    ALL = "all", "Marketing and utility consent"


class Segment(TimeStampedModel):
    """An audience definition that compiles to one queryset (`selectors.segment_contacts`).

    Every condition that is set must hold (AND); within `tags_any` and `languages` any value
    matches (OR). `attribute_rules` is a list of ``{"key": ..., "operator": "equals" | "contains",
    "value": ...}``. Erased contacts are never part of a segment. Definitions are checked by
    `services.segment_create` / `segment_update`.
    """

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    tags_any = models.JSONField(
        "has any of these tags", default=list, blank=True, help_text="A list of tag names."
    )
    tags_all = models.JSONField(
        "has all of these tags", default=list, blank=True, help_text="A list of tag names."
    )
    languages = models.JSONField(
        default=list,
        blank=True,
        help_text="Locales such as en_US; a bare language such as 'pt' matches pt, pt_BR, pt_PT.",
    )
    attribute_rules = models.JSONField(
        default=list,
        blank=True,
        help_text='e.g. [{"key": "tier", "operator": "equals", "value": "gold"}]',
    )
    created_after = models.DateTimeField("contact created from", null=True, blank=True)
    created_before = models.DateTimeField("contact created before", null=True, blank=True)
    required_consent = models.CharField(
        max_length=16, choices=RequiredConsent.choices, default=RequiredConsent.NONE, blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(created_after__isnull=True)
                | models.Q(created_before__isnull=True)
                | models.Q(created_after__lt=models.F("created_before")),
                name="%(app_label)s_%(class)s_created_range_ordered",
            ),
            models.CheckConstraint(
                condition=models.Q(required_consent__in=RequiredConsent.values),
                name="%(app_label)s_%(class)s_required_consent_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name
