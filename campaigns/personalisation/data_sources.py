"""Writes and checks for data sources, shared by the admin and the API."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import transaction

from campaigns.models import Campaign, CampaignStatus, DataSource
from contacts.models import Contact

from .mapping import DATA_SOURCE
from .sources import CallOutcome, auth_headers, call_source, key_value_of, source_url

# The auth secret is read from the environment of every web and worker process, which also holds
# SECRET_KEY, the WhatsApp token and database passwords. Only variables with this prefix may be
# named, so a data source pointed at the wrong host can leak nothing but a data-source secret.
AUTH_ENV_VAR_PREFIX = "DATASOURCE_"
_AUTH_ENV_VAR = re.compile(rf"^{AUTH_ENV_VAR_PREFIX}[A-Z0-9_]+$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")  # an HTTP token (RFC 9110)
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
FINISHED_STATES = (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED, CampaignStatus.STOPPED)


class DataSourceInUse(Exception):
    def __init__(self, campaigns: list[str]) -> None:
        self.campaigns = campaigns
        super().__init__(
            "This data source is used by campaign(s) that can still send: "
            f"{', '.join(campaigns)}. Change their mapping first, or switch the source off."
        )


def data_source_validation_errors(data_source: DataSource) -> dict[str, list[str]]:
    """The rules a model field cannot express, by field name; empty when all is well."""
    errors: dict[str, list[str]] = {}
    url = data_source.url_template or ""
    placeholder = "{" + str(data_source.key_field) + "}"
    found = _PLACEHOLDER.findall(url)
    if found.count(data_source.key_field) != 1:
        errors.setdefault("url_template", []).append(
            f"The URL must contain {placeholder} exactly once: it is replaced by each contact's "
            f"{data_source.key_field}."
        )
    for other in sorted(set(found) - {data_source.key_field}):
        errors.setdefault("url_template", []).append(
            f"Unknown placeholder {{{other}}}: the only placeholder is {placeholder} (the key "
            "field)."
        )
    if "{" in _PLACEHOLDER.sub("", url) or "}" in _PLACEHOLDER.sub("", url):
        errors.setdefault("url_template", []).append("Unbalanced braces in the URL.")
    if url and not url.lower().startswith(("https://", "http://")):
        errors.setdefault("url_template", []).append("The URL must start with https:// or http://.")

    if data_source.auth_env_var:
        if not _AUTH_ENV_VAR.match(data_source.auth_env_var):
            errors.setdefault("auth_env_var", []).append(
                "Give the name of an environment variable in capitals, digits and underscores, "
                f"starting with {AUTH_ENV_VAR_PREFIX}, e.g. {AUTH_ENV_VAR_PREFIX}CRM_TOKEN "
                "(the name, never the secret itself)."
            )
        if not data_source.auth_header:
            errors.setdefault("auth_header", []).append(
                "Give the header that carries the secret, e.g. Authorization."
            )
    if data_source.auth_header and not _HEADER_NAME.match(data_source.auth_header):
        errors.setdefault("auth_header", []).append(
            f"{data_source.auth_header!r} is not a valid HTTP header name."
        )
    return errors


def data_source_save(*, data_source: DataSource) -> DataSource:
    """Validate and save a new or changed data source.

    A new URL or key field means new data: the cache version is bumped so nothing fetched from the
    old one is used. Otherwise the stored version is kept, so an invalidation that happened while
    the form was open is not undone.
    """
    errors: dict[str, list[str]] = {}
    try:
        data_source.full_clean(exclude=["cache_version"])
    except ValidationError as error:
        errors = error.message_dict
    for field, messages in data_source_validation_errors(data_source).items():
        errors.setdefault(field, []).extend(m for m in messages if m not in errors.get(field, []))
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        if data_source.pk is not None:
            stored = (
                DataSource.objects.select_for_update()
                .filter(pk=data_source.pk)
                .values("url_template", "key_field", "cache_version")
                .first()
            )
            if stored is not None:
                changed = (stored["url_template"], stored["key_field"]) != (
                    data_source.url_template,
                    data_source.key_field,
                )
                data_source.cache_version = stored["cache_version"] + (1 if changed else 0)
        data_source.save()
    return data_source


def campaigns_using(data_source: DataSource) -> list[str]:
    """Names of campaigns that can still send and map a variable to `data_source`."""
    prefix = f"{data_source.name}."
    names = []
    campaigns = Campaign.objects.exclude(status__in=FINISHED_STATES).only(
        "name", "variable_mapping", "fallback_variable_mapping"
    )
    for campaign in campaigns:
        for mapping in (campaign.variable_mapping, campaign.fallback_variable_mapping):
            entries = mapping.values() if isinstance(mapping, dict) else ()
            if any(
                isinstance(entry, dict)
                and entry.get("source") == DATA_SOURCE
                and str(entry.get("path", "")).startswith(prefix)
                for entry in entries
            ):
                names.append(campaign.name)
                break
    return sorted(names)


def data_source_delete(*, data_source: DataSource) -> None:
    """Delete a source no campaign that can still send depends on."""
    using = campaigns_using(data_source)
    if using:
        raise DataSourceInUse(using)
    data_source.delete()


def data_source_test(
    *, data_source: DataSource, key_value: str | None = None, contact: Contact | None = None
) -> CallOutcome:
    """Fetch one contact's data now, bypassing the cache and the circuit breaker, to show an
    operator what the source answers (or why it fails). Nothing is cached or counted."""
    if key_value is None:
        key_value = key_value_of(data_source, contact) if contact is not None else None
    if not key_value:
        return CallOutcome(None, f"the contact has no {data_source.key_field}", None, 0.0, "")
    headers = auth_headers(data_source)
    if headers is None:
        return CallOutcome(
            None,
            f"environment variable {data_source.auth_env_var} is not set",
            None,
            0.0,
            source_url(data_source, key_value),
        )
    return call_source(data_source, key_value, headers=headers)
