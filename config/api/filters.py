"""The base of every API filter set: date-time filters that PostgreSQL can always compare.

A date-time such as `8907-03-01T23:45:01-22:37` is valid ISO 8601 (and in Python), but
PostgreSQL refuses offsets beyond ±15:59, which would be a 500; so every date-time a filter
receives is converted to UTC first, and one too far out to convert is a 400 naming the filter.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django.db import models
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import FilterSet as RestFrameworkFilterSet


class UtcDateTimeField(IsoDateTimeField):
    def clean(self, value: Any) -> dt.datetime | None:
        cleaned = super().clean(value)
        if cleaned is None:
            return None
        try:
            return cleaned.astimezone(dt.UTC)
        except OverflowError:
            raise ValidationError(
                "Enter a date and time between the years 1 and 9999.", code="overflow"
            ) from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class FilterSet(RestFrameworkFilterSet):
    FILTER_DEFAULTS = {
        **RestFrameworkFilterSet.FILTER_DEFAULTS,
        models.DateTimeField: {"filter_class": UtcDateTimeFilter},
    }
