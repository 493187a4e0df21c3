"""Personalisation data sources: the customer's own REST APIs, cached in Redis."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from config.models import TimeStampedModel


class DataSource(TimeStampedModel):
    """A REST endpoint returning JSON about one contact, e.g. a CRM's customer record.

    The secret for its auth header is never stored: `auth_env_var` names the environment variable
    that holds it, so rotating it is a deployment concern and the database holds nothing secret.
    """

    class KeyField(models.TextChoices):
        EXTERNAL_ID = "external_id", "External id"
        PHONE = "phone", "Phone (E.164)"
        ID = "id", "Tidings contact id"

    name = models.SlugField(
        max_length=64, unique=True, help_text="Used in variable paths: <name>.field.sub_field"
    )
    url_template = models.URLField(
        max_length=500, help_text="e.g. https://crm.example.com/v1/customers/{external_id}"
    )
    key_field = models.CharField(
        max_length=16, choices=KeyField.choices, default=KeyField.EXTERNAL_ID
    )
    auth_header = models.CharField(max_length=64, blank=True, default="Authorization")
    auth_env_var = models.CharField(
        "auth secret environment variable",
        max_length=128,
        blank=True,
        help_text="Name of the environment variable holding the header value.",
    )
    timeout_seconds = models.FloatField(
        default=2.0, validators=[MinValueValidator(0.1), MaxValueValidator(30)]
    )
    ttl_seconds = models.PositiveIntegerField(
        default=3600, validators=[MinValueValidator(1)], help_text="How long a value is cached."
    )
    max_concurrency = models.PositiveIntegerField(default=16, validators=[MinValueValidator(1)])
    cache_version = models.PositiveIntegerField(
        default=1, help_text="Bumped to invalidate every cached value of this source at once."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
