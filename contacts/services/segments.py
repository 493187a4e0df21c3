"""Segment services: save audience definitions once they are checked."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import ProtectedError

from contacts import validation
from contacts.errors import ContactError
from contacts.models import (
    RequiredConsent,
    Segment,
)


def segment_create(*, name: str, created_by: Any = None, **definition: Any) -> Segment:
    """Save an audience definition (see `Segment` for the fields); checked before saving."""
    segment = Segment(created_by=created_by)
    return _segment_save(segment, {"name": name, **definition})


def segment_update(*, segment: Segment, **changes: Any) -> Segment:
    return _segment_save(segment, changes)


def segment_delete(*, segment: Segment) -> None:
    """Delete a segment no campaign targets; campaigns keep their audience (database-protected)."""
    try:
        with transaction.atomic():
            segment.delete()
    except ProtectedError as error:
        raise ContactError(
            "This segment is the audience of a campaign, so it cannot be deleted.",
            code="in_use",
        ) from error


def segment_check_definition(**definition: Any) -> dict[str, Any]:
    """The definition in stored form, or `ContactError` naming the field that is wrong."""
    cleaned: dict[str, Any] = {}
    for name, value in definition.items():
        if name == "name":
            cleaned[name] = validation.optional_text(value, field="name", max_length=200)
            if not cleaned[name]:
                raise ContactError("A segment needs a name.", field="name", code="required")
        elif name == "description":
            cleaned[name] = validation.optional_text(value, field=name, max_length=10_000)
        elif name in {"tags_any", "tags_all"}:
            cleaned[name] = validation.tag_names(list(value or []), field=name)
        elif name == "languages":
            try:
                locales = {validation.language(locale) for locale in value or []}
            except ContactError as error:
                raise ContactError(error.message, field=name) from error
            cleaned[name] = sorted(locales - {""})
        elif name == "attribute_rules":
            cleaned[name] = _attribute_rules(value or [])
        elif name in {"created_after", "created_before"}:
            if value is not None and not isinstance(value, datetime):
                raise ContactError("Must be a date and time.", field=name)
            cleaned[name] = value
        elif name == "required_consent":
            if (value or "") not in RequiredConsent.values:
                choices = ", ".join(choice for choice in RequiredConsent.values if choice)
                raise ContactError(f"Must be one of: {choices}, or empty.", field=name)
            cleaned[name] = value or ""
        else:
            raise TypeError(f"unknown segment field {name!r}")
    _check_created_range(cleaned.get("created_after"), cleaned.get("created_before"))
    return cleaned


def _check_created_range(after: datetime | None, before: datetime | None) -> None:
    if after and before and after >= before:
        raise ContactError("created_after must be before created_before.", field="created_after")


def _attribute_rules(rules: Any) -> list[dict[str, Any]]:
    if not isinstance(rules, list):
        raise ContactError("Must be a list of rules.", field="attribute_rules")
    cleaned = []
    for rule in rules:
        if not isinstance(rule, Mapping) or set(rule) != {"key", "operator", "value"}:
            raise ContactError(
                'Each rule is {"key": ..., "operator": "equals" or "contains", "value": ...}.',
                field="attribute_rules",
            )
        key, operator, value = rule["key"], rule["operator"], rule["value"]
        if not isinstance(key, str) or not key.strip() or len(key) > 100:
            raise ContactError("A rule's key must be an attribute name.", field="attribute_rules")
        if operator not in {"equals", "contains"}:
            raise ContactError("operator must be equals or contains.", field="attribute_rules")
        if not isinstance(value, str | int | float | bool) or (
            isinstance(value, str) and not value
        ):
            raise ContactError("A rule's value must be text or a number.", field="attribute_rules")
        validation.refuse_nul([key, value], field="attribute_rules")
        cleaned.append({"key": key.strip(), "operator": operator, "value": value})
    return cleaned


def _segment_save(segment: Segment, changes: Mapping[str, Any]) -> Segment:
    cleaned = segment_check_definition(**changes)
    for name, value in cleaned.items():
        setattr(segment, name, value)
    _check_created_range(segment.created_after, segment.created_before)
    with transaction.atomic():
        if Segment.objects.filter(name=segment.name).exclude(pk=segment.pk).exists():
            raise ContactError("A segment with this name exists.", field="name", code="unique")
        segment.save()
    return segment
